package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/config"
	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/directory/slapdtest"
	"github.com/idsync/idsync/internal/model"
)

const dirLoginLDIF = `
dn: uid=dana,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: dana
cn: Dana
sn: D
userPassword: dana-directory-pw

dn: uid=otto,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: otto
cn: Otto
sn: O
userPassword: otto-directory-pw

dn: uid=nina,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: nina
cn: Nina
sn: N
userPassword: nina-directory-pw

dn: cn=console-admins,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: console-admins
member: uid=dana,ou=people,dc=example,dc=org

dn: cn=console-auditors,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: console-auditors
member: uid=otto,ou=people,dc=example,dc=org
`

const (
	adminGroup   = "cn=console-admins,ou=groups,dc=example,dc=org"
	auditorGroup = "cn=console-auditors,ou=groups,dc=example,dc=org"
)

// dirEnv is a console whose directory sign-in uses a real slapd.
type dirEnv struct {
	*platEnv
	ldap  *slapdtest.Server
	srcID int64
}

func newDirEnv(t *testing.T) *dirEnv {
	t.Helper()
	srv := slapdtest.Start(t, slapdtest.Options{LDIF: dirLoginLDIF})
	dir := directory.New(nil)
	e := newPlatEnv(t, func(c *config.Config, d *Deps) {
		cheapHashes(c, d)
		d.DirectoryLogin = dir
	})
	src := srv.Source()
	src.ID = 0
	if err := e.st.CreateSource(context.Background(), &src); err != nil {
		t.Fatal(err)
	}
	return &dirEnv{platEnv: e, ldap: srv, srcID: src.ID}
}

// modify changes the directory as its administrator.
func (d *dirEnv) modify(t *testing.T, fn func(*ldap.Conn) error) {
	t.Helper()
	conn, err := ldap.DialURL(d.ldap.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Bind(d.ldap.BindDN, d.ldap.Password); err != nil {
		t.Fatal(err)
	}
	if err := fn(conn); err != nil {
		t.Fatal(err)
	}
}

func (d *dirEnv) groupSignIn(t *testing.T) {
	t.Helper()
	if err := d.st.UpdateConsoleAuth(context.Background(), model.ConsoleAuth{DirectorySourceID: d.srcID,
		AdminGroupDN: adminGroup, AuditorGroupDN: auditorGroup, DirectoryRecheck: 5 * time.Minute}); err != nil {
		t.Fatal(err)
	}
}

func (c *platClient) loginWith(user, pw string) platResp {
	return c.post("/login", url.Values{"_csrf": {c.csrf()}, "username": {user}, "password": {pw}})
}

func TestDirectorySignInByGroup(t *testing.T) {
	d := newDirEnv(t)
	d.createAdmin("boss", model.RoleAdmin) // local break-glass admin
	c := d.client()
	// Not set up yet: directory users are unknown.
	if r := c.loginWith("dana", "dana-directory-pw"); r.status != http.StatusUnauthorized {
		t.Fatalf("before group sign-in is set up: %d, want 401", r.status)
	}
	d.groupSignIn(t)
	// Wrong password, an unknown name and a filter injection: refused.
	for _, tc := range [][2]string{{"dana", "wrong password!"}, {"nobody", "dana-directory-pw"}, {"*", "dana-directory-pw"}, {"dana)(uid=*", "dana-directory-pw"}} {
		if r := d.client().loginWith(tc[0], tc[1]); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "Wrong username or password") {
			t.Errorf("sign-in %q: %d, want 401", tc[0], r.status)
		}
	}
	if n, _ := d.st.CountAdmins(context.Background()); n != 1 {
		t.Fatalf("refused sign-ins created accounts: %d", n)
	}
	// Members sign in with their directory password; the role follows the group.
	for _, tc := range []struct {
		user, pw string
		role     model.Role
	}{{"dana", "dana-directory-pw", model.RoleAdmin}, {"otto", "otto-directory-pw", model.RoleAuditor}} {
		if r := d.client().loginWith(tc.user, tc.pw); r.status != http.StatusSeeOther {
			t.Fatalf("%s: %d %.300s", tc.user, r.status, r.body)
		}
		a, err := d.st.GetAdminByUsername(context.Background(), tc.user)
		if err != nil || a.Role != tc.role || a.AuthSourceID != d.srcID || a.DirectoryDN == "" {
			t.Errorf("%s's account: %+v %v, want role %s from source %d", tc.user, a, err, tc.role, d.srcID)
		}
	}
	// In neither group: a clear refusal, no account.
	if r := d.client().loginWith("nina", "nina-directory-pw"); r.status != http.StatusForbidden || !strings.Contains(r.body, "neither the admin group nor the auditor group") {
		t.Errorf("nina: %d", r.status)
	}
	if _, err := d.st.GetAdminByUsername(context.Background(), "nina"); model.ErrorCode(err) != model.ENOTFOUND {
		t.Errorf("nina got an account: %v", err)
	}

	// dana is signed in; the directory disables her: her next request
	// after the re-check interval ends her sessions.
	dana := d.client()
	if r := dana.loginWith("dana", "dana-directory-pw"); r.status != http.StatusSeeOther {
		t.Fatal(r.status)
	}
	tok := dana.csrf()
	d.modify(t, func(conn *ldap.Conn) error {
		m := ldap.NewModifyRequest("uid=dana,ou=people,dc=example,dc=org", nil)
		m.Add("pwdAccountLockedTime", []string{"000001010000Z"})
		return conn.Modify(m)
	})
	if r := dana.get("/"); r.status != http.StatusOK {
		t.Fatalf("within the re-check interval: %d, want still signed in", r.status)
	}
	d.clock.Add(5*time.Minute + time.Second)
	if r := dana.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("after the re-check, disabled in the directory: %d, want 303 to sign-in", r.status)
	}
	if dana.tryChange(tok, "Dead") {
		t.Error("the disabled directory account's session still changes things")
	}
	if r := d.client().loginWith("dana", "dana-directory-pw"); r.status == http.StatusSeeOther {
		t.Error("a directory-disabled account signed in")
	}

	// otto is removed from the directory: his session ends at the re-check.
	otto := d.client()
	if r := otto.loginWith("otto", "otto-directory-pw"); r.status != http.StatusSeeOther {
		t.Fatal(r.status)
	}
	d.modify(t, func(conn *ldap.Conn) error {
		return conn.Del(ldap.NewDelRequest("uid=otto,ou=people,dc=example,dc=org", nil))
	})
	d.clock.Add(5*time.Minute + time.Second)
	if r := otto.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("removed from the directory: %d, want 303", r.status)
	}
	es, _, _ := d.st.ListAudit(context.Background(), model.ListQuery{Search: "ended all sessions of otto"})
	if len(es) == 0 || es[0].Actor != "directory" {
		t.Errorf("the re-check's ending of sessions is not audited: %+v", es)
	}
}

