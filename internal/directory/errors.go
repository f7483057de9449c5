package directory

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/model"
)

// Kind classifies why a directory operation failed.
type Kind string

// The kinds of directory failure, each with its advice to the admin.
const (
	KindDNS         Kind = "dns"         // host name does not resolve
	KindUnreachable Kind = "unreachable" // connection refused, no route, reset
	KindTLS         Kind = "tls"         // untrusted, expired or mismatched certificate
	KindBind        Kind = "bind"        // invalid credentials
	KindBaseDN      Kind = "base_dn"     // base DN does not exist
	KindFilter      Kind = "filter"      // filter does not parse
	KindTimeout     Kind = "timeout"     // no answer within the source's timeout
	KindEmpty       Kind = "empty"       // the directory returned zero users
	KindConfig      Kind = "config"      // the source itself is not usable (no URL, bad URL…)
	KindNotFound    Kind = "not_found"   // single-user read: the user is gone
	KindProtocol    Kind = "protocol"    // anything else the server answered or the connection broke
)

// Error is a classified directory failure. It unwraps to a *model.Error with
// a message that names the source and the cause (safe to show to an admin:
// it never carries the bind password), and to the underlying cause.
type Error struct {
	Kind   Kind
	Source string
	URL    string
	Cause  error
	user   *model.Error
}

func (e *Error) Error() string {
	if e.Cause == nil {
		return "directory: " + e.user.Message
	}
	return "directory: " + e.user.Message + ": " + e.Cause.Error()
}

// Unwrap exposes the user-facing *model.Error and the cause to errors.As/Is.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.user}
	}
	return []error{e.user, e.Cause}
}

// ErrorKind returns the Kind of the first *Error in err's chain, or "".
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

func codeFor(k Kind) string {
	switch k {
	case KindBind, KindBaseDN, KindFilter, KindEmpty, KindConfig:
		return model.EINVALID
	case KindNotFound:
		return model.ENOTFOUND
	default:
		return model.EUNAVAILABLE
	}
}

func newError(src *model.Source, kind Kind, url string, cause error, format string, args ...any) *Error {
	name := src.Name
	if name == "" {
		name = "(unnamed)"
	}
	msg := fmt.Sprintf("source %q: ", name) + fmt.Sprintf(format, args...)
	return &Error{Kind: kind, Source: src.Name, URL: url, Cause: cause, user: &model.Error{Code: codeFor(kind), Message: msg}}
}

