package store_test

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
	"github.com/idsync/idsync/migrations"
)

// Migration 00010 rewrites the two disabled-flag attribute names of old
// sources into expressions: pwdAccountLockedTime → a permanent lock only,
// AD's userAccountControl → bit 2 or an expiry in the past. Other values
// and other kinds stay.
func TestMigrationDisabledExpression(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := model.WithActor(ctxT(), "admin1")
		mk := func(name string, kind model.SourceKind, disabled string) int64 {
			src := model.DefaultSource(kind)
			src.Name, src.URLs, src.UserBaseDN = name, []string{"ldap://127.0.0.1:1"}, "dc=x"
			src.Attributes.Disabled = disabled
			if err := st.CreateSource(ctx, &src); err != nil {
				t.Fatal(err)
			}
			return src.ID
		}
		ppolicy := mk("ppolicy", model.SourceOpenLDAP, "pwdAccountLockedTime")
		ad := mk("ad", model.SourceActiveDirectory, "userAccountControl")
		other := mk("other", model.SourceOpenLDAP, "userAccountControl")
		custom := mk("custom", model.SourceOpenLDAP, "employeeType=inactive")

		dir, efs := "sqlite", fs.FS(migrations.SQLite)
		if st.Dialect() == store.DialectPostgres {
			dir, efs = "postgres", migrations.Postgres
		}
		b, err := fs.ReadFile(efs, dir+"/00010_disabled_expression.sql")
		if err != nil {
			t.Fatal(err)
		}
		up, _, _ := strings.Cut(strings.SplitN(string(b), "-- +goose Up", 2)[1], "-- +goose Down")
		db, err := st.SQL()
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range strings.Split(up, ";") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		for id, want := range map[int64]string{ppolicy: "locked(pwdAccountLockedTime)", ad: model.DefaultADDisabled, other: "userAccountControl", custom: "employeeType=inactive"} {
			got, err := st.GetSource(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got.Attributes.Disabled != want {
				t.Errorf("source %s: disabled %q, want %q", got.Name, got.Attributes.Disabled, want)
			}
		}
	})
}

// A disabled flag that does not parse is refused by the store (the API
// and the console alike), with the field named.
func TestSourceDisabledFlagValidated(t *testing.T) {
	st := storetest.Open(t, store.DialectSQLite)
	src := model.DefaultSource(model.SourceOpenLDAP)
	src.Name, src.URLs, src.UserBaseDN = "x", []string{"ldap://127.0.0.1:1"}, "dc=x"
	src.Attributes.Disabled = "locked(pwdAccountLockedTime, soon)"
	err := st.CreateSource(model.WithActor(ctxT(), "admin1"), &src)
	if model.ErrorCode(err) != model.EINVALID || !strings.Contains(model.ErrorFields(err)["attributes.disabled"], "duration") {
		t.Fatalf("err = %v", err)
	}
	if list, _ := st.ListSources(ctxT()); len(list) != 0 {
		t.Errorf("%d sources stored", len(list))
	}
}
