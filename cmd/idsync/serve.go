package main

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/idsync/idsync/internal/alerts"
	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/products"
	"github.com/idsync/idsync/internal/syncer"
	"github.com/idsync/idsync/web"
)

// runServe is `idsync serve`: it migrates the database, starts the demo
// directory with --demo, serves the console until ctx ends and then shuts
// down gracefully.
func (m *Main) runServe(ctx context.Context, args []string) error {
	if err := m.setup(ctx, "serve", args, nil); err != nil {
		return err
	}
	log := m.Logger
	cfg := m.Config
	log.Info("serve: database ready", "dialect", m.Store.Dialect())

	if cfg.Demo {
		if err := m.startDemo(ctx); err != nil {
			return err
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// The periodic refresh (scheduler.go) plans and applies every enabled
	// source through the sync engine, on one replica at a time.
	dir := directory.New(log)
	engine := syncer.New(m.Store, dir, log)
	engine.SetBatchSize(cfg.ApplyBatchSize)
	sched, err := m.newScheduler(engine, reg)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}

	n, err := m.Store.CountAdmins(ctx)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	var token string
	if n == 0 {
		if token, err = web.NewSetupToken(); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
	}

	dispatcher, err := products.New(m.Store, log, products.Options{
		Policy:   products.URLPolicy{AllowLoopback: cfg.AllowLoopbackProducts},
		Registry: reg,
		Lease:    cfg.DeliveryLease,
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}

	// Alerts (SPEC §13) poll the runs and the delivery log; every alert is
	// claimed in the database, so replicas send each once.
	notifier := alerts.New(m.Store, alerts.Options{
		WebhookPolicy: products.URLPolicy{AllowLoopback: cfg.AllowLoopbackProducts},
		PublicURL:     cfg.PublicURL,
		Logger:        log,
	})

	srv, err := web.New(web.Deps{
		Alerts:         notifier,
		Products:       dispatcher,
		Store:          m.Store,
		Logger:         log,
		Config:         cfg,
		Metrics:        reg,
		SetupToken:     token,
		Scheduler:      sched,
		Syncer:         engine,
		Directory:      dir,
		DirectoryLogin: dir,
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("serve: listen on %s: %w", cfg.Addr, err)
	}
	base := baseURL(ln.Addr().String(), cfg.TLS())
	log.Info("serve: listening", "url", base)
	if token != "" {
		setup := base + "/setup?token=" + token
		// The token is a credential: it goes to standard output once and
		// never into the structured log, which is often shipped elsewhere.
		log.Info("serve: no administrator yet; the one-time setup link (valid one hour) is printed on standard output")
		fmt.Fprintf(m.Stdout, "\n  idsync is running. Create the first administrator within one hour at:\n\n    %s\n\n"+
			"  (Restart idsync for a new link if it expires.)\n\n", setup)
	} else {
		fmt.Fprintf(m.Stdout, "\n  idsync is running. Sign in at %s/login\n\n", base)
	}

	// Background workers (scheduler, product delivery) start here with ctx.
	stopScheduler := startScheduler(ctx, sched)
	defer stopScheduler()
	go func() {
		if err := dispatcher.Run(ctx); err != nil {
			log.Error("serve: product delivery stopped", "err", err)
		}
	}()

	go func() {
		if err := notifier.Run(ctx); err != nil {
			log.Error("serve: alerts stopped", "err", err)
		}
	}()

	err = srv.Serve(ctx, ln)
	// Applies started from the console stop after their current batch.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if serr := engine.Shutdown(sctx); serr != nil {
		log.Warn("serve: sync runs did not end in time", "err", serr)
	}
	log.Info("serve: stopped")
	return err
}

// baseURL turns a listen address into the URL to print: a wildcard host
// becomes 127.0.0.1 so the link works when pasted on the same machine.
func baseURL(addr string, tls bool) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host + ":" + port
}

// registerDemoSource creates the demo source, or updates the existing
// one's URLs (its port changes on every start), so that there is exactly one.
func (m *Main) registerDemoSource(ctx context.Context, src model.Source) error {
	ctx = model.WithActor(ctx, "demo")
	sources, err := m.Store.ListSources(ctx)
	if err != nil {
		return fmt.Errorf("serve: demo source: %w", err)
	}
	for _, s := range sources {
		if !s.Demo {
			continue
		}
		full, err := m.Store.GetSource(ctx, s.ID)
		if err != nil {
			return fmt.Errorf("serve: demo source: %w", err)
		}
		full.URLs = src.URLs
		full.BindDN = src.BindDN
		full.BindPassword = src.BindPassword
		if err := m.Store.UpdateSource(ctx, full); err != nil {
			return fmt.Errorf("serve: demo source: %w", err)
		}
		m.Logger.Info("serve: demo source updated", "id", full.ID, "url", strings.Join(full.URLs, " "))
		return nil
	}
	if err := m.Store.CreateSource(ctx, &src); err != nil {
		return fmt.Errorf("serve: demo source: %w", err)
	}
	m.Logger.Info("serve: demo source registered", "id", src.ID, "url", strings.Join(src.URLs, " "))
	return nil
}
