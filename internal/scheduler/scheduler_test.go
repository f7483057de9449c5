package scheduler

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/secret"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

// sharedStores opens n stores on one fresh, migrated database, as n
// replicas would. Everything is closed and dropped when the test ends.
// Store i's sessions carry application_name idsync_replica_<i>, so a test
// can find (and end) exactly its own sessions.
func sharedStores(t *testing.T, dialect string, n int) []*store.Store {
	t.Helper()
	ctx := context.Background()
	key := make([]byte, secret.KeySize)
	var dsn string
	switch dialect {
	case store.DialectSQLite:
		dsn = "sqlite:" + filepath.Join(t.TempDir(), "idsync.db")
	case store.DialectPostgres:
		dsn = storetest.NewPostgresDB(t)
	default:
		t.Fatalf("unknown dialect %q", dialect)
	}
	var out []*store.Store
	for i := 0; i < n; i++ {
		s, err := store.Open(ctx, replicaDSN(t, dsn, i), store.Options{SecretKey: key})
		if err != nil {
			t.Fatalf("open store %d: %v", i, err)
		}
		t.Cleanup(func() { _ = s.Close() })
		if i == 0 {
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("migrate: %v", err)
			}
		}
		out = append(out, s)
	}
	return out
}

// replicaDSN tags PostgreSQL sessions of replica i with an application name.
func replicaDSN(t *testing.T, dsn string, i int) string {
	if !strings.HasPrefix(dsn, "postgres") {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse %s: %v", dsn, err)
	}
	q := u.Query()
	q.Set("application_name", fmt.Sprintf("idsync_replica_%d", i))
	u.RawQuery = q.Encode()
	return u.String()
}

func eachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	for _, d := range []string{store.DialectSQLite, store.DialectPostgres} {
		t.Run(d, func(t *testing.T) { fn(t, d) })
	}
}

// clock is a settable clock for the scheduler.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.set(t); return c }
func (c *clock) set(t time.Time)  { c.ns.Store(t.UnixNano()) }
func (c *clock) now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }

// countingRunner counts refreshes and which scheduler ran them. Its answers
// come from errs in order (nil when used up).
type countingRunner struct {
	mu    sync.Mutex
	calls int
	errs  []error
	delay time.Duration
}

