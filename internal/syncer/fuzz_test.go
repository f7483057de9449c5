package syncer_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
	"github.com/idsync/idsync/internal/syncer"
)

// fuzzEnv is one database the fuzz test applies to.
type fuzzEnv struct {
	st  *store.Store
	sy  *syncer.Syncer
	dir *syncer.SnapshotReader
	src int64
}

func newFuzzEnv(tb testing.TB, dialect string) *fuzzEnv {
	ctx := model.WithActor(context.Background(), "alice")
	st := storetest.Open(tb, dialect)
	def := model.DefaultSource(model.SourceOpenLDAP)
	src := &def
	src.Name, src.URLs, src.UserBaseDN, src.BindDN, src.BindPassword = "fuzz", []string{"ldap://127.0.0.1:1"}, "dc=example,dc=org", "cn=admin,dc=example,dc=org", "pw"
	storetest.Must(tb, st.CreateSource(ctx, src))
	set, err := st.GetSettings(ctx)
	storetest.Must(tb, err)
	set.ProvisioningEnabled = true
	storetest.Must(tb, st.UpdateSettings(ctx, set))
	storetest.Must(tb, st.CreateProvisioningMapping(ctx, &model.ProvisioningMapping{SourceID: src.ID, GroupDN: "cn=all,dc=example,dc=org",
		AccountType: model.AccountDeviceEnabled, Priority: 1}))
	sg := &model.ServiceGroup{Name: "Mapped"}
	storetest.Must(tb, st.CreateServiceGroup(ctx, sg))
	storetest.Must(tb, st.CreateGroupMapping(ctx, &model.GroupMapping{SourceID: src.ID, GroupDN: "cn=all,dc=example,dc=org", ServiceGroupID: sg.ID, Priority: 1}))
	storetest.Must(tb, st.CreateProfile(ctx, &model.Profile{Name: "Berlin", Rules: []model.Rule{{Attribute: model.AttrLocation, Value: "Berlin"}}, SyncEnabled: true}))
	e := &fuzzEnv{st: st, dir: &syncer.SnapshotReader{}, src: src.ID}
	e.sy = syncer.New(st, nil, slog.New(slog.DiscardHandler))
	return e
}

// FuzzApplyText drives any text a directory could answer with through
// the whole apply path — cleaning, planning, the batch transaction with
// its audit summaries and run items — on SQLite and PostgreSQL. Every run
// must succeed, store only valid UTF-8 within the limits, and leave
// nothing for the next run to do (issue 15 item 3).
func FuzzApplyText(f *testing.F) {
	f.Add("alice", "Alice Example", "alice@example.org", "Berlin", "Sales")
	f.Add("b\xffob", "Bob \x00Null", "bob@example.org", "M\xc3nchen", "R&D")
	f.Add(strings.Repeat("é", 300), strings.Repeat("日本", 400), "x@example.org", strings.Repeat("€", 700), strings.Repeat("🙂", 600))
	envs := map[string]*fuzzEnv{}
	for _, d := range storetest.Dialects() {
		envs[d] = newFuzzEnv(f, d)
	}
	f.Fuzz(func(t *testing.T, name, display, email, loc, unit string) {
		for d, e := range envs {
			users := []model.DirUser{
				{ExternalID: "a", DN: "uid=a,dc=example,dc=org", Username: "a-" + name, Email: email, DisplayName: display,
					Attributes: model.Attributes{model.AttrLocation: loc, model.AttrCorporateUnit: unit, model.AttrCostCenter: display, model.AttrDepartment: name}},
				{ExternalID: "b", DN: "uid=b,dc=example,dc=org", Username: "b-" + display, Email: name, DisplayName: unit + loc,
					Attributes: model.Attributes{model.AttrLocation: unit, model.AttrCorporateUnit: loc, model.AttrTitle: strings.Repeat(display, 3)}},
			}
			e.dir.Snap = &model.Snapshot{SourceID: e.src, Complete: true, Users: users,
				Groups: []model.DirGroup{{DN: "cn=all,dc=example,dc=org", Name: "all", Users: []string{"a", "b"}}}}
			e.sy.SetReader(*e.dir)
			ctx := model.WithActor(context.Background(), "alice")
			run, err := e.sy.RunOnce(ctx, e.src, model.TriggerAdmin)
			if err != nil || run.Status != model.RunSucceeded {
				t.Fatalf("%s: run: %v (%+v)", d, err, run)
			}
			checkStoredText(t, d, e.st)
			again, err := e.sy.Preview(ctx, e.src, model.TriggerAdmin)
			if err != nil {
				t.Fatalf("%s: preview after the run: %v", d, err)
			}
			if n := again.Counts["actions"]; n != 0 {
				items, _, _ := e.st.ListRunItems(ctx, again.ID, model.RunItemFilter{Performed: "yes"})
				t.Fatalf("%s: the run after plans %d actions: %+v", d, n, items)
			}
		}
	})
}

// checkStoredText reads back every text sync wrote and checks it is valid
// UTF-8 within its limit.
func checkStoredText(t *testing.T, d string, st *store.Store) {
	t.Helper()
	for q, limit := range map[string]int{
		"SELECT summary FROM audit_log":                          2000 + len("…"),
		"SELECT username FROM users":                             255 * 4,
		"SELECT display_name FROM users":                         255 * 4,
		"SELECT value FROM user_attribute_values":                255 * 4,
		"SELECT old_value || new_value || reason FROM run_items": 3 * 2000,
	} {
		var vals []string
		if err := st.DB().Raw(q).Scan(&vals).Error; err != nil {
			t.Fatalf("%s: %s: %v", d, q, err)
		}
		for _, v := range vals {
			if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 || len(v) > limit {
				t.Fatalf("%s: %s: stored %d bytes, valid %t: %q", d, q, len(v), utf8.ValidString(v), v)
			}
		}
	}
}
