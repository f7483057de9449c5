package scheduler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
)

// LeaseName is the name of the scheduler's leadership lease.
const LeaseName = "scheduler"

// Runner performs one refresh: plan and apply for every enabled directory
// source. It returns the runs it made; an ECONFLICT error ("a run is in
// progress") with no runs made means nothing happened and the refresh is
// retried on the next tick.
type Runner interface {
	RunScheduled(ctx context.Context, trigger model.RunTrigger) ([]*model.Run, error)
}

// Store is what the scheduler needs from the database; *store.Store has it.
type Store interface {
	GetSettings(ctx context.Context) (model.Settings, error)
	ScheduleState(ctx context.Context) (model.ScheduleState, error)
	SaveScheduleState(ctx context.Context, st model.ScheduleState) error
	SaveSchedulePruned(ctx context.Context, at time.Time) error
	TryLease(ctx context.Context, name, holder string, ttl time.Duration) (*store.Lease, error)
	PruneRuns(ctx context.Context, before time.Time) (int64, error)
	RunningRuns(ctx context.Context) ([]model.Run, error)
	TryApplyLock(ctx context.Context) (release func(), err error)
	MarkInterruptedRuns(ctx context.Context, before time.Time) (int64, error)
}

// orphanAfter is how long a run still marked running may go untouched by
// its process (which touches it every 10 s) before it counts as
// interrupted (docs/sync.md).
const orphanAfter = 2 * time.Minute

// interruptedAfter is how long a refresh may be recorded as running with
// no run in progress before it counts as interrupted (process killed).
const interruptedAfter = 2 * time.Minute

// Options tune the loop; the zero value gives the production values.
type Options struct {
	Tick     time.Duration    // how often the loop looks; default 10 s
	LeaseTTL time.Duration    // SQLite lease lifetime without renewal; default 30 s
	Now      func() time.Time // the clock; default time.Now
	Holder   string           // this replica's name in the lease; default host-pid-random
	// RetentionDays, when > 0, overrides Settings.RunRetentionDays
	// (--run-retention-days).
	RetentionDays int
	// Zone is the schedule's zone when the settings name none (the
	// server's --timezone); nil = time.Local.
	Zone    *time.Location
	Metrics *Metrics // nil = no metrics
	// RunNowWait is how long RunNow waits for a quick answer (a run in
	// progress elsewhere) before reporting the run as started; default 1 s.
	RunNowWait time.Duration
}

// Scheduler runs the periodic refresh on the replica that holds the lease.
// Create it with New and start it with Run.
type Scheduler struct {
	st      Store
	runner  Runner
	log     *slog.Logger
	opt     Options
	metrics *Metrics

	leader  atomic.Bool
	running atomic.Bool // a refresh started by this replica is in progress

	mu      sync.Mutex      // guards baseCtx and wg's Add against Run's end
	baseCtx context.Context // Run's context, for refreshes started by RunNow
	wg      sync.WaitGroup
}

// New returns a scheduler; it does nothing until Run.
func New(st Store, runner Runner, logger *slog.Logger, opt Options) *Scheduler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opt.Tick <= 0 {
		opt.Tick = 10 * time.Second
	}
	if opt.LeaseTTL <= 0 {
		opt.LeaseTTL = 30 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.RunNowWait <= 0 {
		opt.RunNowWait = time.Second
	}
	if opt.Holder == "" {
		host, _ := os.Hostname()
		var b [6]byte
		_, _ = rand.Read(b[:])
		opt.Holder = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	return &Scheduler{st: st, runner: runner, log: logger.With("component", "scheduler"), opt: opt, metrics: opt.Metrics}
}

// Leader reports whether this replica currently runs the schedule.
func (s *Scheduler) Leader() bool { return s.leader.Load() }

// Running reports whether a refresh started by this replica is in progress.
func (s *Scheduler) Running() bool { return s.running.Load() }

// Run runs the loop until ctx ends: it tries to become leader, and while
// leader starts the refresh when due and prunes old runs daily. It returns
// after every refresh it started has ended and the lease is released.
func (s *Scheduler) Run(ctx context.Context) error {
	var lease *store.Lease
	// Deferred calls run last-in first-out: first wait for the refreshes
	// started here, then give up leadership.
	defer func() {
		if lease != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := lease.Release(rctx); err != nil {
				s.log.Warn("release leadership", "err", err)
			}
			s.setLeader(false)
		}
	}()
	s.mu.Lock()
	s.baseCtx = ctx
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.baseCtx = nil
		s.mu.Unlock()
		s.wg.Wait()
	}()

	tick := time.NewTicker(s.opt.Tick)
	defer tick.Stop()
	for {
		lease = s.step(ctx, lease)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// step is one tick: keep or take leadership, then act as leader.
func (s *Scheduler) step(ctx context.Context, lease *store.Lease) *store.Lease {
	if lease != nil {
		if err := lease.Renew(ctx); err != nil {
			if ctx.Err() != nil {
				return lease
			}
			s.log.Warn("leadership lost", "err", err)
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = lease.Release(rctx)
			cancel()
			s.setLeader(false)
			// Try again next tick, on equal terms with the other replicas.
			return nil
		}
	}
	if lease == nil {
		l, err := s.st.TryLease(ctx, LeaseName, s.opt.Holder, s.opt.LeaseTTL)
		if errors.Is(err, store.ErrLeaseHeld) {
			return nil // another replica leads
		}
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("try leadership", "err", err)
			}
			return nil
		}
		lease = l
		s.setLeader(true)
		s.log.Info("became scheduler leader", "holder", s.opt.Holder)
	}
	if err := s.lead(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("scheduler tick", "err", err)
	}
	return lease
}

