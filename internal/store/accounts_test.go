package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

func mustAdmin(t *testing.T, s *store.Store, name string, role model.Role) *model.Admin {
	t.Helper()
	a := &model.Admin{Username: name, PasswordHash: "$argon2id$test", Role: role}
	if err := s.CreateAdmin(ctxT(), a); err != nil {
		t.Fatalf("CreateAdmin %s: %v", name, err)
	}
	return a
}

func mustSession(t *testing.T, s *store.Store, hash string, adminID int64, at time.Time) {
	t.Helper()
	if err := s.CreateSession(ctxT(), &model.Session{IDHash: hash, AdminID: adminID, Data: `{"aid":1}`,
		CreatedAt: at, LastSeenAt: at, ExpiresAt: at.Add(12 * time.Hour)}); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
}

func TestSessionLifetimes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := mustAdmin(t, s, "ada", model.RoleAdmin)
		t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		idle := 30 * time.Minute
		mustSession(t, s, "h1", a.ID, t0)
		if _, err := s.LookupSession(ctx, "h1", t0.Add(29*time.Minute), idle); err != nil {
			t.Fatalf("lookup within idle: %v", err)
		}
		_, err := s.LookupSession(ctx, "h1", t0.Add(31*time.Minute), idle)
		wantCode(t, err, model.ENOTFOUND)
		// Touched, it lives on until the absolute end.
		for at := t0; at.Before(t0.Add(12 * time.Hour)); at = at.Add(20 * time.Minute) {
			if err := s.TouchSession(ctx, "h1", at); err != nil {
				t.Fatal(err)
			}
		}
		_, err = s.LookupSession(ctx, "h1", t0.Add(12*time.Hour+time.Second), idle)
		wantCode(t, err, model.ENOTFOUND)
		if ok, err := s.UpdateSessionData(ctx, "gone", "{}"); err != nil || ok {
			t.Errorf("UpdateSessionData of a missing session = %v, %v; want false (never re-created)", ok, err)
		}
		mustSession(t, s, "h2", a.ID, t0.Add(12*time.Hour))
		n, err := s.PruneSessions(ctx, t0.Add(12*time.Hour+time.Minute), idle)
		if err != nil || n != 1 {
			t.Errorf("PruneSessions = %d, %v; want 1 (the expired one)", n, err)
		}
		if got := count(t, s, "admin_sessions"); got != 1 {
			t.Errorf("%d sessions left, want 1", got)
		}
	})
}

func TestAccountChangesEndSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := model.WithActor(context.Background(), "boss")
		boss := mustAdmin(t, s, "boss", model.RoleAdmin)
		a := mustAdmin(t, s, "ada", model.RoleAdmin)
		t0 := time.Now().UTC()
		alive := func(hash string) bool {
			_, err := s.LookupSession(ctx, hash, t0, time.Hour)
			return err == nil
		}
		steps := []struct {
			name string
			do   func() error
		}{
			{"disable", func() error { _, err := s.SetAdminStatus(ctx, a.ID, model.AccountDisabled); return err }},
			{"role", func() error { _, err := s.SetAdminRole(ctx, a.ID, model.RoleAuditor); return err }},
			{"password", func() error { _, err := s.SetAdminPassword(ctx, a.ID, "$argon2id$new"); return err }},
			{"end all", func() error { _, err := s.EndAdminSessions(ctx, a.ID, ""); return err }},
			{"delete", func() error { _, err := s.DeleteAdmin(ctx, a.ID); return err }},
		}
		for i, st := range steps {
			mustSession(t, s, "x"+st.name, a.ID, t0)
			mustSession(t, s, "boss"+st.name, boss.ID, t0)
			if err := st.do(); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if alive("x" + st.name) {
				t.Errorf("%s: the account's session survived", st.name)
			}
			if !alive("boss" + st.name) {
				t.Errorf("%s: another account's session ended", st.name)
			}
			e := lastAudit(t, s)
			if e.ObjectID != a.ID || e.Actor != "boss" {
				t.Errorf("%s: audit %+v, want an entry for account %d by boss", st.name, e, a.ID)
			}
			if i == 0 {
				if _, err := s.SetAdminStatus(ctx, a.ID, model.AccountActive); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := s.GetAdmin(ctx, a.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("deleted account still there: %v", err)
		}
	})
}

