package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
)

// publicRoutes are the only routes an anonymous visitor may use.
var publicRoutes = map[string]bool{
	"GET /healthz":          true,
	"GET /readyz":           true,
	"GET /metrics":          true,
	"GET /static/*":         true,
	"GET /login":            true,
	"POST /login":           true,
	"GET /setup":            true,
	"POST /setup":           true,
	"POST /logout":          true,
	"GET /api/openapi.json": true,

	"GET /reset-password/:token":  true,
	"POST /reset-password/:token": true,
	"GET /login/mfa":              true,
	"POST /login/mfa":             true,
}

// myAccountRoutes change only the signed-in account itself (My account),
// so every role may post to them; accounts_test.go tests them for an
// auditor (the walk would sign its auditor out). Anonymous requests are
// still checked here.
var myAccountRoutes = map[string]bool{
	"POST /account/password":          true,
	"POST /account/sessions/end-all":  true,
	"POST /account/sessions/:key/end": true,
	"POST /account/mfa":               true,
	"POST /account/mfa/disable":       true,
}

// selfServiceRoutes change only the signed-in account's own things (its
// API tokens): auditors may use them, so the walk expects no role refusal.
var selfServiceRoutes = map[string]bool{
	"POST /tokens":            true,
	"POST /tokens/:id/revoke": true,
}

// concretePath fills a route template's parameters with plausible values.
func concretePath(p string) string {
	parts := strings.Split(strings.ReplaceAll(p, `\:`, ":"), "/")
	for i, s := range parts {
		switch {
		case s == "*":
			parts[i] = "x"
		case strings.HasPrefix(s, ":"):
			parts[i] = "1"
		}
	}
	return strings.Join(parts, "/")
}

// TestRouteWalk walks every registered route, including those other areas
// add later: anonymous requests are sent to sign in (GET) or refused
// (anything else), and a signed-in auditor cannot use any state-changing
// route even with a valid CSRF token.
func TestRouteWalk(t *testing.T) {
	e := newPlatEnv(t, nil)
	e.createAdmin("audra", model.RoleAuditor)
	anon := e.client()
	anonCSRF := anon.csrf()
	aud := e.client()
	aud.login("audra")
	audCSRF := aud.csrf()

	seenPublic := map[string]bool{}
	n := 0
	for _, r := range e.srv.Echo().Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		key := r.Method + " " + r.Path
		if publicRoutes[key] {
			seenPublic[key] = true
			continue
		}
		n++
		path := concretePath(r.Path)
		t.Run(key, func(t *testing.T) {
			if strings.HasPrefix(r.Path, "/api/") {
				// The JSON API answers 401 (never a redirect) without credentials.
				if got := anon.do(r.Method, path, nil, nil); got.status != http.StatusUnauthorized && (safeMethod(r.Method) || got.status != http.StatusForbidden) {
					t.Errorf("anonymous %s %s: status %d, want 401", r.Method, path, got.status)
				}
			}
			if strings.HasPrefix(r.Path, "/api/") && safeMethod(r.Method) {
				got := aud.do(r.Method, path, nil, nil)
				if got.status == http.StatusUnauthorized || got.status >= 500 && got.status != http.StatusServiceUnavailable {
					t.Errorf("auditor %s %s: status %d, want readable; body %.200s", r.Method, path, got.status, got.body)
				}
				return
			}
			if selfServiceRoutes[key] {
				got := aud.do(r.Method, path, url.Values{"_csrf": {audCSRF}}, nil)
				if got.status == http.StatusUnauthorized || got.status >= 500 || strings.Contains(got.body, "can view but not change") {
					t.Errorf("auditor %s %s (self service): status %d; body %.200s", r.Method, path, got.status, got.body)
				}
				return
			}
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				got := anon.do(r.Method, path, nil, nil)
				if got.status != http.StatusSeeOther || !strings.HasPrefix(got.header.Get("Location"), "/login") {
					t.Errorf("anonymous %s %s: status %d Location %q, want 303 to /login", r.Method, path, got.status, got.header.Get("Location"))
				}
				got = anon.do(r.Method, path, nil, map[string]string{"HX-Request": "true"})
				if got.status != http.StatusUnauthorized || got.header.Get("HX-Redirect") != "/login" {
					t.Errorf("anonymous htmx %s %s: status %d HX-Redirect %q, want 401 to /login", r.Method, path, got.status, got.header.Get("HX-Redirect"))
				}
				got = aud.do(r.Method, path, nil, nil)
				if got.status == http.StatusUnauthorized || strings.HasPrefix(got.header.Get("Location"), "/login") ||
					got.status >= 500 && got.status != http.StatusServiceUnavailable {
					t.Errorf("auditor %s %s: status %d, want readable; body %.200s", r.Method, path, got.status, got.body)
				}
				return
			}
			// Without a token, and with the anonymous session's valid token.
			for _, form := range []url.Values{{}, {"_csrf": {anonCSRF}}} {
				got := anon.do(r.Method, path, form, nil)
				if got.status != http.StatusUnauthorized && got.status != http.StatusForbidden {
					t.Errorf("anonymous %s %s (csrf %v): status %d, want 401 or 403", r.Method, path, form.Has("_csrf"), got.status)
				}
			}
			if myAccountRoutes[key] {
				return
			}
			got := aud.do(r.Method, path, url.Values{"_csrf": {audCSRF}}, map[string]string{CSRFHeader: audCSRF})
			if got.status != http.StatusForbidden || !strings.Contains(got.body, "can view but not change") {
				t.Errorf("auditor %s %s: status %d, want 403 for the role; body %.200s", r.Method, path, got.status, got.body)
			}
		})
	}
	for k := range publicRoutes {
		if !seenPublic[k] {
			t.Errorf("public route %s is not registered", k)
		}
	}
	if n < 2 {
		t.Fatalf("walked %d protected routes; the walk is not seeing the route list", n)
	}
	// The auditor's session must still work: the refusals changed nothing.
	if r := aud.get("/"); r.status != http.StatusOK {
		t.Errorf("auditor dashboard after the walk: status %d", r.status)
	}
}
