package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

// apiDialects are the databases the API tests run on.
var apiDialects = []string{store.DialectSQLite, store.DialectPostgres}

// newAPIEnv is newPlatEnv on the given database: the real server over
// httptest on 127.0.0.1.
func newAPIEnv(t *testing.T, dialect string) *platEnv {
	t.Helper()
	st := storetest.Open(t, dialect)
	cfg := platConfig()
	clock := &platClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	srv, err := New(Deps{Store: st, Config: cfg, Now: clock.Now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &platEnv{t: t, srv: srv, st: st, cfg: cfg, ts: ts, clock: clock}
}

// token creates an API token for a with role, expiring in days (0: default).
func (e *platEnv) token(a *model.Admin, name string, role model.Role, days int) (string, *model.APIToken) {
	e.t.Helper()
	tk := &model.APIToken{AdminID: a.ID, Name: name, Role: role}
	if days != 0 {
		tk.ExpiresAt = e.clock.Now().AddDate(0, 0, days)
	}
	secret, err := e.st.CreateAPIToken(context.Background(), tk, e.clock.Now())
	if err != nil {
		e.t.Fatalf("CreateAPIToken: %v", err)
	}
	return secret, tk
}

type apiResp struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// errCode returns the JSON error's code ("" when the body is no error).
func (r apiResp) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (r apiResp) errFields() map[string]any {
	e, _ := r.body["error"].(map[string]any)
	f, _ := e["fields"].(map[string]any)
	return f
}

// api sends a request with an optional bearer token and JSON body (a
// string or []byte is sent as is, anything else marshalled).
func (e *platEnv) api(method, path, token string, body any, hdr map[string]string) apiResp {
	e.t.Helper()
	return apiWith(e.t, &http.Client{Timeout: 60 * time.Second}, e.ts.URL, method, path, token, body, hdr)
}

func apiWith(t *testing.T, hc *http.Client, base, method, path, token string, body any, hdr map[string]string) apiResp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(b))
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := apiResp{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// apiViaClient sends an API request with a browser client's cookies.
func (c *platClient) api(method, path string, body any, hdr map[string]string) apiResp {
	c.t.Helper()
	return apiWith(c.t, c.hc, c.e.ts.URL, method, path, "", body, hdr)
}
