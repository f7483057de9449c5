package store_test

import (
	"testing"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/secret"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

func TestRotateSecretKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT()
		src := testSource("corp")
		if err := s.CreateSource(ctx, src); err != nil {
			t.Fatal(err)
		}
		p := newProduct("Hooks")
		if err := s.CreateProduct(ctx, p); err != nil {
			t.Fatal(err)
		}
		cols, err := s.SealedColumns(ctx)
		if err != nil {
			t.Fatal(err)
		}
		admin := &model.Admin{Username: "ada", PasswordHash: "x", Role: model.RoleAdmin}
		if err := s.CreateAdmin(ctx, admin); err != nil {
			t.Fatal(err)
		}
		if err := s.EnableTOTP(ctx, admin.ID, "JBSWY3DPEHPK3PXP", 1, nil); err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{"sources.bind_password_sealed": false, "products.secret_sealed": false, "admins.totp_secret": false,
			"alert_config.smtp_password_sealed": false}
		for _, c := range cols {
			if _, ok := want[c.Table+"."+c.Column]; ok {
				want[c.Table+"."+c.Column] = true
			}
		}
		for k, seen := range want {
			if !seen {
				t.Errorf("sealed column %s not found (got %v)", k, cols)
			}
		}
		wantCode(t, func() error { _, err := s.RotateSecretKey(ctx, []byte("short")); return err }(), model.EINVALID)
		key, _ := secret.NewKey()
		n, err := s.RotateSecretKey(ctx, key)
		if err != nil || n != 3 {
			t.Fatalf("RotateSecretKey = %d, %v; want 3 re-sealed (source, product, TOTP)", n, err)
		}
		if _, _, err := s.TOTPSecret(ctx, admin.ID); err == nil {
			t.Error("the TOTP secret was not re-sealed")
		}
		// The same store (still on the old key) now cannot open them; a
		// second rotation with the new key as target is refused, unchanged.
		if _, err := s.GetSource(ctx, src.ID); err == nil {
			t.Error("old key still opens the rotated password")
		}
		_, err = s.RotateSecretKey(ctx, key)
		wantCode(t, err, model.EINVALID)
	})
}
