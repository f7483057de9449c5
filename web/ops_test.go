package web

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
)

func TestErrorStatusTable(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{model.Errorf(model.EINVALID, "x"), http.StatusUnprocessableEntity},
		{model.Errorf(model.ENOTFOUND, "x"), http.StatusNotFound},
		{fmt.Errorf("store: get user 3: %w", model.Errorf(model.ENOTFOUND, "x")), http.StatusNotFound},
		{model.Errorf(model.ECONFLICT, "x"), http.StatusConflict},
		{model.Errorf(model.EUNAUTHORIZED, "x"), http.StatusUnauthorized},
		{model.Errorf(model.EFORBIDDEN, "x"), http.StatusForbidden},
		{model.Errorf(model.EUNAVAILABLE, "x"), http.StatusServiceUnavailable},
		{model.Errorf(model.ERATELIMIT, "x"), http.StatusTooManyRequests},
		{model.Errorf(model.EINTERNAL, "x"), http.StatusInternalServerError},
		{fmt.Errorf("plain"), http.StatusInternalServerError},
	}
	for _, tc := range cases {
		if got := ErrorStatus(tc.err); got != tc.want {
			t.Errorf("ErrorStatus(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestErrorPages(t *testing.T) {
	e := newPlatEnv(t, nil)
	// Test-only routes, registered behind the same guards as real ones.
	g := e.srv.Echo().Group("/test-errors", e.srv.requireLogin)
	g.GET("/internal", func(echo.Context) error {
		return fmt.Errorf("store: query: password=hunter2 at db.internal")
	})
	g.GET("/missing", func(echo.Context) error {
		return fmt.Errorf("web: show user: %w", model.Errorf(model.ENOTFOUND, "No user with id 42."))
	})
	g.GET("/panic", func(echo.Context) error { panic("boom secret") })
	e.createAdmin("ada", model.RoleAdmin)
	c := e.client()
	c.login("ada")

	r := c.get("/test-errors/internal")
	if r.status != http.StatusInternalServerError || strings.Contains(r.body, "hunter2") || !strings.Contains(r.body, "internal error") {
		t.Errorf("internal: status %d, body leaks or lacks message: %.300s", r.status, r.body)
	}
	r = c.get("/test-errors/panic")
	if r.status != http.StatusInternalServerError || strings.Contains(r.body, "boom") {
		t.Errorf("panic: status %d body %.200s", r.status, r.body)
	}
	r = c.get("/test-errors/missing")
	if r.status != http.StatusNotFound || !strings.Contains(r.body, "No user with id 42.") || !strings.Contains(r.body, `data-testid="error-page"`) {
		t.Errorf("not found: status %d body %.300s", r.status, r.body)
	}
	r = c.get("/no/such/page")
	if r.status != http.StatusNotFound || !strings.Contains(r.body, `data-testid="error-page"`) {
		t.Errorf("unknown path: status %d", r.status)
	}
	// htmx gets a fragment retargeted to #flash, not a full page.
	r = c.do(http.MethodGet, "/test-errors/missing", nil, map[string]string{"HX-Request": "true"})
	if r.status != http.StatusNotFound || r.header.Get("HX-Retarget") != "#flash" || strings.Contains(r.body, "<html") ||
		!strings.Contains(r.body, `data-testid="error-flash"`) {
		t.Errorf("htmx error: status %d retarget %q body %.200s", r.status, r.header.Get("HX-Retarget"), r.body)
	}
}

func TestOps(t *testing.T) {
	e := newPlatEnv(t, nil)
	c := e.client()
	if r := c.get("/healthz"); r.status != http.StatusOK || r.header.Get("Set-Cookie") != "" {
		t.Errorf("healthz: %d, Set-Cookie %q (want 200, no cookie)", r.status, r.header.Get("Set-Cookie"))
	}
	if r := c.get("/readyz"); r.status != http.StatusOK {
		t.Errorf("readyz: %d", r.status)
	}
	r := c.get("/static/css/app.css")
	if r.status != http.StatusOK || !strings.Contains(r.header.Get("Content-Type"), "text/css") {
		t.Errorf("app.css: status %d type %q", r.status, r.header.Get("Content-Type"))
	}
	if r := c.get("/static/js/htmx.min.js"); r.status != http.StatusOK || !strings.Contains(r.body, "htmx") {
		t.Errorf("htmx.min.js: status %d", r.status)
	}
	if r := c.get("/static/nope.js"); r.status != http.StatusNotFound {
		t.Errorf("missing static: %d", r.status)
	}
	r = c.get("/login")
	for h, want := range map[string]string{
		"X-Frame-Options":        "DENY",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "same-origin",
	} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP = %q", csp)
	}
	m := c.get("/metrics")
	if m.status != http.StatusOK {
		t.Fatalf("metrics: %d", m.status)
	}
	for _, want := range []string{
		`idsync_http_requests_total{method="GET",route="/healthz",status="200"} 1`,
		`idsync_http_requests_total{method="GET",route="/static/*",status="404"} 1`,
		`idsync_http_request_duration_seconds_bucket{method="GET",route="/login",le="+Inf"} 1`,
	} {
		if !strings.Contains(m.body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// readyz reports a dead database.
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	if r := c.get("/readyz"); r.status != http.StatusServiceUnavailable {
		t.Errorf("readyz with closed database: %d, want 503", r.status)
	}
}

func TestDashboardAndFragment(t *testing.T) {
	e := newPlatEnv(t, nil)
	e.createAdmin("ada", model.RoleAdmin)
	ctx := t.Context()
	for _, name := range []string{"u1", "u2"} {
		u := &model.User{Username: name, Email: name + "@example.com", Status: model.StatusActive, Origin: model.OriginLocal, AccountType: model.AccountDeviceEnabled}
		if err := e.st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	c := e.client()
	c.login("ada")
	r := c.get("/")
	if r.status != http.StatusOK {
		t.Fatalf("dashboard: %d", r.status)
	}
	if !strings.Contains(r.body, `data-testid="count-users"><span class="count-number">2</span>`) {
		t.Errorf("dashboard does not show 2 users: %.2000s", r.body)
	}
	if !strings.Contains(r.body, `hx-headers="{&#34;X-CSRF-Token&#34;:`) && !strings.Contains(r.body, `hx-headers='{"X-CSRF-Token":`) &&
		!strings.Contains(r.body, `hx-headers="{&quot;X-CSRF-Token&quot;:`) {
		t.Errorf("body lacks hx-headers with the CSRF token")
	}
	if !strings.Contains(r.body, `aria-current="page"`) || !strings.Contains(r.body, `>Dashboard</a>`) {
		t.Errorf("nav lacks the active Dashboard item")
	}
	f := c.do(http.MethodGet, "/", nil, map[string]string{"HX-Request": "true"})
	if f.status != http.StatusOK || strings.Contains(f.body, "<html") || !strings.Contains(f.body, `data-testid="dashboard-counts"`) {
		t.Errorf("htmx fragment: status %d, body %.200s", f.status, f.body)
	}
}
