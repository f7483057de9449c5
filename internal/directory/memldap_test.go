package directory_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/directory/memldap"
	"github.com/idsync/idsync/internal/model"
)

const adBase = "DC=corp,DC=example"

// adEntries builds an AD-shaped directory: n users with binary objectGUIDs
// and userAccountControl, one big group (all users) and one nested group.
func adEntries(n int) ([]memldap.Entry, [][]byte) {
	es := []memldap.Entry{
		{DN: adBase, Attrs: map[string][]string{"objectClass": {"domain"}}},
		{DN: "OU=Staff," + adBase, Attrs: map[string][]string{"objectClass": {"organizationalUnit"}}},
	}
	var guids [][]byte
	var members []string
	for i := 0; i < n; i++ {
		g := make([]byte, 16)
		for j := range g {
			g[j] = byte(i*31 + j*7 + 1)
		}
		guids = append(guids, g)
		dn := fmt.Sprintf("CN=User %d,OU=Staff,%s", i, adBase)
		uac := "512"
		if i%4 == 0 {
			uac = "514"
		}
		es = append(es, memldap.Entry{DN: dn, Attrs: map[string][]string{
			"objectClass": {"top", "person", "organizationalPerson", "user"}, "objectCategory": {"person"},
			"objectGUID": {string(g)}, "sAMAccountName": {fmt.Sprintf("u%d", i)}, "mail": {fmt.Sprintf("u%d@corp.example", i)},
			"displayName": {fmt.Sprintf("User %d", i)}, "userAccountControl": {uac},
			"l": {"Berlin"}, "company": {"Corp"}, "extensionAttribute1": {fmt.Sprintf("CC-%d", i%3)},
		}})
		members = append(members, dn)
	}
	es = append(es,
		memldap.Entry{DN: "CN=Everyone,OU=Staff," + adBase, Attrs: map[string][]string{"objectClass": {"group"}, "cn": {"Everyone"}, "member": members}},
		memldap.Entry{DN: "CN=Parent,OU=Staff," + adBase, Attrs: map[string][]string{"objectClass": {"group"}, "cn": {"Parent"}, "member": {"CN=Everyone,OU=Staff," + adBase}}},
	)
	return es, guids
}

func adSource(url string) model.Source {
	s := model.DefaultSource(model.SourceActiveDirectory)
	s.ID, s.Name = 7, "corp-ad"
	s.URLs = []string{url}
	s.BindDN, s.BindPassword = "CN=svc,"+adBase, "pw"
	s.UserBaseDN, s.GroupBaseDN = adBase, adBase
	s.Timeout = 5 * time.Second
	return s
}

func startMem(t *testing.T, es []memldap.Entry, o memldap.Options) *memldap.Server {
	t.Helper()
	if o.BindDN == "" {
		o.BindDN, o.Password = "CN=svc,"+adBase, "pw"
	}
	srv, err := memldap.Start(context.Background(), es, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func TestADShaped(t *testing.T) {
	const n = 37
	es, guids := adEntries(n)
	srv := startMem(t, es, memldap.Options{RangeSize: 10})
	c := directory.New(nil)
	ctx := ctxT(t)
	for _, page := range []int{5, 500} {
		t.Run(fmt.Sprintf("page size %d", page), func(t *testing.T) {
			src := adSource(srv.URL())
			src.PageSize = page
			snap, err := c.Read(ctx, &src)
			if err != nil {
				t.Fatal(err)
			}
			if len(snap.Users) != n {
				t.Fatalf("users = %d, want %d", len(snap.Users), n)
			}
			ix := model.NewIndex(snap)
			// objectGUID 0x01.. rendered with the first three fields swapped.
			g0 := guids[0]
			want := fmt.Sprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
				g0[3], g0[2], g0[1], g0[0], g0[5], g0[4], g0[7], g0[6], g0[8], g0[9], g0[10], g0[11], g0[12], g0[13], g0[14], g0[15])
			u := ix.UserByID[want]
			if u == nil {
				t.Fatalf("no user with GUID %s", want)
			}
			if u.Username != "u0" || !u.Disabled || u.Attributes[model.AttrCorporateUnit] != "Corp" || u.Attributes[model.AttrCostCenter] != "CC-0" {
				t.Errorf("user 0 = %+v", u)
			}
			if u1 := ix.UserByID[snap.Users[0].ExternalID]; u1 == nil {
				t.Error("index broken")
			}
			disabled := 0
			for _, u := range snap.Users {
				if u.Disabled {
					disabled++
				}
			}
			if want := (n + 3) / 4; disabled != want {
				t.Errorf("disabled = %d, want %d", disabled, want)
			}
			every := ix.Group("CN=Everyone,OU=Staff," + adBase)
			if every == nil || len(every.Users) != n || len(every.Unresolved) != 0 {
				t.Fatalf("Everyone: range retrieval gave %d users, want %d", len(every.Users), n)
			}
			m, _ := ix.Members("CN=Parent,OU=Staff,"+adBase, true)
			if len(m) != n {
				t.Errorf("Parent nested = %d, want %d", len(m), n)
			}
		})
	}
	t.Run("read group with ranges", func(t *testing.T) {
		src := adSource(srv.URL())
		snap, err := c.ReadGroup(ctx, &src, "CN=Parent,OU=Staff,"+adBase, true)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := model.NewIndex(snap).Members("CN=Parent,OU=Staff,"+adBase, true)
		if !ok || len(m) != n || len(snap.Users) != n {
			t.Errorf("ReadGroup(Parent) nested members = %d, users %d, want %d", len(m), len(snap.Users), n)
		}
	})
	t.Run("read user by GUID", func(t *testing.T) {
		src := adSource(srv.URL())
		full, err := c.Read(ctx, &src)
		if err != nil {
			t.Fatal(err)
		}
		id := full.Users[3].ExternalID
		one, err := c.ReadUser(ctx, &src, id)
		if err != nil {
			t.Fatal(err)
		}
		if one.Users[0].ExternalID != id || len(one.Groups) != 2 {
			t.Errorf("ReadUser = users %+v, groups %+v", one.Users, one.Groups)
		}
	})
}

// cutProxy forwards to backend but closes every connection after limit
// bytes from the server: a directory that drops the connection mid-search.
// With stall, it keeps the connection open and silent instead.
func cutProxy(t *testing.T, backend string, limit int64) string {
	return proxy(t, backend, limit, false)
}

func proxy(t *testing.T, backend string, limit int64, stall bool) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			cc, err := l.Accept()
			if err != nil {
				return
			}
			sc, err := net.Dial("tcp", backend)
			if err != nil {
				cc.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(sc, cc); sc.Close() }()
			go func() {
				defer wg.Done()
				_, _ = io.CopyN(cc, sc, limit)
				if stall {
					_, _ = io.Copy(io.Discard, sc) // ends when the test closes the backend
				}
				cc.Close()
				sc.Close()
			}()
		}
	}()
	return "ldap://" + l.Addr().String()
}

