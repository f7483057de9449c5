package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/auth"
	"github.com/idsync/idsync/internal/config"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
)

// objHarness is a real console on a real store, signed in as an admin,
// for the object pages' handler tests and benchmarks.
type objHarness struct {
	tb     testing.TB
	st     *store.Store
	srv    *Server
	ts     *httptest.Server
	client *http.Client
	csrf   string
}

var csrfRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func objTestConfig() *config.Config {
	return &config.Config{
		Addr:             "127.0.0.1:0",
		SessionKey:       []byte("0123456789abcdef0123456789abcdef"),
		ShutdownTimeout:  5 * time.Second,
		SessionMaxAge:    time.Hour,
		LoginMaxFailures: 1000,
		LoginWindow:      time.Minute,
		TimeZone:         time.UTC,
	}
}

// newObjHarness starts the console on st and signs in as admin "root".
func newObjHarness(tb testing.TB, st *store.Store) *objHarness {
	tb.Helper()
	srv, err := New(Deps{Store: st, Config: objTestConfig(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatalf("web.New: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	tb.Cleanup(ts.Close)
	jar, _ := cookiejar.New(nil)
	h := &objHarness{tb: tb, st: st, srv: srv, ts: ts, client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	hash, err := auth.HashPassword("correct horse battery staple")
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.CreateAdmin(context.Background(), &model.Admin{Username: "root", PasswordHash: hash, Role: model.RoleAdmin}); err != nil {
		tb.Fatalf("create admin: %v", err)
	}
	_, body := h.get("/login", false)
	h.csrf = h.token(body)
	code, _, _ := h.post("/login", url.Values{"username": {"root"}, "password": {"correct horse battery staple"}})
	if code != http.StatusSeeOther {
		tb.Fatalf("login: status %d", code)
	}
	_, body = h.get("/users/new", false)
	h.csrf = h.token(body)
	return h
}

func (h *objHarness) token(body string) string {
	h.tb.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		h.tb.Fatalf("no CSRF token in page:\n%s", body)
	}
	return m[1]
}

// get returns the status and body of GET path; hx marks it an htmx request.
func (h *objHarness) get(path string, hx bool) (int, string) {
	h.tb.Helper()
	req, err := http.NewRequest(http.MethodGet, h.ts.URL+path, nil)
	if err != nil {
		h.tb.Fatal(err)
	}
	if hx {
		req.Header.Set("HX-Request", "true")
	}
	return h.do(req)
}

// post submits form (with the CSRF token) to path.
func (h *objHarness) post(path string, form url.Values) (int, string, http.Header) {
	h.tb.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("_csrf", h.csrf)
	req, err := http.NewRequest(http.MethodPost, h.ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		h.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := h.client.Do(req)
	if err != nil {
		h.tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// hxPost is post as htmx sends it.
func (h *objHarness) hxPost(path string, form url.Values) (int, string) {
	h.tb.Helper()
	req, err := http.NewRequest(http.MethodPost, h.ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		h.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set(CSRFHeader, h.csrf)
	return h.do(req)
}

func (h *objHarness) do(req *http.Request) (int, string) {
	h.tb.Helper()
	resp, err := h.client.Do(req)
	if err != nil {
		h.tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.tb.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// count returns how many times data-testid="id" occurs in body.
func countTestID(body, id string) int {
	return strings.Count(body, `data-testid="`+id+`"`)
}
