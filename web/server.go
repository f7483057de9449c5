// Package web is idsync's admin console: an echo server rendering templ
// pages, with htmx for in-place updates. Every route is listed in
// routes.go; one file per resource holds its handlers.
package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/idsync/idsync/internal/auth"
	"github.com/idsync/idsync/internal/config"
	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/products"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/syncplan"
)

// Syncer is what the console asks of the sync engine (internal/syncer);
// *syncer.Syncer satisfies it, which web.New's caller checks at compile time.
type Syncer interface {
	Preview(ctx context.Context, sourceID int64, trig model.RunTrigger) (*model.Run, error)
	Apply(ctx context.Context, previewRunID int64, override bool, trig model.RunTrigger) (*model.Run, error)
	RefreshUser(ctx context.Context, userID int64) (*model.Run, error)
	StartPreview(ctx context.Context, sourceID int64, trig model.RunTrigger) (*model.Run, error)
	StartApply(ctx context.Context, previewRunID int64, override bool, trig model.RunTrigger) (*model.Run, error)
	Cancel(ctx context.Context, runID int64) error
	Explain(ctx context.Context, userID int64) (syncplan.Explanation, error)
	PreviewReconcile(ctx context.Context, trig model.RunTrigger) (*model.Run, error)
}

// Directory is what the console asks of the directory client
// (internal/directory): Test connection and the mapping page's group
// picker.
type Directory interface {
	Test(ctx context.Context, src *model.Source) (directory.TestResult, error)
	SearchGroups(ctx context.Context, src *model.Source, query string, limit int) ([]directory.GroupRef, error)
}

// Products is what the console asks of product delivery
// (internal/products). The products pages add the methods they call.
type Products interface {
	// Test checks that a product answers (the "Test" button).
	Test(ctx context.Context, p *model.Product) products.TestResult
}

// Deps are the server's collaborators. Store, Logger and Config are
// required; the others may be nil until their packages are wired in, and
// the pages that need them answer 503 meanwhile.
type Deps struct {
	Store   *store.Store
	Logger  *slog.Logger
	Config  *config.Config
	Metrics *prometheus.Registry // the server registers its collectors here; nil = a private registry

	Syncer    Syncer
	Directory Directory
	Products  Products
	// Scheduler runs the periodic refresh (dashboard_schedule.go); nil =
	// the pages show the schedule from the database and "Run now" is 503.
	Scheduler Scheduler
	// Alerts sends the "Send test" alert (alert_handlers.go); nil = 503.
	Alerts Alerts

	// SetupToken, when not empty and no admin exists, lets /setup?token=…
	// create the first admin once, within SetupTokenTTL of New.
	SetupToken string
	// Now is the clock (tests pass a fake one); nil = time.Now.
	Now func() time.Time
	// DirectoryLogin checks directory accounts' passwords (console
	// sign-in with the directory); nil = only local accounts sign in.
	DirectoryLogin DirectoryLogin
	// PasswordParams are the argon2id costs of new hashes; nil = the
	// defaults (tests pass cheap ones; checks read them from the hash).
	PasswordParams *auth.Params
	// PasswordHashing bounds concurrent argon2id work (internal/auth
	// Gate); nil = auth.NewGate's defaults (half the CPUs).
	PasswordHashing *auth.Gate
}