func (s *Scheduler) setLeader(v bool) {
	s.leader.Store(v)
	s.metrics.setLeader(v)
}

// lead does the leader's work for one tick. Settings are read every tick,
// so changed values take effect at once.
func (s *Scheduler) lead(ctx context.Context) error {
	set, err := s.st.GetSettings(ctx)
	if err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	state, err := s.st.ScheduleState(ctx)
	if err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	now := s.opt.Now()
	if state, err = s.interrupted(ctx, state, now); err != nil {
		return err
	}
	s.prune(ctx, set, state, now)
	s.reapOrphans(ctx)
	next, _ := NextFromSettings(set, s.opt.Zone, state.LastRunAt, now)
	s.metrics.setNext(next)
	if next.After(now) || s.running.Load() {
		return nil
	}
	s.log.Info("scheduled refresh due", "due", next)
	_, err = s.start(ctx, model.TriggerSchedule, "scheduler", state)
	return err
}

// interrupted records a refresh that is still marked running although
// nothing runs (its process was killed) as failed, so the pages stop
// showing it as in progress. The next due refresh goes ahead as usual.
func (s *Scheduler) interrupted(ctx context.Context, state model.ScheduleState, now time.Time) (model.ScheduleState, error) {
	if state.LastStatus != model.RunRunning || s.running.Load() || now.Sub(state.LastRunAt) < interruptedAfter {
		return state, nil
	}
	runs, err := s.st.RunningRuns(ctx)
	if err != nil {
		return state, fmt.Errorf("scheduler: %w", err)
	}
	if len(runs) > 0 {
		return state, nil
	}
	state.LastStatus = model.RunFailed
	state.LastError = "The refresh was interrupted: the server stopped while it ran."
	if err := s.st.SaveScheduleState(ctx, state); err != nil {
		return state, fmt.Errorf("scheduler: %w", err)
	}
	s.log.Warn("refresh marked interrupted", "started", state.LastRunAt)
	return state, nil
}

// reapOrphans marks runs left "running" by a killed process as failed.
// A run is an orphan when its process has not touched it (the syncer's
// heartbeat) for orphanAfter.
func (s *Scheduler) reapOrphans(ctx context.Context) {
	runs, err := s.st.RunningRuns(ctx)
	if err != nil || len(runs) == 0 {
		return
	}
	cutoff := time.Now().Add(-orphanAfter) // run times are wall-clock
	old := false
	for _, r := range runs {
		if r.StartedAt.Before(cutoff) {
			old = true
		}
	}
	if !old {
		return
	}
	// Every running run is touched by its process every few seconds: only
	// runs nobody touched since the cutoff are marked.
	n, err := s.st.MarkInterruptedRuns(ctx, cutoff)
	if err != nil {
		s.log.Warn("mark interrupted runs", "err", err)
		return
	}
	if n > 0 {
		s.log.Warn("runs interrupted by a stopped process marked failed", "runs", n)
	}
}

// prune deletes runs older than the retention, once a day.
func (s *Scheduler) prune(ctx context.Context, set model.Settings, state model.ScheduleState, now time.Time) {
	days := set.RunRetentionDays
	if s.opt.RetentionDays > 0 {
		days = s.opt.RetentionDays
	}
	if days <= 0 || (!state.LastPrunedAt.IsZero() && now.Sub(state.LastPrunedAt) < 24*time.Hour) {
		return
	}
	before := now.AddDate(0, 0, -days)
	n, err := s.st.PruneRuns(ctx, before)
	if err != nil {
		s.log.Warn("prune runs", "err", err)
		return
	}
	if err := s.st.SaveSchedulePruned(ctx, now); err != nil {
		s.log.Warn("prune runs", "err", err)
		return
	}
	s.log.Info("pruned old runs", "deleted", n, "before", before)
}

