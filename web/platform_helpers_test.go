package web

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/auth"
	"github.com/idsync/idsync/internal/config"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

// cheap argon2 parameters: tests hash many passwords; CheckPassword reads
// the parameters from the hash, so production checks are unaffected.
var platTestParams = auth.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

const platPassword = "correct horse battery"

// platClock is a settable clock for rate-limit and session-expiry tests.
type platClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *platClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *platClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type platEnv struct {
	t     *testing.T
	srv   *Server
	st    *store.Store
	cfg   *config.Config
	ts    *httptest.Server
	clock *platClock
}

func platConfig() *config.Config {
	return &config.Config{
		Addr:             "127.0.0.1:0",
		DatabaseURL:      "sqlite:test",
		DataDir:          "var",
		SecretKey:        storetest.Key(),
		SessionKey:       []byte("0123456789abcdef0123456789abcdef"),
		LogFormat:        "text",
		TimeZone:         time.UTC,
		ShutdownTimeout:  5 * time.Second,
		SessionMaxAge:    12 * time.Hour,
		LoginMaxFailures: 5,
		LoginWindow:      15 * time.Minute,
	}
}

// newPlatEnv starts the real server on a fresh SQLite store over
// httptest (127.0.0.1), stopped when the test ends. tweak may adjust the
// config or deps before New.
func newPlatEnv(t *testing.T, tweak func(*config.Config, *Deps)) *platEnv {
	t.Helper()
	st := storetest.Open(t, store.DialectSQLite)
	cfg := platConfig()
	clock := &platClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	d := Deps{Store: st, Config: cfg, Now: clock.Now}
	if tweak != nil {
		tweak(cfg, &d)
	}
	srv, err := New(d)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &platEnv{t: t, srv: srv, st: st, cfg: cfg, ts: ts, clock: clock}
}

func (e *platEnv) createAdmin(username string, role model.Role) *model.Admin {
	e.t.Helper()
	hash, err := auth.HashPasswordParams(platPassword, platTestParams)
	if err != nil {
		e.t.Fatal(err)
	}
	a := &model.Admin{Username: username, PasswordHash: hash, Role: role}
	if err := e.st.CreateAdmin(context.Background(), a); err != nil {
		e.t.Fatalf("CreateAdmin %s: %v", username, err)
	}
	return a
}

// platClient is a browser: a cookie jar and no automatic redirects.
type platClient struct {
	t  *testing.T
	e  *platEnv
	hc *http.Client
}

func (e *platEnv) client() *platClient {
	jar, _ := cookiejar.New(nil)
	return &platClient{t: e.t, e: e, hc: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}}
}

type platResp struct {
	status int
	header http.Header
	body   string
}

func (c *platClient) do(method, path string, form url.Values, hdr map[string]string) platResp {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.e.ts.URL+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return platResp{status: res.StatusCode, header: res.Header, body: string(b)}
}

func (c *platClient) get(path string) platResp { return c.do(http.MethodGet, path, nil, nil) }

func (c *platClient) post(path string, form url.Values) platResp {
	return c.do(http.MethodPost, path, form, nil)
}

var platCSRFRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// csrf returns the token of the client's session, read from a page.
func (c *platClient) csrf() string {
	c.t.Helper()
	for _, p := range []string{"/login", "/", "/account"} {
		r := c.get(p)
		if m := platCSRFRE.FindStringSubmatch(r.body); m != nil {
			return m[1]
		}
	}
	c.t.Fatal("no CSRF token found on /login or /")
	return ""
}

// login signs in and fails the test unless it worked.
func (c *platClient) login(username string) {
	c.t.Helper()
	r := c.post("/login", url.Values{"_csrf": {c.csrf()}, "username": {username}, "password": {platPassword}})
	if r.status != http.StatusSeeOther {
		c.t.Fatalf("login %s: status %d, want 303; body: %.300s", username, r.status, r.body)
	}
}

func (c *platClient) cookie(name string) *http.Cookie {
	u, _ := url.Parse(c.e.ts.URL)
	for _, ck := range c.hc.Jar.Cookies(u) {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}