func TestDropMidSearch(t *testing.T) {
	es, _ := adEntries(200)
	srv := startMem(t, es, memldap.Options{})
	url := cutProxy(t, strings.TrimPrefix(srv.URL(), "ldap://"), 6000)
	src := adSource(url)
	src.PageSize = 50
	snap, err := directory.New(nil).Read(ctxT(t), &src)
	if err == nil {
		t.Fatalf("Read through a dropping server returned %d users and no error", len(snap.Users))
	}
	if snap != nil {
		t.Error("partial snapshot returned")
	}
	if k := directory.ErrorKind(err); k != directory.KindProtocol && k != directory.KindUnreachable {
		t.Errorf("kind = %q (%v)", k, err)
	}
}

func TestCancelMidSearch(t *testing.T) {
	es, _ := adEntries(200)
	srv := startMem(t, es, memldap.Options{})
	url := proxy(t, strings.TrimPrefix(srv.URL(), "ldap://"), 6000, true)
	src := adSource(url)
	src.PageSize = 50
	src.Timeout = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	snap, err := directory.New(nil).Read(ctx, &src)
	if err == nil || snap != nil {
		t.Fatalf("Read on a stalled server = %v, %v; want an error", snap, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Read returned after %s; the context ended after 300ms", d)
	}
	if k := directory.ErrorKind(err); k != directory.KindTimeout {
		t.Errorf("kind = %q (%v), want timeout", k, err)
	}
}

func TestTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	src := adSource("ldap://" + l.Addr().String())
	src.Timeout = 300 * time.Millisecond
	start := time.Now()
	_, err = directory.New(nil).Read(ctxT(t), &src)
	if k := directory.ErrorKind(err); k != directory.KindTimeout {
		t.Errorf("kind = %q (%v), want timeout", k, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s, the timeout is 300ms", d)
	}
}

type pki struct {
	caPEM string
	ca    *x509.Certificate
	key   *ecdsa.PrivateKey
}

func newPKI(t *testing.T) *pki {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return &pki{caPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), ca: ca, key: key}
}