// ErrRunInProgress is the user-facing answer while a refresh is running.
func ErrRunInProgress() error {
	return model.Errorf(model.ECONFLICT, "A sync run is in progress. Try again when it has finished.")
}

// start begins a refresh in the background unless one started here is still
// running (ECONFLICT). It records the start at once, so a refresh that
// crashes the process is not repeated before the next slot. The returned
// channel yields the runner's error when it ends.
func (s *Scheduler) start(ctx context.Context, trig model.RunTrigger, actor string, prev model.ScheduleState) (<-chan error, error) {
	if !s.running.CompareAndSwap(false, true) {
		return nil, ErrRunInProgress()
	}
	// Millisecond precision survives a round trip through either database,
	// so the start can be recognised again (see refresh).
	started := s.opt.Now().UTC().Truncate(time.Millisecond)
	cur := prev
	cur.LastRunAt = started
	cur.LastRunFinishedAt = time.Time{}
	cur.LastRunIDs = nil
	cur.LastStatus = model.RunRunning
	cur.LastError = ""
	cur.LastTrigger = trig
	if err := s.st.SaveScheduleState(ctx, cur); err != nil {
		s.running.Store(false)
		return nil, fmt.Errorf("scheduler: start refresh: %w", err)
	}
	s.wg.Add(1)
	done := make(chan error, 1)
	go func() {
		defer s.wg.Done()
		defer s.running.Store(false)
		err := s.refresh(model.WithActor(ctx, actor), trig, started, prev)
		done <- err
	}()
	return done, nil
}

// refresh runs the runner and records the outcome.
func (s *Scheduler) refresh(ctx context.Context, trig model.RunTrigger, started time.Time, prev model.ScheduleState) error {
	t0 := time.Now()
	runs, err := s.runner.RunScheduled(ctx, trig)
	elapsed := time.Since(t0)
	// Record even when ctx ended (shutdown): the outcome must not be lost.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if model.ErrorCode(err) == model.ECONFLICT && len(runs) == 0 {
		// Nothing happened: forget the start so the next tick tries again.
		s.log.Info("refresh postponed: a run is in progress", "trigger", trig)
		// Only undo our own start: another replica's refresh may have
		// recorded its start since.
		cur, serr := s.st.ScheduleState(wctx)
		if serr == nil && cur.LastRunAt.Equal(started) && cur.LastStatus == model.RunRunning {
			serr = s.st.SaveScheduleState(wctx, prev)
		}
		if serr != nil {
			s.log.Error("restore schedule state", "err", serr)
		}
		return err
	}
	st := model.ScheduleState{
		LastRunAt:         started,
		LastRunFinishedAt: s.opt.Now(),
		LastStatus:        model.RunSucceeded,
		LastTrigger:       trig,
	}
	for _, r := range runs {
		if r == nil {
			continue
		}
		st.LastRunIDs = append(st.LastRunIDs, r.ID)
		st.LastStatus = worse(st.LastStatus, r.Status)
		if st.LastError == "" && r.Error != "" {
			st.LastError = r.Error
		}
	}
	if err != nil {
		st.LastStatus = model.RunFailed
		if ctx.Err() != nil {
			st.LastStatus = model.RunCancelled
		}
		st.LastError = model.ErrorMessage(err)
		s.log.Error("refresh failed", "trigger", trig, "err", err)
	} else {
		s.log.Info("refresh finished", "trigger", trig, "status", st.LastStatus, "runs", len(runs), "duration", elapsed)
	}
	s.metrics.observe(st, runs, elapsed)
	if serr := s.st.SaveScheduleState(wctx, st); serr != nil {
		s.log.Error("record refresh", "err", serr)
	}
	return err
}

