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
	"github.com/idsync/idsync/internal/config"
	"github.com/idsync/idsync/internal/model"
)

// cheapHashes makes the server hash new passwords cheaply in tests.
func cheapHashes(_ *config.Config, d *Deps) { p := platTestParams; d.PasswordParams = &p }

// thiefOf returns a client holding a copy of c's session cookie.
func (c *platClient) thiefOf() *platClient {
	c.t.Helper()
	ck := c.cookie(SessionCookie)
	if ck == nil {
		c.t.Fatal("no session cookie to copy")
	}
	th := c.e.client()
	u, _ := url.Parse(c.e.ts.URL)
	th.hc.Jar.SetCookies(u, []*http.Cookie{{Name: SessionCookie, Value: ck.Value, Path: "/"}})
	return th
}

// tryChange posts a new attribute with c's session; it reports whether the
// server accepted it.
func (c *platClient) tryChange(tok, name string) bool {
	c.t.Helper()
	r := c.post("/attributes", url.Values{"_csrf": {tok}, "key": {strings.ToLower(name)}, "name": {name}})
	return r.status == http.StatusSeeOther
}

func accountID(t *testing.T, e *platEnv, name string) int64 {
	t.Helper()
	a, err := e.st.GetAdminByUsername(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// TestCopiedCookieRefused replays a session cookie copied before each way
// a session ends, and expects the copy to be refused: no page, no change.
func TestCopiedCookieRefused(t *testing.T) {
	cases := []struct {
		name string
		end  func(t *testing.T, e *platEnv, victim, boss *platClient, id int64)
	}{
		{"sign-out", func(t *testing.T, e *platEnv, v, _ *platClient, _ int64) {
			if r := v.post("/logout", url.Values{"_csrf": {v.csrf()}}); r.status != http.StatusSeeOther {
				t.Fatalf("logout: %d", r.status)
			}
		}},
		{"sign-out-everywhere", func(t *testing.T, e *platEnv, v, _ *platClient, _ int64) {
			if r := v.post("/account/sessions/end-all", url.Values{"_csrf": {v.csrf()}}); r.status != http.StatusSeeOther {
				t.Fatalf("end-all: %d %.200s", r.status, r.body)
			}
		}},
		{"admin-ends-sessions", func(t *testing.T, e *platEnv, _, b *platClient, id int64) {
			bossPost(t, b, "/accounts/"+strconv.FormatInt(id, 10)+"/sessions/end", nil)
		}},
		{"disable", func(t *testing.T, e *platEnv, _, b *platClient, id int64) {
			bossPost(t, b, "/accounts/"+strconv.FormatInt(id, 10)+"/disable", nil)
		}},
		{"delete", func(t *testing.T, e *platEnv, _, b *platClient, id int64) {
			bossPost(t, b, "/accounts/"+strconv.FormatInt(id, 10)+"/delete", nil)
		}},
		{"role", func(t *testing.T, e *platEnv, _, b *platClient, id int64) {
			bossPost(t, b, "/accounts/"+strconv.FormatInt(id, 10)+"/role", url.Values{"role": {"auditor"}})
		}},
		{"own-password", func(t *testing.T, e *platEnv, v, _ *platClient, _ int64) {
			r := v.post("/account/password", url.Values{"_csrf": {v.csrf()}, "current_password": {platPassword},
				"password": {"a brand new secret"}, "password_confirm": {"a brand new secret"}})
			if r.status != http.StatusSeeOther {
				t.Fatalf("change password: %d %.300s", r.status, r.body)
			}
			// The owner's browser goes on in a new session.
			if r := v.get("/account"); r.status != http.StatusOK {
				t.Errorf("owner after changing the password: %d", r.status)
			}
		}},
		{"reset-link", func(t *testing.T, e *platEnv, _, b *platClient, id int64) {
			link := makeResetLink(t, b, id)
			anon := e.client()
			r := anon.post(link, url.Values{"_csrf": {anon.csrf()}, "password": {"a brand new secret"}, "password_confirm": {"a brand new secret"}})
			if r.status != http.StatusSeeOther {
				t.Fatalf("reset: %d %.300s", r.status, r.body)
			}
		}},
		{"idle", func(t *testing.T, e *platEnv, _, _ *platClient, _ int64) {
			e.clock.Add(31 * time.Minute)
		}},
		{"absolute", func(t *testing.T, e *platEnv, v, _ *platClient, _ int64) {
			for range 25 { // stay active every 29 minutes for 12 hours
				e.clock.Add(29 * time.Minute)
				if r := v.get("/"); r.status != http.StatusOK && r.status != http.StatusSeeOther {
					t.Fatalf("keep-alive: %d", r.status)
				}
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newPlatEnv(t, cheapHashes)
			e.createAdmin("boss", model.RoleAdmin)
			e.createAdmin("vic", model.RoleAdmin)
			boss, victim := e.client(), e.client()
			boss.login("boss")
			victim.login("vic")
			thief := victim.thiefOf()
			tok := thief.csrf()
			if r := thief.get("/"); r.status != http.StatusOK {
				t.Fatalf("the copy does not work before: %d", r.status)
			}
			if !thief.tryChange(tok, "Before") {
				t.Fatal("the copy cannot change anything before; the test proves nothing")
			}
			tc.end(t, e, victim, boss, accountID(t, e, "vic"))
			if r := thief.get("/"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
				t.Errorf("copied cookie after %s: GET / = %d %q, want 303 to /login", tc.name, r.status, r.header.Get("Location"))
			}
			if thief.tryChange(tok, "After") {
				t.Errorf("copied cookie after %s still changes things", tc.name)
			}
			defs, _ := e.st.ListAttributes(context.Background())
			for _, d := range defs {
				if d.Name == "After" {
					t.Errorf("attribute created with a dead session")
				}
			}
			if r := boss.get("/"); r.status != http.StatusOK && tc.name != "absolute" && tc.name != "idle" {
				t.Errorf("another account's session ended too: %d", r.status)
			}
		})
	}
}

func bossPost(t *testing.T, b *platClient, path string, form url.Values) platResp {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("_csrf", b.csrf())
	r := b.post(path, form)
	if r.status != http.StatusSeeOther {
		t.Fatalf("POST %s: %d %.300s", path, r.status, r.body)
	}
	return r
}

var resetLinkRE = regexp.MustCompile(`data-testid="reset-link">https?://[^/]+(/reset-password/[^<]+)<`)

func makeResetLink(t *testing.T, b *platClient, id int64) string {
	t.Helper()
	r := b.post("/accounts/"+strconv.FormatInt(id, 10)+"/reset-password", url.Values{"_csrf": {b.csrf()}})
	m := resetLinkRE.FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil {
		t.Fatalf("reset link: %d, no link in %.300s", r.status, r.body)
	}
	return m[1]
}

func TestAccountsPageAndRefusals(t *testing.T) {
	e := newPlatEnv(t, cheapHashes)
	e.createAdmin("boss", model.RoleAdmin)
	e.createAdmin("audrey", model.RoleAuditor)
	boss := e.client()
	boss.login("boss")
	r := boss.get("/accounts")
	if r.status != http.StatusOK || strings.Count(r.body, `data-testid="account-row"`) != 2 {
		t.Fatalf("accounts page: %d, want 2 rows", r.status)
	}
	aud := e.client()
	aud.login("audrey")
	if r := aud.get("/accounts"); r.status != http.StatusForbidden {
		t.Errorf("auditor on /accounts: %d, want 403", r.status)
	}
	if r := aud.get("/"); strings.Contains(r.body, `href="/accounts"`) {
		t.Error("auditor's navigation shows Accounts")
	}

	auditCount := func() int {
		_, n, err := e.st.ListAudit(context.Background(), model.ListQuery{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Create: bad input is refused with a message and creates nothing.
	before := auditCount()
	tok := boss.csrf()
	for _, f := range []url.Values{
		{"username": {"new one"}, "role": {"admin"}, "password": {platPassword}, "password_confirm": {platPassword}},
		{"username": {"newbie"}, "role": {"owner"}, "password": {platPassword}, "password_confirm": {platPassword}},
		{"username": {"newbie"}, "role": {"admin"}, "password": {"short"}, "password_confirm": {"short"}},
		{"username": {"boss"}, "role": {"admin"}, "password": {platPassword}, "password_confirm": {platPassword}},
	} {
		f.Set("_csrf", tok)
		if r := boss.post("/accounts", f); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `class="error"`) {
			t.Errorf("create %v: %d, want 422 with a field message", f, r.status)
		}
	}
	if got := auditCount(); got != before {
		t.Errorf("refused creates wrote %d audit entries", got-before)
	}
	r = boss.post("/accounts", url.Values{"_csrf": {tok}, "username": {"newbie"}, "role": {"auditor"}, "password": {platPassword}, "password_confirm": {platPassword}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("create: %d %.300s", r.status, r.body)
	}
	nb, err := e.st.GetAdminByUsername(context.Background(), "newbie")
	if err != nil || nb.Role != model.RoleAuditor || !nb.Active() {
		t.Fatalf("created account: %+v %v", nb, err)
	}
	if err := auth.CheckPassword(nb.PasswordHash, platPassword); err != nil {
		t.Errorf("created account's password: %v", err)
	}

	// The last active admin: refused with a message, nothing changes.
	bossID := accountID(t, e, "boss")
	before = auditCount()
	for _, p := range []struct {
		path string
		form url.Values
	}{{"/disable", nil}, {"/delete", nil}, {"/role", url.Values{"role": {"auditor"}}}} {
		f := url.Values{"_csrf": {boss.csrf()}}
		for k, v := range p.form {
			f[k] = v
		}
		r := boss.post("/accounts/"+strconv.FormatInt(bossID, 10)+p.path, f)
		if r.status != http.StatusSeeOther {
			t.Fatalf("%s: %d", p.path, r.status)
		}
		page := boss.get("/accounts/" + strconv.FormatInt(bossID, 10))
		if !strings.Contains(page.body, "last active administrator") {
			t.Errorf("%s of the last admin: no clear message; page %.200s", p.path, page.body)
		}
	}
	r = boss.post("/accounts/"+strconv.FormatInt(nb.ID, 10)+"/role", url.Values{"_csrf": {boss.csrf()}, "role": {"owner"}})
	if page := boss.get("/accounts/" + strconv.FormatInt(nb.ID, 10)); !strings.Contains(page.body, "Unknown role") {
		t.Errorf("unknown role: no message (%d)", r.status)
	}
	if got := auditCount(); got != before {
		t.Errorf("refused changes wrote %d audit entries", got-before)
	}
	if a, _ := e.st.GetAdmin(context.Background(), bossID); !a.Active() || a.Role != model.RoleAdmin {
		t.Errorf("the last admin changed: %+v", a)
	}
	if r := boss.get("/"); r.status != http.StatusOK {
		t.Errorf("boss signed out by refused changes: %d", r.status)
	}
}

func TestMyPasswordAndResetLinkRefusals(t *testing.T) {
	e := newPlatEnv(t, cheapHashes)
	e.createAdmin("boss", model.RoleAdmin)
	aud := e.createAdmin("audrey", model.RoleAuditor)
	c := e.client()
	c.login("audrey")
	// Wrong current password: message, nothing changes, still signed in.
	r := c.post("/account/password", url.Values{"_csrf": {c.csrf()}, "current_password": {"not my password"},
		"password": {"a brand new secret"}, "password_confirm": {"a brand new secret"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "not your current password") {
		t.Fatalf("wrong current password: %d", r.status)
	}
	if a, _ := e.st.GetAdmin(context.Background(), aud.ID); a.PasswordHash != aud.PasswordHash {
		t.Error("password changed despite a wrong current one")
	}
	// An auditor may change their own password.
	r = c.post("/account/password", url.Values{"_csrf": {c.csrf()}, "current_password": {platPassword},
		"password": {"a brand new secret"}, "password_confirm": {"a brand new secret"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("auditor changes own password: %d %.300s", r.status, r.body)
	}

	boss := e.client()
	boss.login("boss")
	link := makeResetLink(t, boss, aud.ID)
	anon := e.client()
	if r := anon.get(link); r.status != http.StatusOK || !strings.Contains(r.body, "audrey") {
		t.Fatalf("reset page: %d", r.status)
	}
	if r := anon.post(link, url.Values{"_csrf": {anon.csrf()}, "password": {"short"}, "password_confirm": {"short"}}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("short password through the link: %d", r.status)
	}
	if r := anon.post(link, url.Values{"_csrf": {anon.csrf()}, "password": {"reset secret 123"}, "password_confirm": {"reset secret 123"}}); r.status != http.StatusSeeOther {
		t.Fatalf("use link: %d", r.status)
	}
	// Reused link: a clear message, the password stays.
	r = anon.post(link, url.Values{"_csrf": {anon.csrf()}, "password": {"another secret 45"}, "password_confirm": {"another secret 45"}})
	if r.status != http.StatusNotFound || !strings.Contains(r.body, "used or has expired") {
		t.Errorf("reused link: %d", r.status)
	}
	a, _ := e.st.GetAdmin(context.Background(), aud.ID)
	if auth.CheckPassword(a.PasswordHash, "reset secret 123") != nil {
		t.Error("the reused link changed the password")
	}
	// Expired link.
	link = makeResetLink(t, boss, aud.ID)
	e.clock.Add(24*time.Hour + time.Minute)
	if r := anon.get(link); r.status != http.StatusNotFound || !strings.Contains(r.body, "used or has expired") {
		t.Errorf("expired link: %d", r.status)
	}
}

var sessionEndRE = regexp.MustCompile(`action="(/account/sessions/[0-9a-f]+/end)"`)

func TestMySessions(t *testing.T) {
	e := newPlatEnv(t, cheapHashes)
	e.createAdmin("boss", model.RoleAdmin)
	e.createAdmin("audrey", model.RoleAuditor)
	phone, laptop, tablet := e.client(), e.client(), e.client()
	for _, c := range []*platClient{phone, laptop, tablet} {
		c.login("audrey")
	}
	r := laptop.get("/account")
	if n := strings.Count(r.body, `data-testid="session-row"`); n != 3 || !strings.Contains(r.body, `data-testid="session-current"`) {
		t.Fatalf("My account lists %d sessions, want 3 with this one marked", n)
	}
	ends := sessionEndRE.FindAllStringSubmatch(r.body, -1)
	if len(ends) != 2 {
		t.Fatalf("%d End buttons, want 2 (not this session)", len(ends))
	}
	// An auditor ends one other session of theirs.
	if r := laptop.post(ends[0][1], url.Values{"_csrf": {laptop.csrf()}}); r.status != http.StatusSeeOther {
		t.Fatalf("end one: %d", r.status)
	}
	alive := 0
	for _, c := range []*platClient{phone, tablet} {
		if c.get("/").status == http.StatusOK {
			alive++
		}
	}
	if alive != 1 {
		t.Errorf("%d of the other two sessions alive, want 1", alive)
	}
	// Another account's session cannot be ended from here.
	boss := e.client()
	boss.login("boss")
	r = boss.get("/account")
	if m := regexp.MustCompile(`data-testid="session-current"`).FindString(r.body); m == "" {
		t.Fatal("boss's own session not shown")
	}
	aid := accountID(t, e, "boss")
	bs, _ := e.st.ListAdminSessions(context.Background(), aid, e.clock.Now(), 30*time.Minute)
	if len(bs) != 1 {
		t.Fatalf("boss has %d sessions", len(bs))
	}
	if r := laptop.post("/account/sessions/"+bs[0].IDHash+"/end", url.Values{"_csrf": {laptop.csrf()}}); r.status != http.StatusSeeOther {
		t.Fatalf("end another's session: %d", r.status)
	}
	if boss.get("/").status != http.StatusOK {
		t.Error("an auditor ended the boss's session from My account")
	}
	// The Accounts page counts open sessions.
	if r := boss.get("/accounts"); !strings.Contains(r.body, `data-testid="account-sessions">2<`) {
		t.Errorf("accounts page does not count audrey's 2 sessions")
	}
	// Sign out everywhere (an auditor may): every session ends.
	if r := laptop.post("/account/sessions/end-all", url.Values{"_csrf": {laptop.csrf()}}); r.status != http.StatusSeeOther {
		t.Fatalf("sign out everywhere: %d", r.status)
	}
	for i, c := range []*platClient{phone, laptop, tablet} {
		if c.get("/").status == http.StatusOK {
			t.Errorf("session %d survived sign out everywhere", i)
		}
	}
}