func (r *countingRunner) RunScheduled(ctx context.Context, trig model.RunTrigger) ([]*model.Run, error) {
	r.mu.Lock()
	r.calls++
	n := r.calls
	var err error
	if n <= len(r.errs) {
		err = r.errs[n-1]
	}
	r.mu.Unlock()
	if r.delay > 0 {
		select {
		case <-time.After(r.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	return []*model.Run{{ID: int64(n), Status: model.RunSucceeded, Counts: map[string]int{"update_attribute": 2, "add_profile": 1}}}, nil
}

func (r *countingRunner) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// taggedRunner records which replica ran a refresh.
type taggedRunner struct {
	name string
	hits *sync.Map // name → *atomic.Int64
}

func (r taggedRunner) RunScheduled(ctx context.Context, trig model.RunTrigger) ([]*model.Run, error) {
	v, _ := r.hits.LoadOrStore(r.name, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	return []*model.Run{{ID: 1, Status: model.RunSucceeded}}, nil
}

func total(m *sync.Map) (n int64, by map[string]int64) {
	by = map[string]int64{}
	m.Range(func(k, v any) bool {
		c := v.(*atomic.Int64).Load()
		by[k.(string)] = c
		n += c
		return true
	})
	return n, by
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// startScheduler runs s until the test ends (or the returned stop is called).
func startScheduler(t *testing.T, s *Scheduler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Errorf("scheduler did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func fastOpts(c *clock, name string) Options {
	return Options{Tick: 20 * time.Millisecond, LeaseTTL: 300 * time.Millisecond, Now: c.now, Holder: name, RunNowWait: 200 * time.Millisecond}
}

func TestLeadershipOneRun(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		stores := sharedStores(t, dialect, 3)
		ctx := context.Background()
		set, err := stores[0].GetSettings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Ten days after installation: the first run (48 h after) is overdue.
		c := newClock(set.InstalledAt.Add(10 * 24 * time.Hour))
		hits := &sync.Map{}
		var scheds []*Scheduler
		var stops []func()
		for i, st := range stores {
			name := fmt.Sprintf("replica-%d", i)
			s := New(st, taggedRunner{name: name, hits: hits}, nil, fastOpts(c, name))
			scheds = append(scheds, s)
			stops = append(stops, startScheduler(t, s))
		}
		waitFor(t, "the refresh", 5*time.Second, func() bool { n, _ := total(hits); return n >= 1 })
		time.Sleep(300 * time.Millisecond) // many ticks on every replica
		if n, by := total(hits); n != 1 {
			t.Fatalf("refreshes = %d (%v), want exactly 1", n, by)
		}
		leaders := 0
		leader := -1
		for i, s := range scheds {
			if s.Leader() {
				leaders++
				leader = i
			}
		}
		if leaders != 1 {
			t.Fatalf("leaders = %d, want 1", leaders)
		}
		_, by := total(hits)
		if by[fmt.Sprintf("replica-%d", leader)] != 1 {
			t.Errorf("the refresh ran on %v, want the leader replica-%d", by, leader)
		}

		// The leader goes away: another replica takes over and runs the
		// next due refresh.
		stops[leader]()
		waitFor(t, "a new leader", 5*time.Second, func() bool {
			for i, s := range scheds {
				if i != leader && s.Leader() {
					return true
				}
			}
			return false
		})
		c.set(c.now().Add(3 * 24 * time.Hour))
		waitFor(t, "the second refresh", 5*time.Second, func() bool { n, _ := total(hits); return n >= 2 })
		time.Sleep(200 * time.Millisecond)
		n, by := total(hits)
		if n != 2 {
			t.Fatalf("refreshes = %d (%v), want 2", n, by)
		}
		if by[fmt.Sprintf("replica-%d", leader)] != 1 {
			t.Errorf("old leader ran again: %v", by)
		}
	})
}

// A leader whose database session dies (process crash, network cut) loses
// the advisory lock with it: its Renew fails, and a running scheduler on
// another replica takes over.
func TestLeaderConnectionLostPostgres(t *testing.T) {
	stores := sharedStores(t, store.DialectPostgres, 2)
	ctx := context.Background()
	// Another idsync on the same server, leading in its own database, with
	// the same lock key and the same application name: it must survive.
	neighbour := sharedStores(t, store.DialectPostgres, 1)[0]
	other, err := neighbour.TryLease(ctx, LeaseName, "neighbour", time.Second)
	if err != nil || other == nil {
		t.Fatalf("neighbour TryLease = %v, %v; want its own lease", other, err)
	}
	defer func() { _ = other.Release(ctx) }()
	crashed, err := stores[0].TryLease(ctx, LeaseName, "crashed", time.Second)
	if err != nil || crashed == nil {
		t.Fatalf("TryLease = %v, %v; want the lease", crashed, err)
	}
	c := newClock(time.Now())
	b := New(stores[1], &countingRunner{}, nil, fastOpts(c, "b"))
	startScheduler(t, b)
	time.Sleep(150 * time.Millisecond)
	if b.Leader() {
		t.Fatal("b leads while the lock is held")
	}
	key := store.LeaseAdvisoryKey(LeaseName)
	// Only this test's database and the crashed replica's own sessions:
	// another idsync on the same server holds the same key in its database.
	res := stores[1].DB().Exec(`SELECT pg_terminate_backend(l.pid) FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.classid = ? AND l.objid = ? AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND a.datname = current_database() AND a.application_name = 'idsync_replica_0'
  AND l.pid <> pg_backend_pid()`, uint32(uint64(key)>>32), uint32(uint64(key)))
	if res.Error != nil {
		t.Fatalf("terminate leader session: %v", res.Error)
	}
	if res.RowsAffected != 1 {
		t.Fatalf("terminated %d sessions, want 1", res.RowsAffected)
	}
	waitFor(t, "b takes over", 5*time.Second, b.Leader)
	if err := crashed.Renew(ctx); err == nil {
		t.Error("Renew on a dead session succeeded")
	}
	_ = crashed.Release(ctx)
	if err := other.Renew(ctx); err != nil {
		t.Errorf("the other database's leader lost its lease: %v", err)
	}
}

// A SQLite leader that stops renewing (crashed) is replaced after the TTL.
func TestLeaseExpiresSQLite(t *testing.T) {
	stores := sharedStores(t, store.DialectSQLite, 2)
	ctx := context.Background()
	l, err := stores[0].TryLease(ctx, LeaseName, "crashed", 200*time.Millisecond)
	if err != nil || l == nil {
		t.Fatalf("TryLease = %v, %v; want a lease", l, err)
	}
	other, err := stores[1].TryLease(ctx, LeaseName, "other", time.Second)
	if !errors.Is(err, store.ErrLeaseHeld) || other != nil {
		t.Fatalf("second TryLease = %v, %v; want none while held", other, err)
	}
	time.Sleep(300 * time.Millisecond)
	other, err = stores[1].TryLease(ctx, LeaseName, "other", time.Second)
	if err != nil || other == nil {
		t.Fatalf("TryLease after expiry = %v, %v; want the lease", other, err)
	}
	if err := l.Renew(ctx); err == nil {
		t.Error("Renew of a taken-over lease succeeded")
	}
	if err := other.Renew(ctx); err != nil {
		t.Errorf("Renew by the holder: %v", err)
	}
}

// A server that was down for days runs once at start-up, not once per
// missed slot, and is then back on its rhythm.
func TestCatchUpRunsOnce(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		st := sharedStores(t, dialect, 1)[0]
		ctx := context.Background()
		set, err := st.GetSettings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		set.RefreshIntervalHours = 6
		if err := st.UpdateSettings(ctx, set); err != nil {
			t.Fatal(err)
		}
		// Last refresh 10 days before "now": 40 slots missed.
		now := set.InstalledAt.Add(30 * 24 * time.Hour)
		if err := st.SaveScheduleState(ctx, model.ScheduleState{LastRunAt: now.Add(-10 * 24 * time.Hour), LastStatus: model.RunSucceeded}); err != nil {
			t.Fatal(err)
		}
		c := newClock(now)
		r := &countingRunner{}
		s := New(st, r, nil, fastOpts(c, "solo"))
		startScheduler(t, s)
		waitFor(t, "the catch-up refresh", 5*time.Second, func() bool { return r.count() >= 1 })
		time.Sleep(300 * time.Millisecond)
		if got := r.count(); got != 1 {
			t.Fatalf("refreshes = %d, want 1", got)
		}
		waitFor(t, "the outcome", 5*time.Second, func() bool {
			got, _ := st.ScheduleState(ctx)
			return got.LastStatus == model.RunSucceeded && !got.LastRunFinishedAt.IsZero()
		})
		got, err := st.ScheduleState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !got.LastRunAt.Equal(now) {
			t.Errorf("LastRunAt = %s, want %s", got.LastRunAt, now)
		}
		if len(got.LastRunIDs) != 1 || got.LastRunIDs[0] != 1 {
			t.Errorf("LastRunIDs = %v, want [1]", got.LastRunIDs)
		}
		in, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !in.Next.After(now) || in.Next.Sub(now) > 6*time.Hour {
			t.Errorf("Next = %s, want within 6 h after %s", in.Next, now)
		}
		// The next slot comes: exactly one more.
		c.set(in.Next)
		waitFor(t, "the next refresh", 5*time.Second, func() bool { return r.count() >= 2 })
		time.Sleep(200 * time.Millisecond)
		if got := r.count(); got != 2 {
			t.Fatalf("refreshes = %d, want 2", got)
		}
	})
}

// A refresh that finds a run in progress is retried on the next tick; one
// that fails is recorded and the next due refresh still goes ahead.
func TestFaults(t *testing.T) {
	st := sharedStores(t, store.DialectSQLite, 1)[0]
	ctx := context.Background()
	set, err := st.GetSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := set.InstalledAt.Add(5 * 24 * time.Hour)
	c := newClock(now)
	r := &countingRunner{errs: []error{ErrRunInProgress(), ErrRunInProgress(), model.Errorf(model.EUNAVAILABLE, "The directory did not answer.")}}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	opt := fastOpts(c, "solo")
	opt.Metrics = m
	s := New(st, r, nil, opt)
	startScheduler(t, s)

	waitFor(t, "the failed refresh", 5*time.Second, func() bool {
		got, _ := st.ScheduleState(ctx)
		return got.LastStatus == model.RunFailed
	})
	time.Sleep(200 * time.Millisecond)
	if got := r.count(); got != 3 {
		t.Fatalf("attempts = %d, want 3 (two postponed, one failed)", got)
	}
	got, _ := st.ScheduleState(ctx)
	if got.LastError != "The directory did not answer." {
		t.Errorf("LastError = %q", got.LastError)
	}
	if !got.LastRunAt.Equal(now) {
		t.Errorf("LastRunAt = %s, want %s", got.LastRunAt, now)
	}
	if v := metricValue(t, m.failures); v != 1 {
		t.Errorf("failures metric = %v, want 1", v)
	}

	// Next slot: the refresh goes ahead and succeeds.
	in, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.set(in.Next.Add(time.Minute))
	waitFor(t, "the next refresh", 5*time.Second, func() bool {
		got, _ := st.ScheduleState(ctx)
		return got.LastStatus == model.RunSucceeded
	})
	if got := r.count(); got != 4 {
		t.Errorf("attempts = %d, want 4", got)
	}
	if v := metricValue(t, m.actions.WithLabelValues("update_attribute")); v != 2 {
		t.Errorf("actions{update_attribute} = %v, want 2", v)
	}
	if v := metricValue(t, m.lastRun); v != float64(in.Next.Add(time.Minute).Unix()) {
		t.Errorf("last run metric = %v, want %v", v, in.Next.Add(time.Minute).Unix())
	}
	// The leader's next tick moves the next-run gauge past this run.
	waitFor(t, "the next run metric to move on", 5*time.Second, func() bool {
		return metricValue(t, m.nextRun) > float64(in.Next.Unix())
	})
}

// New settings take effect at once: the loop re-reads them every tick.
func TestSettingsTakeEffectAtOnce(t *testing.T) {
	st := sharedStores(t, store.DialectSQLite, 1)[0]
	ctx := context.Background()
	set, err := st.GetSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	set.TimeZone = "UTC"
	if err := st.UpdateSettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	last := time.Date(2030, 1, 10, 2, 0, 0, 0, time.UTC)
	if err := st.SaveScheduleState(ctx, model.ScheduleState{LastRunAt: last, LastStatus: model.RunSucceeded}); err != nil {
		t.Fatal(err)
	}
	c := newClock(time.Date(2030, 1, 10, 12, 0, 0, 0, time.UTC)) // next is 12 Jan 02:00
	r := &countingRunner{}
	s := New(st, r, nil, fastOpts(c, "solo"))
	startScheduler(t, s)
	time.Sleep(150 * time.Millisecond)
	if got := r.count(); got != 0 {
		t.Fatalf("refreshes before the change = %d, want 0", got)
	}
	set.RefreshIntervalHours = 6
	set.RefreshStartTime = "00:00"
	if err := st.UpdateSettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	in, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2030, 1, 10, 6, 0, 0, 0, time.UTC); !in.Next.Equal(want) {
		t.Fatalf("Next after the change = %s, want %s", in.Next, want)
	}
	waitFor(t, "the refresh under the new settings", 5*time.Second, func() bool { return r.count() == 1 })
}

func TestRunNow(t *testing.T) {
	st := sharedStores(t, store.DialectSQLite, 1)[0]
	ctx := model.WithActor(context.Background(), "alice")
	set, err := st.GetSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := newClock(set.InstalledAt.Add(time.Hour)) // nothing due
	r := &countingRunner{delay: 500 * time.Millisecond}
	s := New(st, r, nil, fastOpts(c, "solo"))
	if err := s.RunNow(ctx); model.ErrorCode(err) != model.EUNAVAILABLE {
		t.Fatalf("RunNow before Run = %v, want %s", err, model.EUNAVAILABLE)
	}
	startScheduler(t, s)
	waitFor(t, "leadership", 5*time.Second, s.Leader)
	if err := s.RunNow(ctx); err != nil {
		t.Fatalf("RunNow = %v", err)
	}
	if !s.Running() {
		t.Error("Running() = false during the refresh")
	}
	if err := s.RunNow(ctx); model.ErrorCode(err) != model.ECONFLICT {
		t.Fatalf("second RunNow = %v, want %s", err, model.ECONFLICT)
	}
	waitFor(t, "the refresh to end", 5*time.Second, func() bool {
		got, _ := st.ScheduleState(ctx)
		return got.LastStatus == model.RunSucceeded
	})
	if got := r.count(); got != 1 {
		t.Errorf("refreshes = %d, want 1", got)
	}
	got, _ := st.ScheduleState(ctx)
	if got.LastTrigger != model.TriggerAdmin {
		t.Errorf("LastTrigger = %q, want %q", got.LastTrigger, model.TriggerAdmin)
	}

	// A run in progress elsewhere (the apply lock) comes back as ECONFLICT.
	r2 := &countingRunner{errs: []error{ErrRunInProgress()}}
	// s2 uses the real clock (nanoseconds): its own start must still be
	// recognised and undone.
	opt2 := fastOpts(c, "other")
	opt2.Now = nil
	s2 := New(st, r2, nil, opt2)
	startScheduler(t, s2)
	time.Sleep(100 * time.Millisecond) // s2 is running (not leader: s is)
	err = s2.RunNow(ctx)
	if model.ErrorCode(err) != model.ECONFLICT || model.ErrorMessage(err) != "A sync run is in progress. Try again when it has finished." {
		t.Fatalf("RunNow while locked = %v", err)
	}
	after, _ := st.ScheduleState(ctx)
	if !after.LastRunAt.Equal(got.LastRunAt) || after.LastStatus != model.RunSucceeded {
		t.Errorf("a postponed refresh changed the state: %+v, want %+v", after, got)
	}
}

// metricValue reads the value of a collector holding one metric.
func metricValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var d dto.Metric
	if err := (<-ch).Write(&d); err != nil {
		t.Fatalf("read metric: %v", err)
	}
	if d.Gauge != nil {
		return d.Gauge.GetValue()
	}
	return d.Counter.GetValue()
}