// worse returns the status that describes a refresh made of runs a and b.
func worse(a, b model.RunStatus) model.RunStatus {
	rank := func(s model.RunStatus) int {
		switch s {
		case model.RunFailed:
			return 4
		case model.RunCancelled:
			return 3
		case model.RunHeld:
			return 2
		case model.RunSucceeded, model.RunPlanned:
			return 1
		}
		return 0
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// RunNow starts a refresh at once (the "Run now" button), on this replica,
// through the same path as the schedule; the next scheduled run is then
// counted from it. It fails with ECONFLICT "a sync run is in progress" when
// a refresh is running (here, or an apply on any replica, when that answer
// comes within RunNowWait) and EUNAVAILABLE when the scheduler is not
// running. A nil error means the refresh has started (or already ended).
func (s *Scheduler) RunNow(ctx context.Context) error {
	state, err := s.st.ScheduleState(ctx)
	if err != nil {
		return fmt.Errorf("scheduler: run now: %w", err)
	}
	// Holding mu keeps Run from ending between the check and wg.Add.
	s.mu.Lock()
	base := s.baseCtx
	if base == nil || base.Err() != nil {
		s.mu.Unlock()
		return model.Errorf(model.EUNAVAILABLE, "The scheduler is not running.")
	}
	// The refresh outlives the request: it runs on the scheduler's context.
	done, err := s.start(base, model.TriggerAdmin, model.ActorFrom(ctx), state)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case err := <-done:
		if model.ErrorCode(err) == model.ECONFLICT {
			return ErrRunInProgress()
		}
		return nil // finished quickly; its outcome is recorded
	case <-time.After(s.opt.RunNowWait):
		return nil
	case <-ctx.Done():
		return nil
	}
}

// Info returns what the pages show: the next run in the configured zone and
// the last refresh's outcome.
func (s *Scheduler) Info(ctx context.Context) (model.ScheduleInfo, error) {
	return info(ctx, s.st, s.opt.Zone, s.opt.Now(), s.Leader(), s.Running())
}

// NextRun returns when the next scheduled refresh is due, in the configured
// time zone. It fails when settings cannot be read.
func (s *Scheduler) NextRun(ctx context.Context) (time.Time, error) {
	in, err := s.Info(ctx)
	if err != nil {
		return time.Time{}, err
	}
	return in.Next, nil
}

// ScheduleReader is what Info needs; *store.Store has it.
type ScheduleReader interface {
	GetSettings(ctx context.Context) (model.Settings, error)
	ScheduleState(ctx context.Context) (model.ScheduleState, error)
}

// Describe returns the schedule info from the database alone, for pages
// served where no Scheduler runs; zone is the server's schedule zone.
func Describe(ctx context.Context, st ScheduleReader, zone *time.Location, now time.Time) (model.ScheduleInfo, error) {
	return info(ctx, st, zone, now, false, false)
}

func info(ctx context.Context, st ScheduleReader, zone *time.Location, now time.Time, leader, running bool) (model.ScheduleInfo, error) {
	set, err := st.GetSettings(ctx)
	if err != nil {
		return model.ScheduleInfo{}, fmt.Errorf("scheduler: info: %w", err)
	}
	state, err := st.ScheduleState(ctx)
	if err != nil {
		return model.ScheduleInfo{}, fmt.Errorf("scheduler: info: %w", err)
	}
	next, loc := NextFromSettings(set, zone, state.LastRunAt, now)
	return model.ScheduleInfo{
		Next:          next.In(loc),
		Location:      loc,
		IntervalHours: set.RefreshIntervalHours,
		StartTime:     set.RefreshStartTime,
		State:         state,
		Leader:        leader,
		Running:       running,
	}, nil
}

// SourceLister lists directory sources; *store.Store has it.
type SourceLister interface {
	ListSources(ctx context.Context) ([]model.Source, error)
}

// SourceRunner runs one sync of one source; *syncer.Syncer has it.
type SourceRunner interface {
	RunOnce(ctx context.Context, sourceID int64, trig model.RunTrigger) (*model.Run, error)
}

// SyncRunner is the production Runner: RunOnce for every enabled source,
// in id order.
type SyncRunner struct {
	Sources SourceLister
	Sync    SourceRunner
}

// RunScheduled implements Runner. It stops at the first ECONFLICT (another
// run holds the apply lock) and otherwise goes on with the other sources
// after a failure, returning every failure joined. With no enabled source it
// fails with EINVALID.
func (r SyncRunner) RunScheduled(ctx context.Context, trig model.RunTrigger) ([]*model.Run, error) {
	srcs, err := r.Sources.ListSources(ctx)
	if err != nil {
		return nil, fmt.Errorf("scheduler: list sources: %w", err)
	}
	var runs []*model.Run
	var errs []error
	for _, src := range srcs {
		if !src.Enabled {
			continue
		}
		run, err := r.Sync.RunOnce(ctx, src.ID, trig)
		if run != nil {
			runs = append(runs, run)
		}
		if err != nil {
			if model.ErrorCode(err) == model.ECONFLICT {
				return runs, err
			}
			errs = append(errs, fmt.Errorf("source %q: %w", src.Name, err))
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(runs) == 0 && len(errs) == 0 && ctx.Err() == nil {
		return nil, model.Errorf(model.EINVALID, "No directory source is enabled: nothing to refresh.")
	}
	return runs, errors.Join(errs...)
}