// Server is the console. Create it with New; it serves through Handler.
type Server struct {
	echo     *echo.Echo
	store    *store.Store
	log      *slog.Logger
	cfg      *config.Config
	registry *prometheus.Registry
	metrics  *httpMetrics
	sessions *dbSessionStore
	now      func() time.Time

	syncer    Syncer
	directory Directory
	products  Products
	scheduler Scheduler

	// imports holds CSV import previews until their apply (csv_import.go).
	imports importCache
	alerts  Alerts

	// signInByUser throttles guesses per account from one client,
	// signInByIP per client across accounts (login.go).
	signInByUser *auth.Throttle
	signInByIP   *auth.Throttle
	hashParams   auth.Params // argon2id cost of new password hashes
	dirLogin     DirectoryLogin
	// hashing bounds concurrent argon2id work (64 MiB and two cores
	// each), so a burst of sign-ins cannot exhaust memory or starve pages.
	hashing *auth.Gate

	// uploads are the routes allowed a larger body (AllowUpload, limits.go).
	uploads map[string]uploadRoute

	setupMu     sync.Mutex
	setupToken  string    // "" once used or when not offered
	setupIssued time.Time // the token works for SetupTokenTTL from here
}

// signInBaseDelay is the first wait after the allowed failures; each
// further failure doubles it, up to the sign-in window.
const signInBaseDelay = 30 * time.Second

// New builds the server and registers every route. It fails when a
// required dependency is missing or the metrics cannot be registered.
func New(d Deps) (*Server, error) {
	if d.Store == nil || d.Config == nil {
		return nil, errors.New("web: new: Store and Config are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = prometheus.NewRegistry()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Server{
		echo:         echo.New(),
		store:        d.Store,
		log:          d.Logger,
		cfg:          d.Config,
		registry:     d.Metrics,
		now:          d.Now,
		syncer:       d.Syncer,
		directory:    d.Directory,
		products:     d.Products,
		scheduler:    d.Scheduler,
		alerts:       d.Alerts,
		signInByUser: auth.NewThrottle(d.Config.LoginMaxFailures, signInBaseDelay, d.Config.LoginWindow, d.Now),
		signInByIP:   auth.NewThrottle(d.Config.LoginMaxFailures*4, signInBaseDelay, d.Config.LoginWindow, d.Now),
		setupToken:   d.SetupToken,
	}
	s.setupIssued = s.now()
	s.hashing = d.PasswordHashing
	if s.hashing == nil {
		s.hashing = auth.NewGate(0, 0, 0)
	}
	s.dirLogin = d.DirectoryLogin
	s.hashParams = auth.DefaultParams()
	if d.PasswordParams != nil {
		s.hashParams = *d.PasswordParams
	}
	var err error
	if s.metrics, err = newHTTPMetrics(d.Metrics); err != nil {
		return nil, err
	}
	s.sessions = newSessionStore(d.Config, d.Store, d.Now)
	s.echo.HideBanner = true
	s.echo.HidePort = true
	s.echo.HTTPErrorHandler = s.handleError
	// The real client address comes from the connection; a proxy that sets
	// X-Forwarded-For must be configured explicitly, so the rate limit per
	// IP cannot be dodged with a forged header.
	s.echo.IPExtractor = echo.ExtractIPDirect()
	if len(d.Config.TrustedProxies) > 0 {
		// Only these peers may name the client in X-Forwarded-For; the
		// rightmost address not among them is the client.
		opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
		for _, n := range d.Config.TrustedProxies {
			opts = append(opts, echo.TrustIPRange(n))
		}
		s.echo.IPExtractor = echo.ExtractIPFromXFFHeader(opts...)
	}
	s.routes()
	return s, nil
}

// Handler returns the http.Handler serving the console.
func (s *Server) Handler() http.Handler { return s.echo }

// Echo exposes the router (tests walk its routes).
func (s *Server) Echo() *echo.Echo { return s.echo }

// Serve serves on ln until ctx ends, then shuts down gracefully, waiting
// up to Config.ShutdownTimeout for requests in flight. It returns nil after
// a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      5 * time.Minute, // report downloads can be large
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		if s.cfg.TLS() {
			errc <- srv.ServeTLS(ln, s.cfg.TLSCert, s.cfg.TLSKey)
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("web: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("web: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("web: serve: %w", err)
	}
	return nil
}

// NewSetupToken returns a random one-time token for the first-admin setup page.
func NewSetupToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("web: setup token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
