// Package products delivers user changes to downstream products (SPEC §9):
// SCIM 2.0 service providers and signed webhooks, from the store's
// level-triggered outbox.
package products

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/idsync/idsync/internal/faultinject"
	"github.com/idsync/idsync/internal/model"
)

// Options tunes a Dispatcher; zero values get the defaults shown.
type Options struct {
	// Owner names this replica in leases; default host-pid-random.
	Owner string
	// Policy is applied to every connection (and by CheckURL at save time).
	Policy URLPolicy
	// Client overrides the HTTP client; default NewHTTPClient(Policy, Timeout).
	Client  *http.Client
	Timeout time.Duration // per request, default 10s
	// PollInterval is how often idle products look for due pairs (500ms)
	// and how often the product list is re-read (×4).
	PollInterval time.Duration
	Lease        time.Duration // claim lease, default 2m
	BatchSize    int           // pairs claimed at once, default 200
	BackoffBase  time.Duration // first retry delay, default 1s
	BackoffMax   time.Duration // cap, default 10m
	// ProbeInterval is how long a product that refused idsync's
	// credentials (401 / 403) pauses before one delivery tries again;
	// default 1m. Saving the product retries at once.
	ProbeInterval time.Duration
	// KeepDeliveries is how many delivery log entries each product keeps
	// (pruned once a minute); default 200,000.
	KeepDeliveries int
	// Registry receives the metrics; nil: not registered.
	Registry prometheus.Registerer
}

func (o *Options) defaults() {
	if o.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		o.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Client == nil {
		o.Client = NewHTTPClient(o.Policy, o.Timeout)
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 200
	}
	if o.KeepDeliveries <= 0 {
		o.KeepDeliveries = 200000
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = time.Minute
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 10 * time.Minute
	}
}