func (p *pki) serverTLS(t *testing.T, notAfter time.Time, names ...string) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "ldap"}, NotBefore: time.Now().Add(-2 * time.Hour),
		NotAfter: notAfter, DNSNames: names, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if len(names) > 0 {
		tpl.IPAddresses = nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func TestTLS(t *testing.T) {
	p := newPKI(t)
	es, _ := adEntries(5)
	c := directory.New(nil)
	ctx := ctxT(t)
	good := p.serverTLS(t, time.Now().Add(time.Hour))
	ldaps := startMem(t, es, memldap.Options{TLS: good})
	starttls := startMem(t, es, memldap.Options{StartTLS: good})
	expired := startMem(t, es, memldap.Options{TLS: p.serverTLS(t, time.Now().Add(-time.Hour))})
	named := startMem(t, es, memldap.Options{TLS: p.serverTLS(t, time.Now().Add(time.Hour), "ldap.corp.test")})

	cases := []struct {
		name     string
		url      string
		startTLS bool
		ca       string
		server   string
		kind     directory.Kind // "" = success
	}{
		{"ldaps trusted via CACert", ldaps.URL(), false, p.caPEM, "", ""},
		{"ldaps untrusted", ldaps.URL(), false, "", "", directory.KindTLS},
		{"starttls trusted", starttls.URL(), true, p.caPEM, "", ""},
		{"starttls untrusted", starttls.URL(), true, "", "", directory.KindTLS},
		{"expired certificate", expired.URL(), false, p.caPEM, "", directory.KindTLS},
		{"server name override", named.URL(), false, p.caPEM, "ldap.corp.test", ""},
		{"server name mismatch", named.URL(), false, p.caPEM, "", directory.KindTLS},
		{"bad CA bundle", ldaps.URL(), false, "not a pem", "", directory.KindConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := adSource(tc.url)
			src.StartTLS, src.CACert, src.ServerName = tc.startTLS, tc.ca, tc.server
			res, err := c.Test(ctx, &src)
			if got := directory.ErrorKind(err); got != tc.kind {
				t.Fatalf("kind = %q, want %q (err %v)", got, tc.kind, err)
			}
			if tc.kind == "" && res.Users != 5 {
				t.Errorf("users = %d, want 5", res.Users)
			}
			if tc.kind == directory.KindTLS && !strings.Contains(model.ErrorMessage(err), "TLS") {
				t.Errorf("message %q does not say TLS", model.ErrorMessage(err))
			}
		})
	}
}

func TestMissingExternalID(t *testing.T) {
	es, _ := adEntries(3)
	delete(es[3].Attrs, "objectGUID")
	srv := startMem(t, es, memldap.Options{})
	src := adSource(srv.URL())
	snap, err := directory.New(nil).Read(ctxT(t), &src)
	if err == nil || snap != nil {
		t.Fatalf("Read = %v, %v; want an error naming the entry", snap, err)
	}
	if msg := model.ErrorMessage(err); !strings.Contains(msg, "CN=User 1") || !strings.Contains(msg, "objectGUID") {
		t.Errorf("message %q should name the entry and the attribute", msg)
	}
}

func TestMemberUID(t *testing.T) {
	es := []memldap.Entry{
		{DN: "dc=x", Attrs: map[string][]string{"objectClass": {"domain"}}},
		{DN: "uid=ann,dc=x", Attrs: map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {"ann"}, "entryUUID": {"id-ann"}}},
		{DN: "uid=bob,dc=x", Attrs: map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {"bob"}, "entryUUID": {"id-bob"}}},
		{DN: "cn=staff,dc=x", Attrs: map[string][]string{"objectClass": {"posixGroup"}, "cn": {"staff"}, "memberUid": {"ann", "BOB", "carl"}}},
	}
	srv := startMem(t, es, memldap.Options{BindDN: "cn=r,dc=x", Password: "p"})
	src := model.DefaultSource(model.SourceOpenLDAP)
	src.Name, src.URLs, src.BindDN, src.BindPassword = "posix", []string{srv.URL()}, "cn=r,dc=x", "p"
	src.UserBaseDN, src.GroupBaseDN, src.GroupFilter, src.MemberAttr = "dc=x", "dc=x", "(objectClass=posixGroup)", "memberUid"
	c := directory.New(nil)
	snap, err := c.Read(ctxT(t), &src)
	if err != nil {
		t.Fatal(err)
	}
	g := snap.Groups[0]
	// memberUid is case-exact (nis.schema): "BOB" is not bob, in the full
	// read and in the single-user read alike.
	if strings.Join(g.Users, ",") != "id-ann" || strings.Join(g.Unresolved, ",") != "BOB,carl" || len(g.Unmatched) != 2 {
		t.Fatalf("group = %+v", g)
	}
	if um := g.Unmatched[0]; um.Reason != model.UnmatchedUnknownUID || !strings.Contains(um.Detail, "case") || um.Username != "bob" {
		t.Errorf("BOB: %+v", um)
	}
	if um := g.Unmatched[1]; um.Reason != model.UnmatchedUnknownUID || um.Username != "" {
		t.Errorf("carl: %+v", um)
	}
	one, err := c.ReadUser(ctxT(t), &src, "id-ann")
	if err != nil {
		t.Fatal(err)
	}
	if len(one.Groups) != 1 || len(one.Groups[0].Users) != 1 {
		t.Errorf("ReadUser groups = %+v", one.Groups)
	}
	bob, err := c.ReadUser(ctxT(t), &src, "id-bob")
	if err != nil || len(bob.Groups) != 0 {
		t.Errorf("ReadUser(bob) = %+v, %v; want no group", bob, err)
	}
}