func TestDirectoryDownBreakGlass(t *testing.T) {
	d := newDirEnv(t)
	d.createAdmin("boss", model.RoleAdmin)
	// nina is a directory account of her own (no groups): her stored role counts.
	nina := &model.Admin{Username: "nina", Role: model.RoleAuditor, AuthSourceID: d.srcID}
	if err := d.st.CreateAdmin(context.Background(), nina); err != nil {
		t.Fatal(err)
	}
	c := d.client()
	if r := c.loginWith("nina", "nina-directory-pw"); r.status != http.StatusSeeOther {
		t.Fatalf("per-account directory sign-in: %d %.300s", r.status, r.body)
	}
	if r := d.client().loginWith("nina", "wrong password!"); r.status != http.StatusUnauthorized {
		t.Errorf("wrong directory password: %d", r.status)
	}
	// The directory goes away.
	src, err := d.st.GetSource(context.Background(), d.srcID)
	if err != nil {
		t.Fatal(err)
	}
	src.URLs = []string{"ldap://127.0.0.1:1"}
	if err := d.st.UpdateSource(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	before, _, _ := d.st.ListAudit(context.Background(), model.ListQuery{})
	r := d.client().loginWith("nina", "nina-directory-pw")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "directory could not be reached") {
		t.Errorf("directory down: %d, want 503 with a clear message", r.status)
	}
	// The local break-glass admin still signs in.
	if r := d.client().loginWith("boss", platPassword); r.status != http.StatusSeeOther {
		t.Errorf("local admin while the directory is down: %d", r.status)
	}
	// nina's open session survives the outage (re-check fails → kept).
	d.clock.Add(6 * time.Minute)
	if r := c.get("/"); r.status != http.StatusOK {
		t.Errorf("open directory session during an outage: %d, want kept", r.status)
	}
	after, _, _ := d.st.ListAudit(context.Background(), model.ListQuery{})
	if len(after) != len(before)+1 || after[0].Action != "login" { // only boss's sign-in
		t.Errorf("the outage changed something: %d → %d audit entries", len(before), len(after))
	}
}
