package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
)

// TestAPIAuthorizationMatrix calls the API over HTTP on both databases with
// every kind of credential.
func TestAPIAuthorizationMatrix(t *testing.T) {
	for _, dialect := range apiDialects {
		t.Run(dialect, func(t *testing.T) { testAPIAuthorizationMatrix(t, dialect) })
	}
}

func testAPIAuthorizationMatrix(t *testing.T, dialect string) {
	e := newAPIEnv(t, dialect)
	ctx := context.Background()
	alice := e.createAdmin("alice", model.RoleAdmin)
	audra := e.createAdmin("audra", model.RoleAuditor)
	bob := e.createAdmin("bob", model.RoleAdmin)
	adminTok, adminT := e.token(alice, "ci", model.RoleAdmin, 0)
	readTok, _ := e.token(alice, "reader", model.RoleAuditor, 0)
	audTok, _ := e.token(audra, "audit-bot", model.RoleAuditor, 0)
	revTok, revT := e.token(alice, "old", model.RoleAdmin, 0)
	shortTok, _ := e.token(alice, "short", model.RoleAdmin, 1)
	bobTok, _ := e.token(bob, "bob-ci", model.RoleAdmin, 0)
	if err := e.st.RevokeAPIToken(ctx, revT.ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	newUser := func(name string) map[string]any {
		return map[string]any{"username": name, "email": name + "@example.com"}
	}

	// Reads.
	for _, tc := range []struct {
		name, token string
		status      int
		code        string
	}{
		{"no token", "", http.StatusUnauthorized, model.EUNAUTHORIZED},
		{"wrong token", "idsync_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", http.StatusUnauthorized, model.EUNAUTHORIZED},
		{"not even a token", "hunter2", http.StatusUnauthorized, model.EUNAUTHORIZED},
		{"revoked", revTok, http.StatusUnauthorized, model.EUNAUTHORIZED},
		{"admin token", adminTok, http.StatusOK, ""},
		{"read-only token", readTok, http.StatusOK, ""},
		{"auditor's token", audTok, http.StatusOK, ""},
	} {
		r := e.api("GET", "/api/v1/users", tc.token, nil, nil)
		if r.status != tc.status || r.errCode() != tc.code {
			t.Errorf("GET users with %s: %d %q, want %d %q; body %s", tc.name, r.status, r.errCode(), tc.status, tc.code, r.raw)
		}
		if tc.status == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, r.header.Get("WWW-Authenticate"))
		}
	}
	if r := e.api("GET", "/api/v1/users", revTok, nil, nil); !strings.Contains(string(r.raw), "revoked") {
		t.Errorf("revoked token: message %s", r.raw)
	}

	// Writes.
	for _, tc := range []struct {
		name, token string
		status      int
		code        string
	}{
		// Without a token the request counts as a browser's: the CSRF check refuses it.
		{"no token", "", http.StatusForbidden, model.EFORBIDDEN},
		{"revoked", revTok, http.StatusUnauthorized, model.EUNAUTHORIZED},
		{"read-only token", readTok, http.StatusForbidden, model.EFORBIDDEN},
		{"auditor's token", audTok, http.StatusForbidden, model.EFORBIDDEN},
	} {
		r := e.api("POST", "/api/v1/users", tc.token, newUser("x-"+strings.ReplaceAll(tc.name, " ", "")), nil)
		if r.status != tc.status || r.errCode() != tc.code {
			t.Errorf("POST users with %s: %d %q, want %d %q; body %s", tc.name, r.status, r.errCode(), tc.status, tc.code, r.raw)
		}
	}
	if _, n, _ := e.st.ListUsers(ctx, model.UserFilter{}); n != 0 {
		t.Fatalf("refused writes created %d users", n)
	}
	// A token write needs no CSRF token, is attributed to the token, and
	// records the token's last use.
	r := e.api("POST", "/api/v1/users", adminTok, newUser("tina"), nil)
	if r.status != http.StatusCreated {
		t.Fatalf("POST users with admin token: %d %s", r.status, r.raw)
	}
	entries, _, err := e.st.AuditBefore(ctx, store.AuditFilter{TokenID: adminT.ID}, 0, 10)
	if err != nil || len(entries) == 0 {
		t.Fatalf("audit entries of token %d: %v %v", adminT.ID, entries, err)
	}
	if got := entries[0]; got.Actor != "alice (api:ci)" || got.Action != "create" || got.ObjectType != "user" {
		t.Errorf("audit entry = %+v, want actor alice (api:ci) creating a user", got)
	}
	tk, err := e.st.GetAPIToken(ctx, adminT.ID)
	if err != nil || tk.LastUsedAt.IsZero() || tk.LastUsedIP != "127.0.0.1" {
		t.Errorf("last use = %v from %q (%v), want now from 127.0.0.1", tk.LastUsedAt, tk.LastUsedIP, err)
	}

	// Token in the query string: refused even with a valid header.
	for _, q := range []string{"?access_token=" + adminTok, "?token=x", "?q=" + url.QueryEscape(adminTok)} {
		r := e.api("GET", "/api/v1/users"+q, adminTok, nil, nil)
		if r.status != http.StatusUnprocessableEntity || r.errCode() != model.EINVALID || !strings.Contains(string(r.raw), "Authorization header") {
			t.Errorf("token in query %.20s: %d %s", q, r.status, r.raw)
		}
	}

	// Expired: the one-day token works now, not after a day.
	if r := e.api("GET", "/api/v1/me", shortTok, nil, nil); r.status != http.StatusOK {
		t.Errorf("short token before expiry: %d %s", r.status, r.raw)
	}
	e.clock.Add(24*60*60*1e9 + 1)
	if r := e.api("GET", "/api/v1/me", shortTok, nil, nil); r.status != http.StatusUnauthorized || !strings.Contains(string(r.raw), "expired") {
		t.Errorf("expired token: %d %s", r.status, r.raw)
	}

	// The account's role now below the token's: refused at the next request.
	if _, err := e.st.SetAdminRole(ctx, bob.ID, model.RoleAuditor); err != nil {
		t.Fatal(err)
	}
	if r := e.api("GET", "/api/v1/me", bobTok, nil, nil); r.status != http.StatusForbidden {
		t.Errorf("admin token of a downgraded account: %d %s", r.status, r.raw)
	}

	// A disabled account's tokens are refused at their next request, and
	// work again when it is enabled.
	carol := e.createAdmin("carol", model.RoleAdmin)
	carolTok, _ := e.token(carol, "carol-ci", model.RoleAdmin, 0)
	if r := e.api("GET", "/api/v1/me", carolTok, nil, nil); r.status != http.StatusOK {
		t.Fatalf("carol's token: %d %s", r.status, r.raw)
	}
	if _, err := e.st.SetAdminStatus(ctx, carol.ID, model.AccountDisabled); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"GET", "POST"} {
		if r := e.api(m, "/api/v1/users", carolTok, newUser("eve"), nil); r.status != http.StatusUnauthorized || !strings.Contains(string(r.raw), "disabled") {
			t.Errorf("%s with the token of a disabled account: %d %s", m, r.status, r.raw)
		}
	}
	if _, err := e.st.SetAdminStatus(ctx, carol.ID, model.AccountActive); err != nil {
		t.Fatal(err)
	}
	if r := e.api("GET", "/api/v1/me", carolTok, nil, nil); r.status != http.StatusOK {
		t.Errorf("carol's token after enabling the account: %d %s", r.status, r.raw)
	}

	// An auditor cannot create an admin token.
	if _, err := e.st.CreateAPIToken(ctx, &model.APIToken{AdminID: audra.ID, Name: "up", Role: model.RoleAdmin}, e.clock.Now()); model.ErrorFields(err)["role"] == "" {
		t.Errorf("auditor's admin token: err %v, want a role field error", err)
	}
	// Expiry beyond a year is refused.
	far := &model.APIToken{AdminID: alice.ID, Name: "far", Role: model.RoleAdmin, ExpiresAt: e.clock.Now().AddDate(1, 0, 2)}
	if _, err := e.st.CreateAPIToken(ctx, far, e.clock.Now()); model.ErrorFields(err)["expires_at"] == "" {
		t.Errorf("token for more than a year: err %v, want an expires_at field error", err)
	}

	// Cookie-authenticated JSON writes still need the CSRF token.
	br := e.client()
	br.login("alice")
	if r := br.api("GET", "/api/v1/me", nil, nil); r.status != http.StatusOK {
		t.Errorf("cookie GET: %d %s", r.status, r.raw)
	}
	if r := br.api("POST", "/api/v1/users", newUser("carl"), nil); r.status != http.StatusForbidden {
		t.Errorf("cookie POST without CSRF: %d %s, want 403", r.status, r.raw)
	}
	if r := br.api("POST", "/api/v1/users", newUser("carl"), map[string]string{CSRFHeader: br.csrf()}); r.status != http.StatusCreated {
		t.Errorf("cookie POST with CSRF: %d %s, want 201", r.status, r.raw)
	}
	// An auditor's session reads but cannot write, CSRF or not.
	ab := e.client()
	ab.login("audra")
	if r := ab.api("POST", "/api/v1/users", newUser("dora"), map[string]string{CSRFHeader: ab.csrf()}); r.status != http.StatusForbidden {
		t.Errorf("auditor cookie POST: %d %s", r.status, r.raw)
	}
}

