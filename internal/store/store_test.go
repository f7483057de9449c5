package store_test

import (
	"context"
	"testing"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

func TestOpenRejectsBadDSN(t *testing.T) {
	for _, dsn := range []string{"", "mysql://x", "sqlite:"} {
		if _, err := store.Open(context.Background(), dsn, store.Options{SecretKey: storetest.Key()}); err == nil {
			t.Errorf("Open(%q): want error", dsn)
		}
	}
	if _, err := store.Open(context.Background(), "sqlite:"+t.TempDir()+"/x.db", store.Options{SecretKey: []byte("short")}); err == nil {
		t.Error("Open with a short key: want error")
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("second Migrate: %v", err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if got := s.Dialect(); got != t.Name()[len(t.Name())-len(got):] {
			t.Errorf("Dialect() = %q for subtest %q", got, t.Name())
		}
	})
}

func TestDefaultsAfterMigrate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		st, err := s.GetSettings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := model.DefaultSettings()
		if st.InstalledAt.IsZero() {
			t.Error("InstalledAt not set by the first migration")
		}
		want.InstalledAt = st.InstalledAt
		if st != want {
			t.Errorf("settings after migrate:\n got %+v\nwant %+v", st, want)
		}
		attrs, err := s.ListAttributes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		var groups int
		for _, a := range attrs {
			keys = append(keys, a.Key)
			if a.EnterpriseGroup {
				groups++
			}
		}
		wantKeys := []string{model.AttrLocation, model.AttrCorporateUnit, model.AttrCostCenter, model.AttrDepartment, model.AttrTitle,
			model.AttrGivenName, model.AttrFamilyName}
		if len(keys) != len(wantKeys) {
			t.Fatalf("attributes = %v, want %v", keys, wantKeys)
		}
		for i := range keys {
			if keys[i] != wantKeys[i] {
				t.Errorf("attribute %d = %q, want %q", i, keys[i], wantKeys[i])
			}
		}
		if groups != 3 {
			t.Errorf("%d enterprise-group attributes, want 3", groups)
		}
	})
}