// The leader prunes runs older than the retention, once a day.
func TestRetention(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		st := sharedStores(t, dialect, 1)[0]
		ctx := context.Background()
		set, err := st.GetSettings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		set.RunRetentionDays = 30
		if err := st.UpdateSettings(ctx, set); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		for _, age := range []int{45, 31, 29, 1} {
			r := &model.Run{Kind: model.RunApply, Trigger: model.TriggerSchedule, Status: model.RunSucceeded, StartedAt: now.AddDate(0, 0, -age)}
			if err := st.CreateRun(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		c := newClock(now)
		s := New(st, &countingRunner{}, nil, fastOpts(c, "solo"))
		startScheduler(t, s)
		waitFor(t, "the retention pass", 5*time.Second, func() bool {
			got, _ := st.ScheduleState(ctx)
			return !got.LastPrunedAt.IsZero()
		})
		_, n, err := st.ListRuns(ctx, model.RunFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("runs after pruning = %d, want 2 (29 and 1 days old)", n)
		}
		// Not again within a day, even with new old runs.
		old := &model.Run{Kind: model.RunApply, Trigger: model.TriggerSchedule, Status: model.RunSucceeded, StartedAt: now.AddDate(0, 0, -60)}
		if err := st.CreateRun(ctx, old); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond)
		if _, n, _ = st.ListRuns(ctx, model.RunFilter{}); n != 3 {
			t.Errorf("runs = %d, want 3: pruned twice in a day", n)
		}
		// A day later the 60-day-old run goes, and the 29-day-old one
		// has passed 30 days too.
		c.set(now.Add(25 * time.Hour))
		waitFor(t, "the next day's pass", 5*time.Second, func() bool {
			_, n, _ := st.ListRuns(ctx, model.RunFilter{})
			return n == 1
		})
	})
}

