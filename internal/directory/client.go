// Package directory reads LDAP and Active Directory sources into a
// model.Snapshot. It has no database access: callers pass a *model.Source.
package directory

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/idsync/idsync/internal/model"
)

// Client reads directory sources. It keeps no connection between calls and
// is safe for concurrent use.
type Client struct {
	logger *slog.Logger
	now    func() time.Time // evaluates disabled flags with dates (SetClock)
}

// New returns a Client logging to logger (nil: discard).
func New(logger *slog.Logger) *Client {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Client{logger: logger, now: time.Now}
}

// SetClock makes the client evaluate dates in disabled flags (past(…),
// locked(…)) at now() instead of the wall clock; for tests. Call it before
// the client is shared.
func (c *Client) SetClock(now func() time.Time) { c.now = now }

const defaultTimeout = 30 * time.Second

func timeoutOf(src *model.Source) time.Duration {
	if src.Timeout > 0 {
		return src.Timeout
	}
	return defaultTimeout
}

func pageSizeOf(src *model.Source) uint32 {
	if src.PageSize > 0 {
		return uint32(src.PageSize)
	}
	return 1000
}

// session is one bound connection; it closes itself when ctx ends so that a
// blocked request returns at once.
type session struct {
	w    *wconn
	url  string
	stop func() bool
}

func (s *session) Close() {
	s.stop()
	_ = s.w.close()
}

// ValidateURL reports whether raw is an ldap:// or ldaps:// URL with a host.
func ValidateURL(raw string) error {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "ldap" && u.Scheme != "ldaps" {
		return errors.New("scheme must be ldap:// or ldaps://")
	}
	if u.Host == "" {
		return errors.New("host is missing")
	}
	return nil
}

// connect dials src.URLs in order and binds on the first that answers.
// Network and TLS failures move on to the next URL; a bind failure stops
// (the next server would refuse the same credentials).
func (c *Client) connect(ctx context.Context, src *model.Source) (*session, error) {
	if len(src.URLs) == 0 {
		return nil, newError(src, KindConfig, "", nil, "no server URL configured")
	}
	tlsBase, err := tlsConfig(src)
	if err != nil {
		return nil, err
	}
	var errs []*Error
	for _, raw := range src.URLs {
		raw = strings.TrimSpace(raw)
		s, err := c.dialOne(ctx, src, raw, tlsBase)
		if err == nil {
			return s, nil
		}
		e := classify(ctx, src, raw, "connect", err)
		c.logger.Warn("directory: server failed", "source", src.Name, "url", raw, "kind", e.Kind, "err", e.Cause)
		if e.Kind == KindBind || e.Kind == KindConfig || ctx.Err() != nil {
			return nil, e
		}
		errs = append(errs, e)
	}
	if len(errs) == 1 {
		return nil, errs[0]
	}
	msgs := make([]string, len(errs))
	causes := make([]error, len(errs))
	for i, e := range errs {
		msgs[i] = strings.TrimPrefix(e.user.Message, "source \""+src.Name+"\": ")
		causes[i] = e.Cause
	}
	last := errs[len(errs)-1]
	return nil, newError(src, last.Kind, last.URL, errors.Join(causes...), "no server answered: %s", strings.Join(msgs, "; "))
}

func (c *Client) dialOne(ctx context.Context, src *model.Source, raw string, tlsBase *tls.Config) (*session, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
		return nil, newError(src, KindConfig, raw, err, "invalid server URL %q: use ldap://host[:port] or ldaps://host[:port]", raw)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		host, port = u.Host, ""
	}
	if port == "" {
		port = "389"
		if u.Scheme == "ldaps" {
			port = "636"
		}
	}
	timeout := timeoutOf(src)
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(dctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, err
	}
	tc := tlsBase.Clone()
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	verifyWith(tc)
	isTLS := false
	if u.Scheme == "ldaps" {
		tlsConn := tls.Client(nc, tc)
		if err := tlsConn.HandshakeContext(dctx); err != nil {
			_ = nc.Close()
			return nil, err
		}
		nc, isTLS = tlsConn, true
	}
	raw0 := nc
	stop := context.AfterFunc(ctx, func() { _ = raw0.Close() })
	s := &session{w: newWconn(nc, timeout), url: raw, stop: stop}
	if src.StartTLS && !isTLS {
		if err := s.w.startTLS(ctx, tc); err != nil {
			s.Close()
			return nil, err
		}
	}
	if src.BindDN != "" || src.BindPassword != "" {
		if err := s.w.bind(src.BindDN, src.BindPassword); err != nil {
			s.Close()
			return nil, classify(ctx, src, raw, "bind", err)
		}
	}
	return s, nil
}

func tlsConfig(src *model.Source) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: src.ServerName}
	if strings.TrimSpace(src.CACert) != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(src.CACert)) {
			return nil, newError(src, KindConfig, "", nil, "the CA bundle holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// ValidateBindName checks a bind name: a DN, a user principal name or
// DOMAIN\user (see model.ValidateBindName).
func ValidateBindName(name string) error { return model.ValidateBindName(name) }
