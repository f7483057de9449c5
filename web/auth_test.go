package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/config"
	"github.com/idsync/idsync/internal/model"
)

func TestLoginSessionCookie(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "secure"}[secure], func(t *testing.T) {
			e := newPlatEnv(t, func(c *config.Config, _ *Deps) { c.SecureCookie = secure })
			e.createAdmin("ada", model.RoleAdmin)
			c := e.client()
			r := c.get("/login")
			if r.status != http.StatusOK {
				t.Fatalf("GET /login: %d", r.status)
			}
			var ck *http.Cookie
			for _, h := range r.header.Values("Set-Cookie") {
				if strings.HasPrefix(h, SessionCookie+"=") {
					parsed, err := http.ParseSetCookie(h)
					if err != nil {
						t.Fatal(err)
					}
					ck = parsed
				}
			}
			if ck == nil {
				t.Fatal("no session cookie set on /login")
			}
			if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure != secure || ck.Path != "/" {
				t.Errorf("cookie flags: HttpOnly=%v SameSite=%v Secure=%v Path=%q; want true Lax %v /", ck.HttpOnly, ck.SameSite, ck.Secure, ck.Path, secure)
			}
		})
	}
}

func TestLoginRotatesSessionAndLogout(t *testing.T) {
	e := newPlatEnv(t, nil)
	a := e.createAdmin("ada", model.RoleAdmin)
	c := e.client()
	before := c.csrf()
	cookieBefore := c.cookie(SessionCookie).Value

	r := c.post("/login", url.Values{"_csrf": {before}, "username": {"ada"}, "password": {"wrong password!!"}})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "Wrong username or password") {
		t.Fatalf("wrong password: status %d, want 401 with message", r.status)
	}
	r = c.post("/login", url.Values{"_csrf": {before}, "username": {"nobody"}, "password": {platPassword}})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "Wrong username or password") {
		t.Fatalf("unknown user: status %d, want the same 401 message", r.status)
	}
	r = c.post("/login", url.Values{"_csrf": {before}, "username": {"ada"}, "password": {platPassword}, "next": {"//evil.example/x"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("login: status %d Location %q, want 303 to / (no open redirect)", r.status, r.header.Get("Location"))
	}
	after := c.csrf()
	if after == before {
		t.Error("CSRF token unchanged by sign-in: session not rotated")
	}
	if c.cookie(SessionCookie).Value == cookieBefore {
		t.Error("session cookie unchanged by sign-in")
	}
	if r := c.get("/"); r.status != http.StatusOK || !strings.Contains(r.body, `data-testid="whoami"`) {
		t.Fatalf("dashboard after login: status %d", r.status)
	}
	got, err := e.st.GetAdmin(context.Background(), a.ID)
	if err != nil || got.LastLoginAt.IsZero() {
		t.Errorf("LastLoginAt not recorded: %+v %v", got, err)
	}
	entries, _, err := e.st.ListAudit(context.Background(), model.ListQuery{})
	if err != nil || len(entries) == 0 || entries[0].Action != "login" || entries[0].Actor != "ada" {
		t.Errorf("audit after login: %+v %v, want a login entry by ada", entries, err)
	}

	// Logout needs the token.
	if r := c.post("/logout", url.Values{}); r.status != http.StatusForbidden {
		t.Errorf("logout without CSRF: status %d, want 403", r.status)
	}
	if r := c.get("/"); r.status != http.StatusOK {
		t.Fatalf("still signed in after refused logout: status %d", r.status)
	}
	if r := c.post("/logout", url.Values{"_csrf": {after}}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" {
		t.Fatalf("logout: status %d Location %q", r.status, r.header.Get("Location"))
	}
	if r := c.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("after logout GET /: status %d, want 303 to sign-in", r.status)
	}
}

func TestSessionExpires(t *testing.T) {
	e := newPlatEnv(t, nil)
	e.createAdmin("ada", model.RoleAdmin)
	c := e.client()
	c.login("ada")
	e.clock.Add(e.cfg.SessionMaxAge + time.Minute)
	if r := c.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("expired session: status %d, want 303 to sign-in", r.status)
	}
}