// --run-retention-days overrides the setting.
func TestRetentionOverride(t *testing.T) {
	st := sharedStores(t, store.DialectSQLite, 1)[0]
	ctx := context.Background()
	now := time.Now().UTC()
	for _, age := range []int{10, 3} {
		if err := st.CreateRun(ctx, &model.Run{Kind: model.RunApply, Trigger: model.TriggerSchedule, Status: model.RunSucceeded, StartedAt: now.AddDate(0, 0, -age)}); err != nil {
			t.Fatal(err)
		}
	}
	opt := fastOpts(newClock(now), "solo")
	opt.RetentionDays = 7 // the setting says 90
	startScheduler(t, New(st, &countingRunner{}, nil, opt))
	waitFor(t, "the retention pass", 5*time.Second, func() bool {
		_, n, _ := st.ListRuns(ctx, model.RunFilter{})
		return n == 1
	})
}

// A refresh left "running" by a killed process is marked failed with the
// cause, and the next due refresh goes ahead.
func TestInterruptedRefresh(t *testing.T) {
	st := sharedStores(t, store.DialectSQLite, 1)[0]
	ctx := context.Background()
	set, err := st.GetSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	started := set.InstalledAt.Add(72 * time.Hour)
	if err := st.SaveScheduleState(ctx, model.ScheduleState{LastRunAt: started, LastStatus: model.RunRunning, LastTrigger: model.TriggerSchedule}); err != nil {
		t.Fatal(err)
	}
	c := newClock(started.Add(time.Hour))
	r := &countingRunner{}
	s := New(st, r, nil, fastOpts(c, "solo"))
	startScheduler(t, s)
	waitFor(t, "the interrupted refresh to be recorded", 5*time.Second, func() bool {
		got, _ := st.ScheduleState(ctx)
		return got.LastStatus == model.RunFailed
	})
	got, _ := st.ScheduleState(ctx)
	if !strings.Contains(got.LastError, "interrupted") || !got.LastRunAt.Equal(started) {
		t.Errorf("state = %+v", got)
	}
	if n := r.count(); n != 0 {
		t.Errorf("refreshes before the next slot = %d, want 0", n)
	}
	in, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.set(in.Next)
	waitFor(t, "the next refresh", 5*time.Second, func() bool { return r.count() == 1 })
}

