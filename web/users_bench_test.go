package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/store/storetest"
)

// BenchmarkListPages measures the server time of the users and devices
// list pages (first page, a middle page, a search) through the real
// handler stack (session, CSRF, auth, store, templ), signed in, with
// 100,000 users and 100,000 devices, on SQLite and PostgreSQL.
//
//	go test -run '^$' -bench BenchmarkListPages -benchtime 50x ./web/
func BenchmarkListPages(b *testing.B) {
	const users, devices = 100_000, 100_000
	for _, dialect := range storetest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			st := storetest.Open(b, dialect)
			storetest.Seed(b, st, users, devices)
			h := newObjHarness(b, st)
			u, _ := url.Parse(h.ts.URL)
			cookies := h.client.Jar.Cookies(u)
			handler := h.srv.Handler()
			for _, page := range []struct{ name, path, wantRow string }{
				{"users/first", "/users", "user-row"},
				{"users/middle", "/users?page=1000", "user-row"},
				{"users/search", "/users?q=user0500", "user-row"},
				{"devices/first", "/devices", "device-row"},
				{"devices/middle", "/devices?page=1000", "device-row"},
				{"devices/search", "/devices?q=SN0005000", "device-row"},
			} {
				b.Run(page.name, func(b *testing.B) {
					req := httptest.NewRequest(http.MethodGet, page.path, nil)
					for _, c := range cookies {
						req.AddCookie(c)
					}
					check := func() {
						rec := httptest.NewRecorder()
						handler.ServeHTTP(rec, req)
						if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `data-testid="`+page.wantRow+`"`) {
							b.Fatalf("%s: status %d, no %s rows", page.path, rec.Code, page.wantRow)
						}
					}
					check()
					b.ResetTimer()
					for b.Loop() {
						rec := httptest.NewRecorder()
						handler.ServeHTTP(rec, req)
						if rec.Code != http.StatusOK {
							b.Fatalf("%s: status %d", page.path, rec.Code)
						}
					}
				})
			}
		})
	}
}
