package directory

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
)

// certProblem is what is wrong with a server certificate: the trust chain,
// the host name, or both. Go checks the host name before the chain, so a
// self-signed certificate without subjectAltName (Samba's generated one)
// would first report the name although the admin must fix trust first.
type certProblem struct {
	chain error // nil: trusted
	host  error // nil: the certificate names the host
	leaf  *x509.Certificate
	name  string
}

func (p *certProblem) Error() string { return p.message() }

// Unwrap exposes the underlying x509 errors.
func (p *certProblem) Unwrap() []error {
	var out []error
	for _, e := range []error{p.chain, p.host} {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}

// legacyCN reports whether the certificate names its host only in the
// common name: no DNS or IP subjectAltName.
func (p *certProblem) legacyCN() bool {
	return p.leaf != nil && len(p.leaf.DNSNames) == 0 && len(p.leaf.IPAddresses) == 0
}

// message says first what the admin must fix, then the rest.
func (p *certProblem) message() string {
	var parts []string
	if p.chain != nil {
		var ci x509.CertificateInvalidError
		switch {
		case errors.As(p.chain, &ci) && ci.Reason == x509.Expired:
			parts = append(parts, "the server's certificate has expired or is not valid yet: renew it on the server")
		case errors.As(p.chain, new(x509.UnknownAuthorityError)):
			parts = append(parts, "the server's certificate is signed by an authority this console does not trust: paste the certificate of the CA that issued it (PEM, for Active Directory the enterprise root CA exported as Base-64) into \"CA bundle\"")
		default:
			parts = append(parts, "the server's certificate cannot be verified ("+p.chain.Error()+"): check the CA bundle")
		}
	}
	if p.host != nil {
		subject := ""
		if p.leaf != nil {
			subject = p.leaf.Subject.CommonName
		}
		if p.legacyCN() {
			parts = append(parts, "the certificate names its host only in the legacy common name (CN="+subject+") and has no subjectAltName, which is refused: reissue it with a subjectAltName for "+p.name+" (see docs/directory.md, Active Directory certificates)")
		} else {
			names := append([]string(nil), p.leaf.DNSNames...)
			for _, ip := range p.leaf.IPAddresses {
				names = append(names, ip.String())
			}
			parts = append(parts, "the certificate is for "+strings.Join(names, ", ")+", not "+p.name+": connect with one of those names in the URL, or set \"TLS server name\"")
		}
	}
	if len(parts) == 2 {
		return parts[0] + "; then: " + parts[1]
	}
	return strings.Join(parts, "")
}

// verifyWith makes tc verify the chain and the host name itself, so that
// both problems are known and reported in the order an admin fixes them.
// It changes nothing about what is accepted: the same roots, the same name.
func verifyWith(tc *tls.Config) {
	roots, name := tc.RootCAs, tc.ServerName
	tc.InsecureSkipVerify = true // verification is done below, in full
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tls: the server sent no certificate")
		}
		leaf := cs.PeerCertificates[0]
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, chainErr := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		hostErr := leaf.VerifyHostname(name)
		if chainErr == nil && hostErr == nil {
			return nil
		}
		return &certProblem{chain: chainErr, host: hostErr, leaf: leaf, name: name}
	}
}
