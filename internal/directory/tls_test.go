package directory_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/directory/adtest"
	"github.com/idsync/idsync/internal/directory/memldap"
	"github.com/idsync/idsync/internal/model"
)

// cnOnlyTLS is a server certificate like Samba's generated one: the host
// only in the common name, no subjectAltName.
func (p *pki) cnOnlyTLS(t *testing.T) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "127.0.0.1"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// TestTLSMessagesSayWhatToFix checks the order and wording of certificate
// errors: trust first, then the host name or the legacy common name.
func TestTLSMessagesSayWhatToFix(t *testing.T) {
	p := newPKI(t)
	es, _ := adEntries(5)
	c := directory.New(nil)
	cnOnly := startMem(t, es, memldap.Options{TLS: p.cnOnlyTLS(t)})
	named := startMem(t, es, memldap.Options{TLS: p.serverTLS(t, time.Now().Add(time.Hour), "ldap.corp.test")})
	for _, tc := range []struct {
		name, url, ca string
		want          []string // in this order
	}{
		{"untrusted and CN only", cnOnly.URL(), "", []string{"signed by an authority this console does not trust", "CA bundle", "then:", "legacy common name (CN=127.0.0.1)", "subjectAltName"}},
		{"trusted, CN only", cnOnly.URL(), p.caPEM, []string{"legacy common name", "reissue it with a subjectAltName for 127.0.0.1"}},
		{"trusted, other host", named.URL(), p.caPEM, []string{"the certificate is for ldap.corp.test, not 127.0.0.1", "TLS server name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := adSource(tc.url)
			src.CACert = tc.ca
			_, err := c.Test(ctxT(t), &src)
			if directory.ErrorKind(err) != directory.KindTLS {
				t.Fatalf("err = %v, want a TLS error", err)
			}
			msg := model.ErrorMessage(err)
			at := 0
			for _, w := range tc.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("message %q lacks %q (after position %d)", msg, w, at)
				}
				at += i + len(w)
			}
			if tc.ca == "" && strings.Contains(msg, "legacy") && strings.Index(msg, "legacy") < strings.Index(msg, "authority") {
				t.Errorf("the host name comes before trust: %q", msg)
			}
		})
	}
}

// TestADLDAPS connects to the test AD over ldaps and with StartTLS, with
// the CA bundle, and without it (an untrusted-authority message).
func TestADLDAPS(t *testing.T) {
	s := adtest.Start(t)
	c := directory.New(nil)
	for _, tc := range []struct {
		name     string
		url      string
		startTLS bool
	}{{"ldaps", s.LDAPSURL, false}, {"StartTLS", s.URL, true}} {
		src := s.Source()
		src.URLs, src.StartTLS, src.CACert = []string{tc.url}, tc.startTLS, s.CACert
		if r, err := c.Test(ctxT(t), &src); err != nil || r.Users != adtest.Users {
			t.Errorf("%s with the CA bundle: %v (%d users)", tc.name, err, r.Users)
		}
		src.CACert = ""
		_, err := c.Test(ctxT(t), &src)
		if directory.ErrorKind(err) != directory.KindTLS || !strings.Contains(model.ErrorMessage(err), "does not trust") {
			t.Errorf("%s without the CA bundle: %v", tc.name, err)
		}
	}
}