func TestLastActiveAdminIsKept(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := mustAdmin(t, s, "ada", model.RoleAdmin)
		aud := mustAdmin(t, s, "audrey", model.RoleAuditor)
		before := count(t, s, "audit_log")
		_, err := s.SetAdminStatus(ctx, a.ID, model.AccountDisabled)
		wantCode(t, err, model.ECONFLICT)
		_, err = s.SetAdminRole(ctx, a.ID, model.RoleAuditor)
		wantCode(t, err, model.ECONFLICT)
		_, err = s.DeleteAdmin(ctx, a.ID)
		wantCode(t, err, model.ECONFLICT)
		a.Role = model.RoleAuditor
		wantCode(t, s.UpdateAdmin(ctx, a), model.ECONFLICT)
		_, err = s.SetAdminRole(ctx, aud.ID, "owner")
		wantCode(t, err, model.EINVALID)
		_, err = s.SetAdminStatus(ctx, aud.ID, "paused")
		wantCode(t, err, model.EINVALID)
		if got := count(t, s, "audit_log"); got != before {
			t.Errorf("refused changes wrote %d audit entries", got-before)
		}
		if got, _ := s.ActiveAdmin(ctx, a.ID); got == nil || got.Role != model.RoleAdmin {
			t.Fatalf("ada changed: %+v", got)
		}
		// With a second active admin, the first may go.
		if _, err := s.SetAdminRole(ctx, aud.ID, model.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetAdminStatus(ctx, a.ID, model.AccountDisabled); err != nil {
			t.Fatal(err)
		}
		_, err = s.ActiveAdmin(ctx, a.ID)
		wantCode(t, err, model.EFORBIDDEN)
		// Now audrey is the last one.
		_, err = s.DeleteAdmin(ctx, aud.ID)
		wantCode(t, err, model.ECONFLICT)
	})
}

func TestPasswordResetLinkOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := mustAdmin(t, s, "ada", model.RoleAdmin)
		t0 := time.Now().UTC()
		if _, err := s.CreatePasswordReset(ctx, a.ID, "tok", t0.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		mustSession(t, s, "sess", a.ID, t0)
		_, err := s.UsePasswordReset(ctx, "tok", "$argon2id$late", t0.Add(25*time.Hour))
		wantCode(t, err, model.ENOTFOUND)
		if _, err := s.UsePasswordReset(ctx, "tok", "$argon2id$new", t0.Add(time.Hour)); err != nil {
			t.Fatalf("use: %v", err)
		}
		got, _ := s.GetAdmin(ctx, a.ID)
		if got.PasswordHash != "$argon2id$new" || got.PasswordChangedAt.IsZero() {
			t.Errorf("password not set: %+v", got)
		}
		if count(t, s, "admin_sessions") != 0 {
			t.Error("sessions survived a password reset")
		}
		_, err = s.UsePasswordReset(ctx, "tok", "$argon2id$again", t0.Add(time.Hour))
		wantCode(t, err, model.ENOTFOUND)
		got, _ = s.GetAdmin(ctx, a.ID)
		if got.PasswordHash != "$argon2id$new" {
			t.Error("a used link changed the password again")
		}
		// A newer link voids the older one.
		for _, tok := range []string{"t1", "t2"} {
			if _, err := s.CreatePasswordReset(ctx, a.ID, tok, t0.Add(24*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		_, err = s.PasswordResetAccount(ctx, "t1", t0)
		wantCode(t, err, model.ENOTFOUND)
		if _, err := s.PasswordResetAccount(ctx, "t2", t0); err != nil {
			t.Errorf("newest link: %v", err)
		}
	})
}

func TestLookupSessionAdmin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		a := mustAdmin(t, s, "ada", model.RoleAdmin)
		t0 := time.Now().UTC()
		mustSession(t, s, "h", a.ID, t0)
		sess, got, err := s.LookupSessionAdmin(ctxT(), "h", t0, time.Hour)
		if err != nil || got == nil {
			t.Fatalf("LookupSessionAdmin: %+v %+v %v", sess, got, err)
		}
		want, _ := s.GetAdmin(ctxT(), a.ID)
		if got.ID != want.ID || got.Username != want.Username || got.Role != want.Role || got.Status != want.Status || got.PasswordHash != want.PasswordHash || sess.AdminID != a.ID {
			t.Errorf("joined account %+v, want %+v (session %+v)", got, want, sess)
		}
		if err := s.CreateSession(ctxT(), &model.Session{IDHash: "anon", Data: `{"flash":"x"}`, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, got, err := s.LookupSessionAdmin(ctxT(), "anon", t0, time.Hour); err != nil || got != nil {
			t.Errorf("anonymous session: %+v %v, want no account", got, err)
		}
	})
}
