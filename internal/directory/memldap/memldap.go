// Package memldap is a small read-only LDAP server over a fixed set of
// in-memory entries, built on gldap. It serves the embedded demo directory
// and the directory package's fast tests: simple bind, base/one/sub
// searches with full filter evaluation (and, or, not, equality, presence,
// substrings, ordering), Simple Paged Results, size limits, Active
// Directory-style ranged retrieval of large attributes, LDAPS and StartTLS.
package memldap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jimlambrt/gldap"
)

// Entry is one directory entry. Attribute names are matched
// case-insensitively; values are raw strings (binary values allowed).
type Entry struct {
	DN    string
	Attrs map[string][]string
}

// Options configure a Server.
type Options struct {
	BindDN   string // the only identity allowed to bind and search
	Password string
	// TLS serves LDAPS when set; StartTLS accepts the StartTLS operation.
	TLS      *tls.Config
	StartTLS *tls.Config
	// RangeSize > 0 returns attributes with more values than this in
	// ranges ("member;range=0-1499"), as Active Directory does.
	RangeSize int
	// MaxPageSize > 0 caps the page of a paged search, and an unpaged
	// search returns at most this many entries (then sizeLimitExceeded),
	// as Active Directory's MaxPageSize does. ADLimits sets both like AD.
	MaxPageSize int
	// NeverEndingRange answers every ranged request with the first range
	// again (a broken server), for tests.
	NeverEndingRange bool
	// Operational attributes are returned only when asked for by name
	// (default: entryUUID).
	Operational []string
	Logger      *slog.Logger
}

// ADLimits sets Active Directory's default limits on o: MaxPageSize 1,000
// and MaxValRange 1,500 (Samba enforces neither).
func ADLimits(o Options) Options {
	o.MaxPageSize, o.RangeSize = 1000, 1500
	return o
}

// Server is a running in-memory directory.
type Server struct {
	srv     *gldap.Server
	url     string
	opts    Options
	entries []entry
	byDN    map[string]int
	oper    map[string]bool
	logger  *slog.Logger

	mu    sync.Mutex
	bound map[int]bool
	once  sync.Once
	stop  func() bool
}

type entry struct {
	dn    string
	ndn   string
	attrs []attr
}

type attr struct {
	name   string
	lname  string
	values []string
}

