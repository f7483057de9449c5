package adtest_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/directory/adtest"
)

func TestMain(m *testing.M) { os.Exit(adtest.Main(m)) }

// TestFixture checks the loaded directory against the generator: user and
// group counts, a non-ASCII "Last, First" name, the reader's password, the
// big group's size and a primary group.
func TestFixture(t *testing.T) {
	s := adtest.Start(t)
	t.Logf("start took %s", s.Took)
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetTimeout(time.Minute)
	if err := c.Bind(s.ReaderUPN, adtest.ReaderPassword); err != nil {
		t.Fatalf("reader bind: %v", err)
	}
	count := func(base, filter string) int {
		t.Helper()
		r, err := c.SearchWithPaging(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter, []string{"1.1"}, nil), 1000)
		if err != nil {
			t.Fatalf("search %s: %v", filter, err)
		}
		return len(r.Entries)
	}
	if n := count(adtest.PeopleDN, "(objectClass=user)"); n != adtest.Users {
		t.Errorf("people: %d users, want %d", n, adtest.Users)
	}
	if n := count(adtest.ExtraDN, "(objectClass=user)"); n != adtest.ExtraUsers {
		t.Errorf("extra: %d users, want %d", n, adtest.ExtraUsers)
	}
	if n := count(adtest.BaseDN, "(memberOf="+ldap.EscapeFilter(adtest.BigDN)+")"); n != adtest.Users+adtest.ExtraUsers {
		t.Errorf("big-list: %d members, want %d", n, adtest.Users+adtest.ExtraUsers)
	}
	u := adtest.UserN(13)
	r, err := c.Search(ldap.NewSearchRequest(u.DN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"cn", "sAMAccountName"}, nil))
	if err != nil || len(r.Entries) != 1 {
		t.Fatalf("read %q: %v", u.DN, err)
	}
	if got := r.Entries[0].GetAttributeValue("cn"); got != u.CN || got != "Čapek, Jörg 0013" {
		t.Errorf("cn = %q, want %q", got, u.CN)
	}
	// Primary group members are in no member attribute but in primaryGroupID.
	if n := count(adtest.PeopleDN, "(&(objectClass=user)(memberOf="+ldap.EscapeFilter(adtest.PrimaryDN)+"))"); n != 1 {
		t.Errorf("contractors: %d member-attribute members, want 1 (user 7)", n)
	}
	if n := count(adtest.PeopleDN, "(&(objectClass=user)(!(primaryGroupID=513)))"); n != 20 {
		t.Errorf("%d users with another primary group, want 20", n)
	}
}

// TestLDAPS checks that ldaps answers with a certificate from CACert.
func TestLDAPS(t *testing.T) {
	s := adtest.Start(t)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(s.CACert)) {
		t.Fatal("CACert holds no certificate")
	}
	c, err := ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}))
	if err != nil {
		t.Fatalf("ldaps: %v", err)
	}
	defer c.Close()
	if err := c.Bind(s.ReaderUPN, adtest.ReaderPassword); err != nil {
		t.Fatalf("bind over ldaps: %v", err)
	}
}
