package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/auth"
	"github.com/idsync/idsync/internal/model"
)

var (
	mfaSecretRE    = regexp.MustCompile(`data-testid="mfa-secret">([A-Z2-7]+)<`)
	recoveryCodeRE = regexp.MustCompile(`data-testid="recovery-code">([a-z0-9-]+)<`)
)

// enrolMFA turns on TOTP for c's account and returns the secret and the
// recovery codes.
func enrolMFA(t *testing.T, e *platEnv, c *platClient) (string, []string) {
	t.Helper()
	r := c.get("/account/mfa")
	m := mfaSecretRE.FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil || !strings.Contains(r.body, `src="data:image/png;base64,`) {
		t.Fatalf("enrolment page: %d, no secret or QR code", r.status)
	}
	secret := m[1]
	if again := mfaSecretRE.FindStringSubmatch(c.get("/account/mfa").body); again == nil || again[1] != secret {
		t.Error("reloading the enrolment page changed the secret")
	}
	// A wrong code is refused and enables nothing.
	if r := c.post("/account/mfa", url.Values{"_csrf": {c.csrf()}, "code": {"000000"}}); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "not right") {
		t.Fatalf("wrong first code: %d", r.status)
	}
	code, _ := auth.TOTPCode(secret, e.clock.Now())
	r = c.post("/account/mfa", url.Values{"_csrf": {c.csrf()}, "code": {code}})
	codes := recoveryCodeRE.FindAllStringSubmatch(r.body, -1)
	if r.status != http.StatusOK || len(codes) != 10 {
		t.Fatalf("confirm: %d, %d recovery codes, want 10", r.status, len(codes))
	}
	var out []string
	for _, c := range codes {
		out = append(out, c[1])
	}
	return secret, out
}

func (c *platClient) loginPassword(user string) platResp {
	return c.post("/login", url.Values{"_csrf": {c.csrf()}, "username": {user}, "password": {platPassword}})
}

func (c *platClient) secondFactor(code string) platResp {
	return c.post("/login/mfa", url.Values{"_csrf": {c.csrf()}, "code": {code}})
}

func TestMFASignIn(t *testing.T) {
	e := newPlatEnv(t, cheapHashes)
	e.createAdmin("boss", model.RoleAdmin)
	ada := e.createAdmin("ada", model.RoleAdmin)
	c := e.client()
	c.login("ada")
	secret, recovery := enrolMFA(t, e, c)
	if r := c.get("/account"); !strings.Contains(r.body, "10 recovery codes left") {
		t.Error("My account does not show MFA on with 10 codes")
	}
	enrolCode, _ := auth.TOTPCode(secret, e.clock.Now())
	c.post("/logout", url.Values{"_csrf": {c.csrf()}})

	// The password alone no longer signs in.
	r := c.loginPassword("ada")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login/mfa" {
		t.Fatalf("password step: %d %q, want 303 to /login/mfa", r.status, r.header.Get("Location"))
	}
	if r := c.get("/"); r.status != http.StatusSeeOther {
		t.Fatalf("signed in before the second factor: %d", r.status)
	}
	// The code used to enrol is refused (same time step): a replay.
	if r := c.secondFactor(enrolCode); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "used already") {
		t.Errorf("replayed enrolment code: %d, want 401 'used already'", r.status)
	}
	if r := c.secondFactor("123456"); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "Wrong code") {
		t.Errorf("wrong code: %d", r.status)
	}
	e.clock.Add(30 * time.Second)
	code, _ := auth.TOTPCode(secret, e.clock.Now())
	if r := c.secondFactor(code); r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("right code: %d %q", r.status, r.header.Get("Location"))
	}
	if r := c.get("/"); r.status != http.StatusOK {
		t.Fatalf("after the second factor: %d", r.status)
	}
	// The same code in another sign-in: refused.
	other := e.client()
	other.loginPassword("ada")
	if r := other.secondFactor(code); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "used already") {
		t.Errorf("code replayed in another sign-in: %d", r.status)
	}
	// A recovery code works once (typed in capitals with spaces, even).
	typed := strings.ToUpper(strings.ReplaceAll(recovery[3], "-", " "))
	if r := other.secondFactor(typed); r.status != http.StatusSeeOther {
		t.Fatalf("recovery code: %d %.200s", r.status, r.body)
	}
	third := e.client()
	third.loginPassword("ada")
	if r := third.secondFactor(recovery[3]); r.status != http.StatusUnauthorized {
		t.Errorf("recovery code used twice: %d, want 401", r.status)
	}
	if n, _ := e.st.CountRecoveryCodes(context.Background(), ada.ID); n != 9 {
		t.Errorf("%d recovery codes left, want 9", n)
	}
	// The pending sign-in expires.
	e.clock.Add(6 * time.Minute)
	code, _ = auth.TOTPCode(secret, e.clock.Now())
	if r := third.secondFactor(code); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "took too long") {
		t.Errorf("second step after 6 minutes: %d", r.status)
	}

	// An admin resets ada's MFA (audited); the password alone signs in again.
	boss := e.client()
	boss.login("boss")
	bossPost(t, boss, "/accounts/"+strconv.FormatInt(ada.ID, 10)+"/mfa/reset", nil)
	if a, _ := e.st.GetAdmin(context.Background(), ada.ID); a.MFAEnabled {
		t.Error("MFA still on after the reset")
	}
	es, _, _ := e.st.ListAudit(context.Background(), model.ListQuery{Search: "mfa"})
	if len(es) == 0 || es[0].Action != "mfa_reset" || es[0].Actor != "boss" {
		t.Errorf("MFA reset not audited: %+v", es)
	}
	fresh := e.client()
	if r := fresh.loginPassword("ada"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Errorf("password sign-in after the reset: %d %q", r.status, r.header.Get("Location"))
	}
}

func TestMFARequiredForAdmins(t *testing.T) {
	e := newPlatEnv(t, cheapHashes)
	e.createAdmin("boss", model.RoleAdmin)
	e.createAdmin("audrey", model.RoleAuditor)
	boss := e.client()
	boss.login("boss")
	tok := boss.csrf()
	// Bad settings are refused and change nothing.
	r := boss.post("/accounts/settings", url.Values{"_csrf": {tok}, "require_admin_mfa": {"on"}, "directory_recheck": {"0"}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad settings: %d", r.status)
	}
	if ca, _ := e.st.GetConsoleAuth(context.Background()); ca.RequireAdminMFA {
		t.Fatal("refused settings were saved")
	}
	bossPost(t, boss, "/accounts/settings", url.Values{"require_admin_mfa": {"on"}, "directory_recheck": {"5"}})
	// boss has no MFA: every page but enrolment is closed to him now.
	if r := boss.get("/"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/account/mfa" {
		t.Errorf("admin without MFA on /: %d %q, want 303 to /account/mfa", r.status, r.header.Get("Location"))
	}
	if boss.tryChange(tok, "Blocked") {
		t.Error("admin without MFA could change things")
	}
	enrolMFA(t, e, boss)
	if r := boss.get("/"); r.status != http.StatusOK {
		t.Errorf("after enrolling: %d", r.status)
	}
	// Turning MFA off is refused while it is required.
	if r := boss.post("/account/mfa/disable", url.Values{"_csrf": {boss.csrf()}, "code": {"000000"}}); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "require MFA") {
		t.Errorf("turning off required MFA: %d", r.status)
	}
	// Auditors are not bound by it.
	aud := e.client()
	aud.login("audrey")
	if r := aud.get("/"); r.status != http.StatusOK {
		t.Errorf("auditor with MFA required of admins: %d", r.status)
	}
}