// Start serves entries on a free 127.0.0.1 port until Close or until ctx
// ends. It fails when the entries hold a duplicate DN or no port is free.
func Start(ctx context.Context, entries []Entry, o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: o, byDN: make(map[string]int, len(entries)), bound: map[int]bool{}, oper: map[string]bool{}, logger: o.Logger}
	ops := o.Operational
	if ops == nil {
		ops = []string{"entryUUID"}
	}
	for _, a := range ops {
		s.oper[strings.ToLower(a)] = true
	}
	s.entries = make([]entry, 0, len(entries))
	for _, e := range entries {
		n := normDN(e.DN)
		if _, dup := s.byDN[n]; dup {
			return nil, fmt.Errorf("memldap: duplicate DN %q", e.DN)
		}
		ie := entry{dn: e.DN, ndn: n}
		for name, vals := range e.Attrs {
			ie.attrs = append(ie.attrs, attr{name: name, lname: strings.ToLower(name), values: vals})
		}
		s.byDN[n] = len(s.entries)
		s.entries = append(s.entries, ie)
	}
	mux, err := gldap.NewMux()
	if err != nil {
		return nil, fmt.Errorf("memldap: %w", err)
	}
	if err := mux.Bind(s.bind); err != nil {
		return nil, fmt.Errorf("memldap: %w", err)
	}
	if err := mux.Search(s.search); err != nil {
		return nil, fmt.Errorf("memldap: %w", err)
	}
	if o.StartTLS != nil {
		if err := mux.ExtendedOperation(s.startTLS, gldap.ExtendedOperationStartTLS); err != nil {
			return nil, fmt.Errorf("memldap: %w", err)
		}
	}
	if err := mux.DefaultRoute(s.unsupported); err != nil {
		return nil, fmt.Errorf("memldap: %w", err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		srv, url, err := s.listen(mux)
		if err == nil {
			s.srv, s.url = srv, url
			s.stop = context.AfterFunc(ctx, func() { _ = s.Close() })
			return s, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("memldap: start: %w", lastErr)
}

func (s *Server) listen(mux *gldap.Mux) (*gldap.Server, string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	addr := l.Addr().String()
	_ = l.Close()
	srv, err := gldap.NewServer(gldap.WithLogger(hclog.NewNullLogger()), gldap.WithOnClose(s.onClose))
	if err != nil {
		return nil, "", err
	}
	if err := srv.Router(mux); err != nil {
		return nil, "", err
	}
	var runOpts []gldap.Option
	scheme := "ldap"
	if s.opts.TLS != nil {
		runOpts = append(runOpts, gldap.WithTLSConfig(s.opts.TLS))
		scheme = "ldaps"
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Run(addr, runOpts...) }()
	deadline := time.Now().Add(5 * time.Second)
	for !srv.Ready() {
		if time.Now().After(deadline) {
			return nil, "", errors.New("server did not become ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-errc:
		if err == nil {
			err = errors.New("server stopped")
		}
		return nil, "", err
	case <-time.After(20 * time.Millisecond):
	}
	return srv, scheme + "://" + addr, nil
}

// URL returns ldap://127.0.0.1:<port> (ldaps:// with Options.TLS).
func (s *Server) URL() string { return s.url }

// Close stops the server. Connections still open are given a moment to end.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		if s.stop != nil {
			s.stop()
		}
		done := make(chan error, 1)
		go func() { done <- s.srv.Stop() }()
		select {
		case err = <-done:
		case <-time.After(3 * time.Second):
			s.logger.Warn("memldap: connections still open at close")
		}
	})
	return err
}

func (s *Server) onClose(connID int) {
	s.mu.Lock()
	delete(s.bound, connID)
	s.mu.Unlock()
}

func (s *Server) bind(w *gldap.ResponseWriter, r *gldap.Request) {
	resp := r.NewBindResponse(gldap.WithResponseCode(gldap.ResultInvalidCredentials))
	defer func() { _ = w.Write(resp) }()
	m, err := r.GetSimpleBindMessage()
	if err != nil {
		resp.SetResultCode(gldap.ResultAuthMethodNotSupported)
		return
	}
	ok := normDN(m.UserName) == normDN(s.opts.BindDN) && string(m.Password) == s.opts.Password && s.opts.BindDN != ""
	s.mu.Lock()
	s.bound[r.ConnectionID()] = ok
	s.mu.Unlock()
	if ok {
		resp.SetResultCode(gldap.ResultSuccess)
	}
}

func (s *Server) startTLS(w *gldap.ResponseWriter, r *gldap.Request) {
	resp := r.NewExtendedResponse(gldap.WithResponseCode(gldap.ResultSuccess))
	resp.SetResponseName(gldap.ExtendedOperationStartTLS)
	if err := w.Write(resp); err != nil {
		return
	}
	if err := r.StartTLS(s.opts.StartTLS); err != nil {
		s.logger.Debug("memldap: starttls", "err", err)
	}
}

func (s *Server) unsupported(w *gldap.ResponseWriter, r *gldap.Request) {
	_ = w.Write(r.NewResponse(gldap.WithResponseCode(gldap.ResultUnwillingToPerform), gldap.WithDiagnosticMessage("read-only directory")))
}

// normDN lower-cases dn and drops blanks around separators.
func normDN(dn string) string {
	s := strings.ToLower(strings.TrimSpace(dn))
	if !strings.Contains(s, " ") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			b.WriteByte(c)
			b.WriteByte(s[i+1])
			i++
			continue
		}
		if c == ',' || c == '=' || c == '+' {
			out := strings.TrimRight(b.String(), " ")
			b.Reset()
			b.WriteString(out)
			b.WriteByte(c)
			for i+1 < len(s) && s[i+1] == ' ' {
				i++
			}
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