func TestCSRF(t *testing.T) {
	e := newPlatEnv(t, nil)
	e.createAdmin("ada", model.RoleAdmin)
	c := e.client()
	c.login("ada")
	tok := c.csrf()
	other := e.client()
	otherTok := other.csrf()
	cases := []struct {
		name   string
		form   url.Values
		header map[string]string
		want   int
	}{
		{"none", url.Values{}, nil, http.StatusForbidden},
		{"wrong", url.Values{"_csrf": {"x" + tok}}, nil, http.StatusForbidden},
		{"another session's", url.Values{"_csrf": {otherTok}}, nil, http.StatusForbidden},
		{"wrong header", nil, map[string]string{CSRFHeader: otherTok}, http.StatusForbidden},
		{"header", nil, map[string]string{CSRFHeader: tok, "HX-Request": "true"}, http.StatusNoContent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(http.MethodPost, "/logout", tc.form, tc.header)
			if r.status != tc.want {
				t.Errorf("status %d, want %d", r.status, tc.want)
			}
		})
	}
	// The last case signed out: the session is gone.
	if r := c.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("after htmx logout: status %d, want 303", r.status)
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newPlatEnv(t, nil)
	e.createAdmin("ada", model.RoleAdmin)
	e.createAdmin("bob", model.RoleAdmin)
	c := e.client()
	tok := c.csrf()
	try := func(user, pw string) platResp {
		return c.post("/login", url.Values{"_csrf": {tok}, "username": {user}, "password": {pw}})
	}
	for i := 0; i < e.cfg.LoginMaxFailures; i++ {
		if r := try("ada", "not the password"); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i+1, r.status)
		}
	}
	r := try("ADA", platPassword) // account key is case-insensitive
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Too many failed sign-ins") || r.header.Get("Retry-After") == "" {
		t.Fatalf("after %d failures the right password: status %d, want 429 with message and Retry-After", e.cfg.LoginMaxFailures, r.status)
	}
	// Another account from the same IP is still allowed (per-IP limit is higher).
	if r := try("bob", platPassword); r.status != http.StatusSeeOther {
		t.Fatalf("other account: status %d, want 303", r.status)
	}
	tok = c.csrf() // signing in rotated the session and its token
	c2 := e.client()
	tok2 := c2.csrf()
	// Per-IP: many accounts from one address get limited too.
	blocked := false
	for i := 0; i < 4*e.cfg.LoginMaxFailures+1; i++ {
		r := c2.post("/login", url.Values{"_csrf": {tok2}, "username": {"user" + string(rune('a'+i))}, "password": {"nope nope nope"}})
		if r.status == http.StatusTooManyRequests {
			blocked = true
			break
		}
	}
	if !blocked {
		t.Error("per-IP limit never triggered")
	}
	// The window slides: after it, ada may sign in again.
	e.clock.Add(e.cfg.LoginWindow + time.Second)
	if r := try("ada", platPassword); r.status != http.StatusSeeOther {
		t.Errorf("after the window: status %d, want 303", r.status)
	}
}

func TestSetupFlow(t *testing.T) {
	const token = "setup-token-for-tests-0123456789"
	e := newPlatEnv(t, func(_ *config.Config, d *Deps) { d.SetupToken = token })
	c := e.client()
	if r := c.get("/login"); !strings.Contains(r.body, `data-testid="setup-pending"`) {
		t.Error("sign-in page does not say setup is pending")
	}
	for _, q := range []string{"", "?token=", "?token=wrong"} {
		if r := c.get("/setup" + q); r.status != http.StatusForbidden || strings.Contains(r.body, `name="password"`) {
			t.Errorf("GET /setup%s: status %d, want 403 without the form", q, r.status)
		}
	}
	r := c.get("/setup?token=" + token)
	if r.status != http.StatusOK || !strings.Contains(r.body, `data-testid="setup"`) {
		t.Fatalf("GET /setup with token: status %d", r.status)
	}
	tok := c.csrf()
	count := func() int {
		n, err := e.st.CountAdmins(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	bad := []url.Values{
		{"token": {"wrong"}, "username": {"root"}, "password": {platPassword}, "password_confirm": {platPassword}},
		{"token": {token}, "username": {"root"}, "password": {"short"}, "password_confirm": {"short"}},
		{"token": {token}, "username": {"root"}, "password": {platPassword}, "password_confirm": {platPassword + "x"}},
		{"token": {token}, "username": {"<script>"}, "password": {platPassword}, "password_confirm": {platPassword}},
	}
	for i, f := range bad {
		f.Set("_csrf", tok)
		r := c.post("/setup", f)
		if r.status != http.StatusForbidden && r.status != http.StatusUnprocessableEntity {
			t.Errorf("bad setup %d: status %d", i, r.status)
		}
		if strings.Contains(r.body, "<script>") {
			t.Errorf("bad setup %d: input echoed unescaped", i)
		}
		if count() != 0 {
			t.Fatalf("bad setup %d created an admin", i)
		}
	}
	r = c.post("/setup", url.Values{"_csrf": {tok}, "token": {token}, "username": {"root"}, "password": {platPassword}, "password_confirm": {platPassword}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("setup: status %d Location %q; body %.300s", r.status, r.header.Get("Location"), r.body)
	}
	if count() != 1 {
		t.Fatalf("admins after setup: %d, want 1", count())
	}
	if r := c.get("/"); r.status != http.StatusOK {
		t.Errorf("signed in after setup: status %d", r.status)
	}
	a, err := e.st.GetAdminByUsername(context.Background(), "root")
	if err != nil || a.Role != model.RoleAdmin || !strings.HasPrefix(a.PasswordHash, "$argon2id$") {
		t.Fatalf("first admin: %+v %v", a, err)
	}
	// The token works once.
	c2 := e.client()
	tok2 := c2.csrf()
	r = c2.post("/setup", url.Values{"_csrf": {tok2}, "token": {token}, "username": {"second"}, "password": {platPassword}, "password_confirm": {platPassword}})
	if r.status == http.StatusSeeOther || count() != 1 {
		t.Errorf("second setup: status %d, admins %d; want refused and 1", r.status, count())
	}
	if r := c2.get("/setup?token=" + token); r.status != http.StatusGone {
		t.Errorf("GET /setup after setup: status %d, want 410", r.status)
	}
}
