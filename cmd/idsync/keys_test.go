package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/secret"
	"github.com/idsync/idsync/internal/store"
)

func readKey(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// openWith opens the test database with key, without migrating.
func openWith(t *testing.T, dsn string, key []byte) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dsn, store.Options{SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestRotateSecretKey(t *testing.T) {
	m, _, _ := newTestMain(t, nil)
	ctx := model.WithActor(t.Context(), "test")
	if err := m.Run(ctx, []string{"migrate"}); err != nil {
		t.Fatal(err)
	}
	keyFile, dsn := m.Config.SecretKeyFile, m.Config.DatabaseURL
	m.Close()
	oldKey := readKey(t, keyFile)

	st := openWith(t, dsn, oldKey)
	src := model.DefaultSource(model.SourceOpenLDAP)
	src.Name, src.URLs, src.BindDN, src.BindPassword = "corp", []string{"ldap://127.0.0.1:1"}, "cn=sync,dc=example,dc=org", "bind-secret-1"
	src.UserBaseDN, src.GroupBaseDN = "ou=people,dc=example,dc=org", "ou=groups,dc=example,dc=org"
	if err := st.CreateSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	p := &model.Product{Name: "Portal", Kind: model.ProductSCIM, BaseURL: "http://127.0.0.1:1/scim/v2", Secret: "token-1",
		AllUsers: true, Enabled: true, MaxConcurrency: 1, AttributeMap: map[string]string{}}
	if err := st.CreateProduct(ctx, p); err != nil {
		t.Fatal(err)
	}
	cols, err := st.SealedColumns(ctx)
	if err != nil || len(cols) < 2 {
		t.Fatalf("sealed columns %v (%v), want at least sources and products", cols, err)
	}

	t.Run("a value the current key cannot open: nothing changes", func(t *testing.T) {
		other, _ := secret.NewKey()
		ob, _ := secret.NewBox(other)
		foreign, _ := ob.Seal("sealed elsewhere")
		p2 := &model.Product{Name: "Stray", Kind: model.ProductWebhook, BaseURL: "http://127.0.0.1:2/hook", Secret: "x",
			AllUsers: true, MaxConcurrency: 1, AttributeMap: map[string]string{}}
		if err := st.CreateProduct(ctx, p2); err != nil {
			t.Fatal(err)
		}
		if err := st.DB().Exec("UPDATE products SET secret_sealed = ? WHERE id = ?", foreign, p2.ID).Error; err != nil {
			t.Fatal(err)
		}
		mr, _, _ := newTestMain(t, nil)
		mr.Env = m.Env
		err := mr.Run(ctx, []string{"rotate-secret-key"})
		mr.Close()
		if err == nil || !strings.Contains(err.Error(), "nothing was changed") {
			t.Fatalf("rotation over a foreign value: %v, want a refusal saying nothing changed", err)
		}
		if got := readKey(t, keyFile); !bytes.Equal(got, oldKey) {
			t.Fatal("the key file changed although the rotation failed")
		}
		if _, err := os.Stat(keyFile + ".new"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s.new left behind: %v", keyFile, err)
		}
		if got, err := st.GetSource(ctx, src.ID); err != nil || got.BindPassword != "bind-secret-1" {
			t.Fatalf("source after the failed rotation: %v", err)
		}
		if err := st.DeleteProduct(ctx, p2.ID); err != nil {
			t.Fatal(err)
		}
	})

	mr, out, _ := newTestMain(t, nil)
	mr.Env = m.Env
	if err := mr.Run(ctx, []string{"rotate-secret-key"}); err != nil {
		t.Fatalf("rotate-secret-key: %v", err)
	}
	mr.Close()
	if !strings.Contains(out.String(), "Re-sealed 2 stored secrets") {
		t.Errorf("output %q, want the count of re-sealed secrets", out.String())
	}
	newKey := readKey(t, keyFile)
	if bytes.Equal(newKey, oldKey) {
		t.Fatal("the key file still holds the old key")
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("new key file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	fresh := openWith(t, dsn, newKey)
	if got, err := fresh.GetSource(ctx, src.ID); err != nil || got.BindPassword != "bind-secret-1" {
		t.Errorf("source with the new key: %v", err)
	}
	if got, err := fresh.GetProduct(ctx, p.ID); err != nil || got.Secret != "token-1" {
		t.Errorf("product with the new key: %v", err)
	}
	stale := openWith(t, dsn, oldKey)
	if _, err := stale.GetSource(ctx, src.ID); err == nil {
		t.Error("the old key still opens the source's password")
	}
	entries, _, err := fresh.ListAudit(ctx, model.ListQuery{PerPage: 5})
	if err != nil || !strings.Contains(entries[0].Action, "rotate_secret_key") {
		t.Errorf("no audit entry for the rotation: %+v %v", entries, err)
	}

	t.Run("inline key needs --new-key-file", func(t *testing.T) {
		mi, _, _ := newTestMain(t, map[string]string{"IDSYNC_SECRET_KEY": hex.EncodeToString(newKey),
			"DATABASE_URL": dsn})
		err := mi.Run(ctx, []string{"rotate-secret-key"})
		mi.Close()
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--new-key-file") {
			t.Errorf("inline key without --new-key-file: %v, want a usage error", err)
		}
	})
}

func TestRotateSessionKey(t *testing.T) {
	m, out, _ := newTestMain(t, nil)
	if err := m.Run(t.Context(), []string{"migrate"}); err != nil {
		t.Fatal(err)
	}
	file := m.Config.SessionKeyFile
	m.Close()
	before := readKey(t, file)
	m2, out2, _ := newTestMain(t, nil)
	m2.Env = m.Env
	if err := m2.Run(t.Context(), []string{"rotate-session-key"}); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(readKey(t, file), before) || !strings.Contains(out2.String(), "every session ends") {
		t.Errorf("session key unchanged or no notice; output %q %q", out.String(), out2.String())
	}
}