type metrics struct {
	deliveries *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	pending    *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "idsync_product_deliveries_total", Help: "Product deliveries by product and outcome (ok, failed).",
		}, []string{"product", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "idsync_product_delivery_seconds", Help: "Time to deliver one user change to a product.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"product"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "idsync_product_pending", Help: "Users with a change not yet delivered, by product.",
		}, []string{"product"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.deliveries, m.latency, m.pending} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("products: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

// Dispatcher delivers pending (product, user) pairs. Several dispatchers
// (replicas) may run against one database: leases keep them off each
// other's pairs.
type Dispatcher struct {
	st  model.OutboxService
	log *slog.Logger
	o   Options
	m   *metrics
}

// New returns a Dispatcher over st; it fails only when the metrics cannot
// be registered.
func New(st model.OutboxService, log *slog.Logger, o Options) (*Dispatcher, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o.defaults()
	m, err := newMetrics(o.Registry)
	if err != nil {
		return nil, err
	}
	return &Dispatcher{st: st, log: log.With("component", "products"), o: o, m: m}, nil
}

// Owner returns the name this dispatcher leases pairs under.
func (d *Dispatcher) Owner() string { return d.o.Owner }

// Run delivers until ctx ends. Each enabled product gets its own runner
// (worker pool + rate limit), restarted when the product is edited. On
// return every lease this dispatcher still holds is released.
func (d *Dispatcher) Run(ctx context.Context) error {
	type running struct {
		updated time.Time
		cancel  context.CancelFunc
		done    chan struct{}
	}
	runners := map[int64]*running{}
	stop := func(id int64) {
		r := runners[id]
		r.cancel()
		<-r.done
		delete(runners, id)
	}
	defer func() {
		for id := range runners {
			stop(id)
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := d.st.ReleaseClaims(rctx, d.o.Owner); err != nil {
			d.log.Warn("release claims", "err", err)
		}
	}()
	tick := time.NewTicker(4 * d.o.PollInterval)
	defer tick.Stop()
	var lastPrune time.Time
	for {
		products, err := d.st.ListProducts(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("list products", "err", err)
		}
		if err == nil {
			seen := map[int64]bool{}
			for _, p := range products {
				if !p.Enabled {
					continue
				}
				seen[p.ID] = true
				if r, ok := runners[p.ID]; ok && r.updated.Equal(p.UpdatedAt) {
					continue
				} else if ok {
					stop(p.ID)
				}
				full, err := d.st.GetProduct(ctx, p.ID) // with the secret
				if err != nil {
					d.log.Warn("load product", "product", p.ID, "err", err)
					continue
				}
				rctx, cancel := context.WithCancel(ctx)
				r := &running{updated: p.UpdatedAt, cancel: cancel, done: make(chan struct{})}
				runners[p.ID] = r
				go func() {
					defer close(r.done)
					d.runProduct(rctx, full)
				}()
			}
			for id := range runners {
				if !seen[id] {
					stop(id)
				}
			}
			for _, p := range products {
				if c, err := d.st.ProductCounts(ctx, p.ID); err == nil {
					d.m.pending.WithLabelValues(p.Name).Set(float64(c.Pending))
				}
			}
			if time.Since(lastPrune) > time.Minute {
				lastPrune = time.Now()
				for _, p := range products {
					if _, err := d.st.PruneDeliveries(ctx, p.ID, d.o.KeepDeliveries); err != nil && ctx.Err() == nil {
						d.log.Warn("prune delivery log", "product", p.Name, "err", err)
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

type job struct {
	claim model.DeliveryClaim
	user  *model.User // nil: gone
}

// runProduct claims and delivers one product's pairs until ctx ends; when
// it stops it releases every claim it still holds, so that a restarted
// runner (the product was saved) delivers them at once.
func (d *Dispatcher) runProduct(ctx context.Context, p *model.Product) {
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := d.st.ReleaseProductClaims(rctx, p.ID, d.o.Owner); err != nil {
			d.log.Warn("release claims", "product", p.Name, "err", err)
		}
	}()
	r := &runner{d: d, p: p}
	r.failing.Store(!p.FailingSince.IsZero())
	workers := max(p.MaxConcurrency, 1)
	lim := newLimiter(p.RatePerSecond)
	jobs := make(chan job, d.o.BatchSize)
	results := make(chan model.DeliveryOutcome, d.o.BatchSize)
	var inflight atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := lim.Wait(ctx); err != nil {
					continue // shutting down: the lease is released by Run
				}
				if r.failing.Load() && !r.probe.CompareAndSwap(true, false) {
					// Paused (401 / 403): not tried, due again after a probe.
					results <- model.DeliveryOutcome{ProductID: p.ID, UserID: j.claim.UserID, Version: j.claim.WantedVersion,
						Skipped: true, RetryAfter: d.o.ProbeInterval}
					continue
				}
				o, creds := d.deliver(ctx, p, j)
				if !o.OK && ctx.Err() != nil {
					continue // cut short by shutdown: not the product's fault
				}
				r.observe(ctx, o, creds)
				results <- o
			}
		}()
	}
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		d.complete(ctx, p, results, &inflight)
	}()
	defer func() {
		close(jobs)
		wg.Wait()
		close(results)
		<-flushed
	}()

	// Never hold more than two batches (and no more than ~30 s of a rate
	// limited product's work), so leases stay far shorter than their term.
	maxHeld := int64(2 * d.o.BatchSize)
	if p.RatePerSecond > 0 {
		maxHeld = min(maxHeld, int64(max(p.RatePerSecond*30, 1)))
	}
	for ctx.Err() == nil {
		room := maxHeld - inflight.Load()
		if r.failing.Load() {
			// The product refuses idsync's credentials: one delivery at a
			// time, every ProbeInterval, until one gets through.
			if inflight.Load() > 0 {
				sleep(ctx, 10*time.Millisecond)
				continue
			}
			sleep(ctx, d.o.ProbeInterval)
			if ctx.Err() != nil || !r.failing.Load() {
				continue
			}
			room = 1
			r.probe.Store(true)
		}
		if room <= 0 {
			sleep(ctx, 10*time.Millisecond)
			continue
		}
		// A claim is one short statement; bound it so that a stuck query
		// cannot stall the product forever.
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		claims, err := d.st.ClaimDeliveries(cctx, p.ID, d.o.Owner, int(min(room, int64(d.o.BatchSize))), d.o.Lease)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("claim deliveries", "product", p.Name, "err", err)
			}
			sleep(ctx, d.o.PollInterval)
			continue
		}
		if len(claims) == 0 {
			sleep(ctx, d.o.PollInterval)
			continue
		}
		ids := make([]int64, 0, len(claims))
		for _, c := range claims {
			if !c.Deleted {
				ids = append(ids, c.UserID)
			}
		}
		users, err := d.st.UsersForDelivery(ctx, ids)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("load users", "product", p.Name, "err", err)
			}
			sleep(ctx, d.o.PollInterval) // leases expire; the pairs come back
			continue
		}
		inflight.Add(int64(len(claims)))
		for _, c := range claims {
			j := job{claim: c}
			if u, ok := users[c.UserID]; ok && !c.Deleted {
				j.user = &u
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
		}
	}
}

