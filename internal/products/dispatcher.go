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

// runProduct claims and delivers one product's pairs until ctx ends.
func (d *Dispatcher) runProduct(ctx context.Context, p *model.Product) {
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
				o := d.deliver(ctx, p, j)
				if !o.OK && ctx.Err() != nil {
					continue // cut short by shutdown: not the product's fault
				}
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

// deliver performs one pair's delivery and never panics on bad answers.
func (d *Dispatcher) deliver(ctx context.Context, p *model.Product, j job) model.DeliveryOutcome {
	start := time.Now()
	c := j.claim
	out := model.DeliveryOutcome{ProductID: p.ID, UserID: c.UserID, Version: c.WantedVersion,
		RemoteID: c.RemoteID, RemoteVersion: c.RemoteVersion}
	username := c.Username
	if j.user != nil {
		username = j.user.Username
	}
	var (
		ex  *exchange
		err error
	)
	switch p.Kind {
	case model.ProductSCIM:
		sc := &scimClient{hc: d.o.Client, base: strings.TrimRight(p.BaseURL, "/"), token: p.Secret}
		var res scimResult
		res, err = deliverSCIM(ctx, sc, p, c, j.user)
		out.RemoteID, out.RemoteVersion, out.Gone = res.remoteID, res.etag, res.gone
		if sc.last.Method != "" {
			ex = &sc.last
		}
	case model.ProductWebhook:
		ex, err = postWebhook(ctx, d.o.Client, p, webhookEvent(c, j.user, nowUTC()))
	default:
		err = fmt.Errorf("unknown product kind %q", p.Kind)
	}
	lat := time.Since(start)
	faultinject.Hit(faultinject.ProductsDuringDelivery)
	out.Log = model.Delivery{ProductID: p.ID, UserID: c.UserID, Username: username, LatencyMS: int(lat.Milliseconds()), At: start.UTC()}
	if ex != nil {
		out.Log.Method, out.Log.URL, out.Log.Status = ex.Method, ex.URL, ex.Status
		out.Log.Request, out.Log.Response = string(ex.Req), string(ex.Resp)
	}
	d.m.latency.WithLabelValues(p.Name).Observe(lat.Seconds())
	if err != nil {
		out.Error = describe(err)
		out.Log.Error = out.Error
		out.RetryAfter = Backoff(c.Attempts+1, d.o.BackoffBase, d.o.BackoffMax)
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