var tokenSecretRE = regexp.MustCompile(`data-testid="token-secret">(idsync_[A-Za-z0-9_-]+)<`)

// TestTokenPage creates a token in the console (shown once), uses it,
// and revokes it; an auditor manages only their own read-only tokens.
func TestTokenPage(t *testing.T) {
	e := newPlatEnv(t, nil)
	e.createAdmin("alice", model.RoleAdmin)
	e.createAdmin("audra", model.RoleAuditor)
	aud := e.client()
	aud.login("audra")
	r := aud.post("/tokens", url.Values{"_csrf": {aud.csrf()}, "name": {"nightly"}, "role": {"admin"}, "days": {"30"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "cannot be higher") {
		t.Errorf("auditor creating an admin token: %d", r.status)
	}
	r = aud.post("/tokens", url.Values{"_csrf": {aud.csrf()}, "name": {"nightly"}, "role": {"auditor"}, "days": {"30"}})
	m := tokenSecretRE.FindStringSubmatch(r.body)
	if r.status != http.StatusCreated || m == nil {
		t.Fatalf("auditor creating a read-only token: %d, secret found %v", r.status, m != nil)
	}
	secret := m[1]
	if got := aud.get("/tokens"); strings.Contains(got.body, secret) || !strings.Contains(got.body, "nightly") {
		t.Errorf("the token list shows the secret again, or not the token")
	}
	if r := e.api("GET", "/api/v1/me", secret, nil, nil); r.status != http.StatusOK || r.body["role"] != "auditor" {
		t.Errorf("the new token: %d %s", r.status, r.raw)
	}
	toks, _ := e.st.ListAPITokens(context.Background(), 0)
	if len(toks) != 1 {
		t.Fatalf("tokens: %v", toks)
	}
	// Another auditor's… here: the admin sees it and may revoke it.
	adm := e.client()
	adm.login("alice")
	if got := adm.get("/tokens"); !strings.Contains(got.body, "nightly") {
		t.Errorf("the admin does not see the auditor's token")
	}
	if r := adm.post("/tokens/"+objIDStr(toks[0].ID)+"/revoke", url.Values{"_csrf": {adm.csrf()}}); r.status != http.StatusSeeOther {
		t.Fatalf("admin revoking: %d %s", r.status, r.body)
	}
	if r := e.api("GET", "/api/v1/me", secret, nil, nil); r.status != http.StatusUnauthorized {
		t.Errorf("revoked token still works: %d", r.status)
	}
}