// A run left "running" by a killed process is marked failed by the
// leader once its process stopped touching it, never a run whose process
// is alive, however old (issue 15: clean-up never marks a live run).
func TestOrphanRuns(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		st := sharedStores(t, dialect, 1)[0]
		ctx := context.Background()
		orphan := &model.Run{Kind: model.RunApply, Trigger: model.TriggerAdmin, Status: model.RunRunning, StartedAt: time.Now().Add(-time.Hour)}
		alive := &model.Run{Kind: model.RunApply, Trigger: model.TriggerAdmin, Status: model.RunRunning, StartedAt: time.Now().Add(-time.Hour)}
		young := &model.Run{Kind: model.RunApply, Trigger: model.TriggerAdmin, Status: model.RunRunning, StartedAt: time.Now()}
		for _, r := range []*model.Run{orphan, alive, young} {
			if err := st.CreateRun(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		// alive's process is still there, holding the apply lock too.
		if err := st.TouchRuns(ctx, []int64{alive.ID}); err != nil {
			t.Fatal(err)
		}
		release, err := st.TryApplyLock(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		c := newClock(time.Now())
		s := New(st, &countingRunner{}, nil, fastOpts(c, "solo"))
		startScheduler(t, s)
		waitFor(t, "leadership", 5*time.Second, s.Leader)
		waitFor(t, "the orphan to be marked failed", 5*time.Second, func() bool {
			got, _ := st.GetRun(ctx, orphan.ID)
			return got.Status == model.RunFailed && strings.Contains(got.Error, "interrupted")
		})
		for _, r := range []*model.Run{alive, young} {
			if got, _ := st.GetRun(ctx, r.ID); got.Status != model.RunRunning {
				t.Errorf("run %d, whose process is alive, was marked %s", r.ID, got.Status)
			}
		}
	})
}
