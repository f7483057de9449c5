package store_test

import (
	"testing"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

// TestStoredSecretStaysWithItsHost: every caller (console, API) that
// points a source or product elsewhere must send the secret again; an
// empty one is refused and nothing changes.
func TestStoredSecretStaysWithItsHost(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT()
		src := testSource("corp")
		if err := s.CreateSource(ctx, src); err != nil {
			t.Fatal(err)
		}
		for name, edit := range map[string]func(*model.Source){
			"new URL":       func(x *model.Source) { x.URLs = []string{"ldap://127.0.0.1:4389"} },
			"extra URL":     func(x *model.Source) { x.URLs = append(x.URLs, "ldap://127.0.0.1:4389") },
			"new bind name": func(x *model.Source) { x.BindDN = "cn=other,dc=example,dc=com" },
		} {
			got, err := s.GetSource(ctx, src.ID)
			if err != nil {
				t.Fatal(err)
			}
			edit(got)
			got.BindPassword = ""
			err = s.UpdateSource(ctx, got)
			wantCode(t, err, model.EINVALID)
			wantField(t, err, "bind_password")
			after, _ := s.GetSource(ctx, src.ID)
			if after.URLs[0] != src.URLs[0] || len(after.URLs) != 1 || after.BindDN != src.BindDN {
				t.Errorf("%s: a refused update changed the source: %v %q", name, after.URLs, after.BindDN)
			}
		}
		// Unchanged endpoint: an empty password keeps the stored one.
		got, _ := s.GetSource(ctx, src.ID)
		got.Name, got.BindPassword = "corp renamed", ""
		if err := s.UpdateSource(ctx, got); err != nil {
			t.Fatalf("rename with the same URLs: %v", err)
		}
		if after, _ := s.GetSource(ctx, src.ID); after.BindPassword != "s3cret-bind-pw" {
			t.Error("stored password lost by an update that kept the endpoint")
		}

		p := newProduct("Hooks")
		if err := s.CreateProduct(ctxT(), p); err != nil {
			t.Fatal(err)
		}
		moved := *p
		moved.BaseURL, moved.Secret = "https://other.example.com/idsync", ""
		err := s.UpdateProduct(ctx, &moved)
		wantCode(t, err, model.EINVALID)
		wantField(t, err, "secret")
		if after, _ := s.GetProduct(ctx, p.ID); after.BaseURL != p.BaseURL || after.Secret != "very-secret-hmac" {
			t.Errorf("a refused product update changed it: %q", after.BaseURL)
		}
		moved.Secret = "typed-again"
		if err := s.UpdateProduct(ctx, &moved); err != nil {
			t.Fatalf("move with the secret typed again: %v", err)
		}
	})
}
