package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/config"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

// BenchmarkSessionLookup measures what the database-backed session adds
// to a signed-in request: decoding the cookie, the session row's look-up
// (with its idle and absolute checks) and the account's, as loadSession
// does, among 10,000 other stored sessions. It reports the p95 and p99 of
// single look-ups (the target: p95 under 1 ms on both databases).
//
//	go test -run '^$' -bench BenchmarkSessionLookup -benchtime 20000x ./web
func BenchmarkSessionLookup(b *testing.B) {
	for _, dialect := range storetest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			st := storetest.Open(b, dialect)
			ctx := context.Background()
			a := &model.Admin{Username: "ada", PasswordHash: "$argon2id$bench", Role: model.RoleAdmin}
			if err := st.CreateAdmin(ctx, a); err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			for i := range 10000 {
				if err := st.CreateSession(ctx, &model.Session{IDHash: hashID(fmt.Sprintf("other-%d", i)), AdminID: a.ID,
					Data: `{"aid":1}`, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
					b.Fatal(err)
				}
			}
			cfg := &config.Config{SessionKey: []byte("0123456789abcdef0123456789abcdef"), SessionMaxAge: 12 * time.Hour, SessionIdleTimeout: 30 * time.Minute}
			ds := newSessionStore(cfg, st, time.Now)
			// A signed-in session and its cookie.
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			sess, err := ds.New(req, SessionCookie)
			if err != nil {
				b.Fatal(err)
			}
			sess.Values[sessAdminID] = a.ID
			w := httptest.NewRecorder()
			if err := ds.Save(req, w, sess); err != nil {
				b.Fatal(err)
			}
			cookie := w.Result().Cookies()[0]
			lookup := func() {
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				r.AddCookie(cookie)
				s, err := ds.New(r, SessionCookie)
				if err != nil {
					b.Fatal(err)
				}
				id, _ := s.Values[sessAdminID].(int64)
				if _, err := st.GetAdmin(r.Context(), id); err != nil {
					b.Fatalf("signed-in session not found: %v", err)
				}
			}
			for range 200 { // warm the connection pool and caches
				lookup()
			}
			durs := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				lookup()
				durs = append(durs, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(durs)
			q := func(p float64) float64 { return float64(durs[int(p*float64(len(durs)-1))].Microseconds()) }
			b.ReportMetric(q(0.50), "p50-µs")
			b.ReportMetric(q(0.95), "p95-µs")
			b.ReportMetric(q(0.99), "p99-µs")
		})
	}
	_ = store.DialectSQLite
}