// runner is one product's shared delivery state.
type runner struct {
	d       *Dispatcher
	p       *model.Product
	failing atomic.Bool
	probe   atomic.Bool // the next job is the failing product's probe
}

// observe marks the product failing on a 401 / 403 and clears the mark on
// the first delivery that gets through.
func (r *runner) observe(ctx context.Context, o model.DeliveryOutcome, creds bool) {
	switch {
	case creds && !r.failing.Load():
		r.failing.Store(true)
		if _, err := r.d.st.SetProductFailing(context.WithoutCancel(ctx), r.p.ID, o.Error); err != nil {
			r.d.log.Warn("mark product failing", "product", r.p.Name, "err", err)
		}
		r.d.log.Error("product refuses idsync's credentials: deliveries paused", "product", r.p.Name, "reason", o.Error)
	case o.OK && r.failing.Load():
		r.failing.Store(false)
		if _, err := r.d.st.SetProductFailing(context.WithoutCancel(ctx), r.p.ID, ""); err != nil {
			r.d.log.Warn("clear product failing", "product", r.p.Name, "err", err)
		}
		r.d.log.Info("product accepts idsync's credentials again", "product", r.p.Name)
	}
}

// complete writes outcomes in batches: every 250 results or 50 ms.
func (d *Dispatcher) complete(ctx context.Context, p *model.Product, results <-chan model.DeliveryOutcome, inflight *atomic.Int64) {
	var buf []model.DeliveryOutcome
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	flush := func() {
		if len(buf) == 0 {
			return
		}
		// Write even while shutting down: the deliveries happened.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := d.st.CompleteDeliveries(wctx, d.o.Owner, buf); err != nil {
			// The leases expire and the pairs are delivered again: at least once.
			d.log.Error("record deliveries", "product", p.Name, "count", len(buf), "err", err)
		}
		inflight.Add(-int64(len(buf)))
		buf = buf[:0]
	}
	for {
		select {
		case o, ok := <-results:
			if !ok {
				flush()
				return
			}
			buf = append(buf, o)
			if len(buf) >= 250 {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

// deliver performs one pair's delivery and never panics on bad answers;
// creds reports a 401 / 403 (the product refuses idsync itself).
func (d *Dispatcher) deliver(ctx context.Context, p *model.Product, j job) (out model.DeliveryOutcome, creds bool) {
	start := time.Now()
	c := j.claim
	out = model.DeliveryOutcome{ProductID: p.ID, UserID: c.UserID, Version: c.WantedVersion,
		RemoteID: c.RemoteID, RemoteVersion: c.RemoteVersion, Doc: c.DeliveredDoc}
	username := c.Username
	if j.user != nil {
		username = j.user.Username
	}
	var (
		log []exchange
		err error
	)
	defer func() {
		if v := recover(); v != nil { // a bug must not take the dispatcher down
			err = fmt.Errorf("internal error while delivering: %v", v)
			d.log.Error("delivery panicked", "product", p.Name, "user", username, "panic", v)
			out.OK = false
			out = d.finish(p, out, c.Attempts, username, start, log, err)
		}
	}()
	switch p.Kind {
	case model.ProductSCIM:
		sc := &scimClient{hc: d.o.Client, base: strings.TrimRight(p.BaseURL, "/"), token: p.Secret}
		var res scimResult
		res, err = deliverSCIM(ctx, sc, p, c, j.user)
		log = sc.log
		out.RemoteID, out.RemoteVersion, out.Gone = res.remoteID, res.etag, res.gone
		if err == nil {
			out.Doc = ""
			if res.doc != nil {
				out.Doc = res.doc.encode()
			}
		}
	case model.ProductWebhook:
		var ex *exchange
		ex, err = postWebhook(ctx, d.o.Client, p, webhookEvent(c, j.user, nowUTC()))
		if ex != nil {
			log = []exchange{*ex}
		}
	default:
		err = fmt.Errorf("unknown product kind %q", p.Kind)
	}
	var he *httpError
	creds = errors.As(err, &he) && he.Credentials()
	return d.finish(p, out, c.Attempts, username, start, log, err), creds
}

// finish fills the outcome's log entries, classification and metrics.
func (d *Dispatcher) finish(p *model.Product, out model.DeliveryOutcome, attempts int, username string, start time.Time, log []exchange, err error) model.DeliveryOutcome {
	lat := time.Since(start)
	faultinject.Hit(faultinject.ProductsDuringDelivery)
	entry := func(ex *exchange) model.Delivery {
		l := model.Delivery{ProductID: p.ID, UserID: out.UserID, Username: username, Method: ex.Method, URL: ex.URL,
			Status: ex.Status, Request: string(ex.Req), Response: string(ex.Resp), LatencyMS: int(ex.Latency.Milliseconds()), At: ex.At}
		if ex.failed() {
			l.Error = ex.Err
			if l.Error == "" {
				l.Error = describe(statusErr(ex))
			}
		}
		return l
	}
	// The main entry is the last exchange, unless the delivery failed
	// after a follow-up that succeeded (a lookup after a 409): then it is
	// the last failed one. Every other failed exchange is logged too.
	main := len(log) - 1
	if err != nil && main >= 0 && !log[main].failed() {
		for i := main - 1; i >= 0; i-- {
			if log[i].failed() {
				main = i
				break
			}
		}
	}
	if main >= 0 {
		out.Log = entry(&log[main])
		for i := range log {
			if i != main && log[i].failed() {
				out.Earlier = append(out.Earlier, entry(&log[i]))
			}
		}
	} else {
		out.Log = model.Delivery{ProductID: p.ID, UserID: out.UserID, Username: username, At: start.UTC()}
	}
	out.Log.LatencyMS = int(lat.Milliseconds())
	d.m.latency.WithLabelValues(p.Name).Observe(lat.Seconds())
	if err != nil {
		out.Error = describe(err)
		if p.Secret != "" {
			out.Error = strings.ReplaceAll(out.Error, p.Secret, "***")
		}
		out.Log.Error = out.Error
		var he *httpError
		var ce *conflictError
		switch {
		case errors.As(err, &ce):
			out.Attention = true
		case errors.As(err, &he) && he.Permanent():
			out.Permanent = true
		}
		out.RetryAfter = Backoff(attempts+1, d.o.BackoffBase, d.o.BackoffMax)
		d.m.deliveries.WithLabelValues(p.Name, "failed").Inc()
		d.log.Debug("delivery failed", "product", p.Name, "user", username, "err", out.Error, "retry_in", out.RetryAfter)
		return out
	}
	out.OK = true
	d.m.deliveries.WithLabelValues(p.Name, "ok").Inc()
	return out
}

// describe turns a delivery error into the reason admins read.
func describe(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out: " + err.Error()
	case errors.Is(err, context.Canceled):
		return "cancelled (shutting down)"
	}
	return err.Error()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// TestResult is what the console's "Test" button shows.
type TestResult struct {
	OK        bool
	Status    int
	Message   string
	LatencyMS int
}

// Test checks that a product answers: SCIM GET /ServiceProviderConfig with
// the bearer token, or a signed webhook ping event. Secrets never appear in
// the message.
func (d *Dispatcher) Test(ctx context.Context, p *model.Product) TestResult {
	start := time.Now()
	var (
		ex  *exchange
		err error
	)
	switch p.Kind {
	case model.ProductSCIM:
		ex, err = testSCIM(ctx, &scimClient{hc: d.o.Client, base: strings.TrimRight(p.BaseURL, "/"), token: p.Secret})
		if ex != nil && ex.Status == 0 {
			ex = nil
		}
	case model.ProductWebhook:
		ex, err = postWebhook(ctx, d.o.Client, p, Event{Type: EventPing, Timestamp: nowUTC()})
	default:
		err = fmt.Errorf("unknown product kind %q", p.Kind)
	}
	r := TestResult{LatencyMS: int(time.Since(start).Milliseconds())}
	if ex != nil {
		r.Status = ex.Status
	}
	if err != nil {
		r.Message = describe(err)
		if p.Secret != "" {
			r.Message = strings.ReplaceAll(r.Message, p.Secret, "***")
		}
		return r
	}
	r.OK = true
	r.Message = fmt.Sprintf("OK: %s %s answered %d", ex.Method, ex.URL, ex.Status)
	return r
}
