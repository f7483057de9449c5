package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/auth"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

// BenchmarkAPI100k measures issue 10's speed targets on 100,000 users and
// 100,000 devices (PostgreSQL by default; IDSYNC_BENCH_DB=sqlite for
// SQLite), over HTTP against the real server:
//
//	go test -run '^$' -bench BenchmarkAPI100k -benchtime 1x -timeout 30m ./web/
//
// bulk-devices-10k: one POST /api/v1/devices:bulk changing the enterprise
// group data of 10,000 devices (all-or-nothing); csv-preview-10k: a
// 10,000-line devices CSV uploaded for preview; users-export: GET
// /users/export.csv, with the peak extra heap; list-page: GET
// /api/v1/users at random cursors, p50/p95.
func BenchmarkAPI100k(b *testing.B) {
	dialect := store.DialectPostgres
	if os.Getenv("IDSYNC_BENCH_DB") == "sqlite" {
		dialect = store.DialectSQLite
	}
	const users, devices = 100_000, 100_000
	st := storetest.Open(b, dialect)
	storetest.Seed(b, st, users, devices)
	srv, err := New(Deps{Store: st, Config: objTestConfig()})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	b.Cleanup(ts.Close)
	ctx := context.Background()
	hash, err := auth.HashPasswordParams(platPassword, platTestParams)
	if err != nil {
		b.Fatal(err)
	}
	admin := &model.Admin{Username: "bench", PasswordHash: hash, Role: model.RoleAdmin, Status: model.AccountActive}
	if err := st.CreateAdmin(ctx, admin); err != nil {
		b.Fatal(err)
	}
	// A signed-in browser for the console's CSV pages.
	jar, _ := cookiejar.New(nil)
	bc := &http.Client{Jar: jar, Timeout: 10 * time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	h := &objHarness{tb: b, st: st, srv: srv, ts: ts, client: bc}
	_, page := h.get("/login", false)
	h.csrf = h.token(page)
	if code, _, _ := h.post("/login", url.Values{"username": {"bench"}, "password": {platPassword}}); code != http.StatusSeeOther {
		b.Fatalf("login: %d", code)
	}
	_, page = h.get("/import", false)
	h.csrf = h.token(page)
	tok, err := st.CreateAPIToken(ctx, &model.APIToken{AdminID: admin.ID, Name: "bench", Role: model.RoleAdmin}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Minute}
	do := func(req *http.Request) (*http.Response, []byte) {
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res, body
	}
	devs, _, err := st.DevicesAfter(ctx, model.DeviceFilter{}, 0, 10_000)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("bulk-devices-10k", func(b *testing.B) {
		for n := 0; b.Loop(); n++ {
			rows := make([]map[string]any, len(devs))
			for i, d := range devs {
				rows[i] = map[string]any{"id": d.ID, "attributes": map[string]string{"location": fmt.Sprintf("Site-%d-%d", n, i%50), "cost_center": "CC-BULK"}}
			}
			body, _ := json.Marshal(map[string]any{"changes": rows})
			req, _ := http.NewRequest("POST", ts.URL+"/api/v1/devices:bulk", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			res, out := do(req)
			if res.StatusCode != 200 || !bytes.Contains(out, []byte(`"applied":10000`)) {
				b.Fatalf("bulk: %d %.300s", res.StatusCode, out)
			}
		}
	})

	b.Run("csv-preview-10k", func(b *testing.B) {
		var csvBody strings.Builder
		csvBody.WriteString("serial,platform,location,cost_center\n")
		for i, d := range devs {
			fmt.Fprintf(&csvBody, "%s,Linux,CSV-%d,CC-%d\n", d.Serial, i%40, i%7)
		}
		for b.Loop() {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			_ = mw.WriteField("_csrf", h.csrf)
			_ = mw.WriteField("kind", "devices")
			fw, _ := mw.CreateFormFile("file", "devices.csv")
			_, _ = fw.Write([]byte(csvBody.String()))
			_ = mw.Close()
			req, _ := http.NewRequest("POST", ts.URL+"/import/preview", &buf)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			res, err := bc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			out, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || !bytes.Contains(out, []byte("0 with errors")) {
				b.Fatalf("preview: %d %s", res.StatusCode, pageText(string(out)))
			}
		}
	})

	b.Run("users-export", func(b *testing.B) {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		var peak atomic.Uint64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			var m runtime.MemStats
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}()
		for b.Loop() {
			res, err := bc.Get(ts.URL + "/users/export.csv")
			if err != nil {
				b.Fatal(err)
			}
			// Count lines without keeping the body: the client shares the
			// heap being measured.
			var lines lineCounter
			_, _ = io.Copy(&lines, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || int(lines) != users+1 {
				b.Fatalf("export: %d, %d lines", res.StatusCode, lines)
			}
		}
		close(stop)
		<-done
		extra := float64(int64(peak.Load())-int64(base.HeapInuse)) / (1 << 20)
		b.ReportMetric(extra, "extra-heap-MB")
	})

	b.Run("list-page", func(b *testing.B) {
		// 200 pages at cursors spread over the whole table per iteration.
		var lat []time.Duration
		for b.Loop() {
			for i := range 200 {
				after := int64((i * 7919) % users)
				req, _ := http.NewRequest("GET", ts.URL+"/api/v1/users?limit=50&cursor="+cursor{ID: after}.String(), nil)
				t0 := time.Now()
				res, out := do(req)
				lat = append(lat, time.Since(t0))
				if res.StatusCode != 200 || !bytes.Contains(out, []byte(`"items":[{`)) {
					b.Fatalf("list: %d %.200s", res.StatusCode, out)
				}
			}
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
	})
}

type lineCounter int

func (l *lineCounter) Write(p []byte) (int, error) {
	*l += lineCounter(bytes.Count(p, []byte("\n")))
	return len(p), nil
}