// classify turns a dial, TLS, bind or search failure into an *Error.
// what says which step failed ("connect", "bind", "search users"…).
func classify(ctx context.Context, src *model.Source, url, what string, err error) *Error {
	var de *Error
	if errors.As(err, &de) {
		return de
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return newError(src, KindTimeout, url, err, "%s at %s: timed out", what, url)
		}
		return newError(src, KindTimeout, url, err, "%s at %s: cancelled", what, url)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return newError(src, KindDNS, url, err, "cannot resolve host %q (%s)", dnsErr.Name, url)
	}
	if k, detail, ok := tlsDetail(err); ok {
		return newError(src, k, url, err, "TLS handshake with %s failed: %s", url, detail)
	}
	if errors.Is(err, errConnLost) {
		return newError(src, KindProtocol, url, err, "%s at %s: connection lost: the server closed it in the middle of the answer", what, url)
	}
	if errors.Is(err, errMalformed) {
		return newError(src, KindProtocol, url, err, "%s at %s: the server sent a malformed answer", what, url)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return newError(src, KindTimeout, url, err, "%s at %s: timed out after %s", what, url, timeoutOf(src))
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return newError(src, KindUnreachable, url, err, "cannot reach %s: %s", url, shortNetErr(oe))
	}
	var le *ldap.Error
	if errors.As(err, &le) {
		switch le.ResultCode {
		case ldap.LDAPResultInvalidCredentials:
			return newError(src, KindBind, url, err, "bind as %q failed at %s: invalid credentials", src.BindDN, url)
		case ldap.LDAPResultInappropriateAuthentication, ldap.LDAPResultUnwillingToPerform, ldap.LDAPResultInsufficientAccessRights, ldap.LDAPResultConfidentialityRequired, ldap.LDAPResultStrongAuthRequired:
			if strings.HasPrefix(what, "bind") {
				return newError(src, KindBind, url, err, "bind as %q refused at %s: %s", src.BindDN, url, ldapReason(le))
			}
		case ldap.LDAPResultNoSuchObject:
			return newError(src, KindBaseDN, url, err, "%s: base DN not found at %s: %s", what, url, ldapReason(le))
		case ldap.LDAPResultInvalidDNSyntax:
			return newError(src, KindBaseDN, url, err, "%s: invalid base DN at %s: %s", what, url, ldapReason(le))
		case ldap.ErrorFilterCompile, ldap.ErrorFilterDecompile, ldap.LDAPResultFilterError:
			return newError(src, KindFilter, url, err, "%s: filter does not parse: %s", what, ldapReason(le))
		case ldap.LDAPResultTimeLimitExceeded:
			return newError(src, KindTimeout, url, err, "%s at %s: server time limit exceeded", what, url)
		case ldap.ErrorNetwork:
			msg := ""
			if le.Err != nil {
				msg = le.Err.Error()
			}
			if strings.Contains(msg, "timed out") {
				return newError(src, KindTimeout, url, err, "%s at %s: no answer within %s", what, url, timeoutOf(src))
			}
			if inner := le.Err; inner != nil {
				var oe *net.OpError
				if errors.As(inner, &oe) {
					return newError(src, KindUnreachable, url, err, "%s at %s: connection lost: %s", what, url, shortNetErr(oe))
				}
			}
			return newError(src, KindProtocol, url, err, "%s at %s: connection lost", what, url)
		}
		return newError(src, KindProtocol, url, err, "%s at %s failed: %s", what, url, ldapReason(le))
	}
	return newError(src, KindProtocol, url, err, "%s at %s failed", what, url)
}

func ldapReason(le *ldap.Error) string {
	name := ldap.LDAPResultCodeMap[le.ResultCode]
	if name == "" {
		name = fmt.Sprintf("result code %d", le.ResultCode)
	}
	if le.Err != nil && le.Err.Error() != "" {
		return name + " (" + le.Err.Error() + ")"
	}
	return name
}

func shortNetErr(oe *net.OpError) string {
	if oe.Err != nil {
		return oe.Err.Error()
	}
	return oe.Error()
}

func tlsDetail(err error) (Kind, string, bool) {
	var cp *certProblem
	if errors.As(err, &cp) {
		return KindTLS, cp.message(), true
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return KindTLS, "certificate signed by an untrusted authority", true
	}
	var ci x509.CertificateInvalidError
	if errors.As(err, &ci) {
		if ci.Reason == x509.Expired {
			return KindTLS, "certificate expired or not yet valid", true
		}
		return KindTLS, "certificate invalid: " + ci.Error(), true
	}
	var he x509.HostnameError
	if errors.As(err, &he) {
		return KindTLS, "certificate does not match host name: " + he.Error(), true
	}
	var ve *tls.CertificateVerificationError
	if errors.As(err, &ve) {
		return KindTLS, "certificate verification failed: " + ve.Err.Error(), true
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return KindTLS, "the server did not answer with TLS", true
	}
	var ae tls.AlertError
	if errors.As(err, &ae) {
		return KindTLS, "the server rejected the TLS handshake: " + ae.Error(), true
	}
	// go-ldap's StartTLS flattens the handshake error into text.
	msg := err.Error()
	switch {
	case !strings.Contains(msg, "TLS handshake failed") && !strings.Contains(msg, "tls:"):
		return "", "", false
	case strings.Contains(msg, "unknown authority"):
		return KindTLS, "certificate signed by an untrusted authority", true
	case strings.Contains(msg, "expired") || strings.Contains(msg, "not yet valid"):
		return KindTLS, "certificate expired or not yet valid", true
	case strings.Contains(msg, "certificate is valid for") || strings.Contains(msg, "doesn't contain any IP SANs"):
		return KindTLS, "certificate does not match the host name", true
	}
	return KindTLS, "handshake failed", true
}
