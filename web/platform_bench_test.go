package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/auth"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

// BenchmarkPlatform measures the console's fixed cost per request: the
// middleware chain (session decode, admin lookup, CSRF, metrics, logging)
// plus rendering, on SQLite, in process (no network).
func BenchmarkPlatform(b *testing.B) {
	st := storetest.Open(b, store.DialectSQLite)
	srv, err := New(Deps{Store: st, Config: platConfig()})
	if err != nil {
		b.Fatal(err)
	}
	hash, err := auth.HashPasswordParams(platPassword, platTestParams)
	if err != nil {
		b.Fatal(err)
	}
	if err := st.CreateAdmin(context.Background(), &model.Admin{Username: "ada", PasswordHash: hash, Role: model.RoleAdmin}); err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	serve := func(req *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	// Sign in once to get a session cookie.
	w := serve(httptest.NewRequest(http.MethodGet, "/login", nil))
	anon := w.Result().Cookies()
	m := platCSRFRE.FindStringSubmatch(w.Body.String())
	form := url.Values{"_csrf": {m[1]}, "username": {"ada"}, "password": {platPassword}}
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range anon {
		req.AddCookie(c)
	}
	w = serve(req)
	if w.Code != http.StatusSeeOther {
		b.Fatalf("login: %d", w.Code)
	}
	session := w.Result().Cookies()

	for _, bc := range []struct{ name, path string }{
		{"healthz", "/healthz"},
		{"login_page_anonymous", "/login"},
		{"dashboard_signed_in", "/"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, bc.path, nil)
				if bc.path == "/" {
					for _, c := range session {
						req.AddCookie(c)
					}
				}
				if w := serve(req); w.Code != http.StatusOK {
					b.Fatalf("%s: %d", bc.path, w.Code)
				}
			}
		})
	}
}
