// Package syncer runs directory syncs: it reads the directory, loads the
// state, asks syncplan for a plan, stores the plan as a preview run and
// applies a stored plan in batches, one apply at a time across replicas.
package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/faultinject"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/syncplan"
)

// DefaultBatchSize is how many actions one apply transaction executes.
const DefaultBatchSize = 1000

// AuditActor is the actor recorded in the audit entries of sync changes.
const AuditActor = "sync"

// Syncer runs previews and applies. It is safe for concurrent use.
type Syncer struct {
	st        *store.Store
	dir       reader
	log       *slog.Logger
	batchSize int
	now       func() time.Time
	// afterBatch, when set (tests), is called after each committed batch
	// with the run and the actions done so far.
	afterBatch func(runID int64, done int)

	mu      sync.Mutex
	cancels map[int64]context.CancelFunc
	wg      sync.WaitGroup
	live    map[int64]struct{} // runs of this process still running (heartbeat)
	beating bool               // the heartbeat goroutine runs
}

// runHeartbeat is how often a running run is touched: clean-up marks a run
// interrupted only after it went untouched for two minutes (the
// scheduler's orphan age), so a live run is never marked.
const runHeartbeat = 10 * time.Second

// createRun records run and keeps it touched (store.TouchRuns) until
// finish records its end.
func (s *Syncer) createRun(ctx context.Context, run *model.Run) error {
	if err := s.st.CreateRun(ctx, run); err != nil {
		return err
	}
	s.mu.Lock()
	s.live[run.ID] = struct{}{}
	start := !s.beating
	s.beating = true
	s.mu.Unlock()
	if start {
		// The heartbeat outlives the request that started the run and ends
		// by itself when no run is live, so it takes no request context.
		go s.heartbeat() //nolint:gosec // G118: see above
	}
	return nil
}

func (s *Syncer) untrack(runID int64) {
	s.mu.Lock()
	delete(s.live, runID)
	s.mu.Unlock()
}

// heartbeat touches this process's running runs until none is left.
func (s *Syncer) heartbeat() {
	t := time.NewTicker(runHeartbeat)
	defer t.Stop()
	for range t.C {
		s.mu.Lock()
		ids := make([]int64, 0, len(s.live))
		for id := range s.live {
			ids = append(ids, id)
		}
		if len(ids) == 0 {
			s.beating = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), runHeartbeat)
		if err := s.st.TouchRuns(ctx, ids); err != nil {
			s.log.Warn("syncer: run heartbeat failed", "runs", ids, "err", err)
		}
		cancel()
	}
}

// reader is what the syncer reads from a directory (a *directory.Client).
type reader interface {
	Read(ctx context.Context, src *model.Source) (*model.Snapshot, error)
	ReadUser(ctx context.Context, src *model.Source, externalID string) (*model.Snapshot, error)
	// FindByID and ReadGroup find a mapped group by its stable id (relink.go).
	FindByID(ctx context.Context, src *model.Source, id string) (directory.FoundEntry, bool, error)
	ReadGroup(ctx context.Context, src *model.Source, dn string, nested bool) (*model.Snapshot, error)
}

// New returns a Syncer over st and dir, logging to logger (nil: discard).
func New(st *store.Store, dir *directory.Client, logger *slog.Logger) *Syncer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Syncer{st: st, dir: dir, log: logger, batchSize: DefaultBatchSize, now: time.Now, cancels: map[int64]context.CancelFunc{}, live: map[int64]struct{}{}}
}

// SetBatchSize sets how many actions one transaction applies (n < 1: the default).
func (s *Syncer) SetBatchSize(n int) {
	if n < 1 {
		n = DefaultBatchSize
	}
	s.batchSize = n
}

// runLog collects a run's log lines (stored with the run) and mirrors them
// to the process log.
type runLog struct {
	mu  sync.Mutex // the directory read and the data load log concurrently
	b   strings.Builder
	log *slog.Logger
	now func() time.Time
}

func (l *runLog) printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.mu.Lock()
	fmt.Fprintf(&l.b, "%s %s\n", l.now().UTC().Format("15:04:05.000"), msg)
	l.mu.Unlock()
	l.log.Info(msg)
}

// take returns the lines collected so far and empties the log.
func (l *runLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.b.String()
	l.b.Reset()
	return out
}

func (s *Syncer) newLog(runID int64) *runLog {
	return &runLog{log: s.log.With("run", runID), now: s.now}
}

// Preview reads source sourceID, plans against the current data and stores
// the plan as a preview run (status planned, or held when the guard found
// something). It changes no user, group or device. A failed, timed-out or
// empty directory read gives a failed run (returned together with the
// error, whose message names the cause).
func (s *Syncer) Preview(ctx context.Context, sourceID int64, trig model.RunTrigger) (*model.Run, error) {
	run, err := s.newPreview(ctx, sourceID, trig)
	if err != nil {
		return nil, err
	}
	return s.preview(ctx, run)
}

// StartPreview is Preview that returns at once with the running preview
// run (ENOTFOUND for an unknown source) and plans in the background, to the
// end whatever happens to ctx: the sync page follows it. Wait waits for it.
func (s *Syncer) StartPreview(ctx context.Context, sourceID int64, trig model.RunTrigger) (*model.Run, error) {
	run, err := s.newPreview(ctx, sourceID, trig)
	if err != nil {
		return nil, err
	}
	cp := *run
	ctx = context.WithoutCancel(ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if _, err := s.preview(ctx, run); err != nil {
			s.log.Warn("sync preview ended with an error", "run", run.ID, "err", err)
		}
	}()
	return &cp, nil
}

// newPreview records a running preview of source sourceID.
func (s *Syncer) newPreview(ctx context.Context, sourceID int64, trig model.RunTrigger) (*model.Run, error) {
	if _, err := s.st.GetSource(ctx, sourceID); err != nil {
		return nil, err
	}
	run := &model.Run{Kind: model.RunPreview, Trigger: trig, Actor: model.ActorFrom(ctx), SourceID: sourceID, Status: model.RunRunning, Phase: model.PhaseProvisioning}
	if err := s.createRun(ctx, run); err != nil {
		return nil, fmt.Errorf("syncer: preview: %w", err)
	}
	return run, nil
}

// preview plans run (a preview newPreview recorded) and stores its plan.
func (s *Syncer) preview(ctx context.Context, run *model.Run) (*model.Run, error) {
	rl := s.newLog(run.ID)
	_, _, plan, err := s.planSource(ctx, run, rl)
	if err != nil {
		return s.fail(ctx, run, rl, err)
	}
	collectAfterPlanning()
	if err := s.storePlan(ctx, run.ID, plan, rl); err != nil {
		return s.fail(ctx, run, rl, err)
	}
	run.Status = model.RunPlanned
	if len(plan.Holds) > 0 {
		run.Status = model.RunHeld
		for _, h := range plan.Holds {
			rl.printf("HOLD %s: %s", h.Code, h.Message)
		}
	}
	run.Total = len(plan.Actions)
	return s.finish(ctx, run, rl)
}

// collectAfterPlanning starts a garbage collection right after planning.
// The planner's indexes (and, for a preview, the snapshot and the state)
// are garbage then, but the last collection, during planning, saw them
// live and set the next target to twice that: left alone, the heap grows
// to twice the planner's peak while the plan is stored or applied. One
// collection now, concurrent with what follows, sets the target from what
// is really left (at 100k users: peak RSS ~500 MB → ~330 MB).
func collectAfterPlanning() { go runtime.GC() }

// planSource reads the directory and the state, builds the plan and fills
// run's counts, holds and hashes.
func (s *Syncer) planSource(ctx context.Context, run *model.Run, rl *runLog) (*model.Snapshot, *model.State, *model.Plan, error) {
	src, err := s.st.GetSource(ctx, run.SourceID)
	if err != nil {
		return nil, nil, nil, err
	}
	g, err := s.gather(ctx, src, rl, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	snap, state := g.snap, g.state
	linkSkips, relinked, err := s.linkMappings(ctx, src, snap, state, rl)
	if err != nil {
		return nil, nil, nil, err
	}
	if relinked {
		// Apply compares the state it loads (with the new DNs) to this.
		g.stateHash = syncplan.StateHash(state)
	}
	base, err := s.baseline(ctx, src.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	start := time.Now()
	plan := syncplan.Build(syncplan.Input{Snapshot: snap, State: state, SourceID: src.ID, Baseline: base, Now: s.now(),
		SnapshotHash: g.snapHash, StateHash: g.stateHash})
	plan.Skips = append(plan.Skips, linkSkips...)
	describePlan(run, plan)
	rl.printf("plan: %d actions, %d changes not performed, %d holds, %d users changed (%s)",
		len(plan.Actions), len(plan.Skips), len(plan.Holds), run.Counts["users_changed"], time.Since(start).Round(time.Millisecond))
	return snap, state, plan, nil
}

// gathered is what gather read, with the hashes of the snapshot and the
// state (computed as soon as each was read, while the other still loads).
type gathered struct {
	snap                *model.Snapshot
	state               *model.State
	plan                *store.PlanReader
	snapHash, stateHash string
}

// gather reads source src (when not nil), loads the data and, when planRunID
// is not 0, opens (and checks) that preview's stored plan, all at the same
// time: the directory read is mostly network and decoding, the data load
// mostly the database. The first failure cancels the others and is returned.
func (s *Syncer) gather(ctx context.Context, src *model.Source, rl *runLog, planRunID int64) (*gathered, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		g        gathered
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	// The first failure is the cause; the others it cancelled only echo it.
	failed := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
			cancel()
		}
	}
	if src != nil {
		wg.Go(func() {
			var err error
			if g.snap, err = s.readDirectory(ctx, src, rl); err != nil {
				failed(err)
				return
			}
			g.snapHash = syncplan.SnapshotHash(g.snap)
		})
	}
	if planRunID != 0 {
		wg.Go(func() {
			var err error
			if g.plan, err = s.st.OpenRunPlan(ctx, planRunID); err != nil {
				failed(err)
			}
		})
	}
	var err error
	if g.state, err = s.loadState(ctx, rl); err != nil {
		failed(err)
	} else {
		g.stateHash = syncplan.StateHash(g.state)
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return &g, nil
}

func (s *Syncer) readDirectory(ctx context.Context, src *model.Source, rl *runLog) (*model.Snapshot, error) {
	start := time.Now()
	rl.printf("read directory %q", src.Name)
	snap, err := s.dir.Read(ctx, src)
	if err != nil {
		return nil, err
	}
	if snap == nil || len(snap.Users) == 0 {
		// Never plan removals from an empty answer (SPEC §7).
		return nil, model.Errorf(model.EUNAVAILABLE, "The directory %q returned no users; nothing was changed.", src.Name)
	}
	cleanSnapshot(snap)
	rl.printf("read directory: %d users, %d groups (%s)", len(snap.Users), len(snap.Groups), time.Since(start).Round(time.Millisecond))
	if sum := unmatchedSummary(snap); sum != "" {
		rl.printf("group members matching no user: %s (those of mapped groups are changes not performed, with their reason)", sum)
	}
	return snap, nil
}

func (s *Syncer) loadState(ctx context.Context, rl *runLog) (*model.State, error) {
	start := time.Now()
	state, err := s.st.LoadState(ctx)
	if err != nil {
		return nil, err
	}
	rl.printf("load data: %d users, %d devices (%s)", len(state.Users), len(state.Devices), time.Since(start).Round(time.Millisecond))
	return state, nil
}

func (s *Syncer) baseline(ctx context.Context, sourceID int64) (syncplan.Baseline, error) {
	var b syncplan.Baseline
	raw, err := s.st.LastGoodBaseline(ctx, sourceID)
	if err != nil || raw == nil {
		return b, err
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		s.log.Warn("syncer: ignoring an unreadable baseline", "err", err)
		return syncplan.Baseline{}, nil
	}
	return b, nil
}

// describePlan fills run's counts, holds and hashes from plan.
func describePlan(run *model.Run, plan *model.Plan) {
	counts := map[string]int{}
	byKind := map[model.ActionKind]int{}
	ids := map[int64]struct{}{}
	exts := map[string]struct{}{}
	for i := range plan.Actions {
		a := &plan.Actions[i]
		byKind[a.Kind]++
		switch {
		case a.Kind == model.ActUpdateDevice || a.Kind == model.ActNotifyProduct:
		case a.UserID != 0:
			ids[a.UserID] = struct{}{}
		default:
			exts[a.ExternalID] = struct{}{}
		}
	}
	for k, n := range byKind {
		counts[string(k)] = n
	}
	counts["actions"] = len(plan.Actions)
	counts["skipped"] = len(plan.Skips)
	counts["holds"] = len(plan.Holds)
	if n := missingGroupSkips(plan.Skips); n > 0 {
		counts["missing_groups"] = n
	}
	// Every changed user is delivered to their products (SPEC §9).
	counts["users_changed"] = len(ids) + len(exts)
	run.Counts = counts
	run.Holds = plan.Holds
	run.SnapshotHash = plan.SnapshotHash
	run.StateHash = plan.StateHash
	run.PlanHash = syncplan.PlanHash(plan)
}

// storePlan stores a preview's plan (what apply runs) and its plan lines
// (what the preview pages show) at the same time: encoding the one is work
// for this process, ingesting the other for the database.
func (s *Syncer) storePlan(ctx context.Context, runID int64, plan *model.Plan, rl *runLog) error {
	start := time.Now()
	var planErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		if planErr = s.st.SaveRunPlan(ctx, runID, plan); planErr == nil {
			rl.printf("stored the plan (%s)", time.Since(start).Round(time.Millisecond))
		}
	})
	err := s.addPlanItems(ctx, runID, plan, "")
	if err == nil {
		rl.printf("stored %d plan lines (%s)", len(plan.Actions)+len(plan.Skips), time.Since(start).Round(time.Millisecond))
	}
	wg.Wait()
	if err != nil {
		return err
	}
	return planErr
}

// addPlanItems stores a plan's actions, then its skips, as run items, a
// slice at a time so that a large plan is never copied whole.
func (s *Syncer) addPlanItems(ctx context.Context, runID int64, plan *model.Plan, outcome string) error {
	const chunk = 20000
	for off := 0; off < len(plan.Actions); off += chunk {
		end := min(off+chunk, len(plan.Actions))
		items := make([]model.RunItem, 0, end-off)
		for i := off; i < end; i++ {
			items = append(items, store.ItemFromAction(runID, i, &plan.Actions[i], plan.Actions[i].UserID, outcome))
		}
		if err := s.st.AddRunItems(ctx, items); err != nil {
			return err
		}
	}
	for off := 0; off < len(plan.Skips); off += chunk {
		end := min(off+chunk, len(plan.Skips))
		if err := s.st.AddRunItems(ctx, skipItems(runID, len(plan.Actions)+off, plan.Skips[off:end])); err != nil {
			return err
		}
	}
	return nil
}

func skipItems(runID int64, seq0 int, skips []model.Skip) []model.RunItem {
	items := make([]model.RunItem, 0, len(skips))
	for i, sk := range skips {
		items = append(items, model.RunItem{RunID: runID, Seq: seq0 + i, Phase: sk.Phase, Kind: sk.Kind, Performed: false,
			UserID: sk.UserID, Username: sk.Username, Object: sk.GroupName, Reason: sk.Reason, Outcome: "not performed"})
	}
	return items
}

// fail marks run failed with err's user-facing message and returns run and
// err (wrapped for the caller's log).
func (s *Syncer) fail(ctx context.Context, run *model.Run, rl *runLog, err error) (*model.Run, error) {
	msg := model.ErrorMessage(err)
	if model.ErrorCode(err) == model.EINTERNAL {
		s.log.Error("sync run failed", "run", run.ID, "err", err)
		msg = "An internal error stopped the run; see the server log."
	}
	run.Status = model.RunFailed
	run.Error = msg
	rl.printf("FAILED: %s", msg)
	if _, ferr := s.finish(context.WithoutCancel(ctx), run, rl); ferr != nil {
		s.log.Error("syncer: record failed run", "run", run.ID, "err", ferr)
	}
	return run, fmt.Errorf("syncer: run %d: %w", run.ID, err)
}

func (s *Syncer) finish(ctx context.Context, run *model.Run, rl *runLog) (*model.Run, error) {
	run.FinishedAt = s.now()
	run.Log += rl.take()
	defer s.untrack(run.ID)
	if err := s.saveRun(ctx, run); err != nil {
		return run, fmt.Errorf("syncer: save run %d: %w", run.ID, err)
	}
	return run, nil
}

// saveRun records run's end. While the database cannot be reached it tries
// again (every 1 s, then up to every 30 s) until it answers or ctx ends: a
// run's status must not stay "running" because its failure could not be
// written when it happened. The run stays touched meanwhile, so clean-up
// does not mark it interrupted.
func (s *Syncer) saveRun(ctx context.Context, run *model.Run) error {
	wait := time.Second
	for {
		err := s.st.SaveRun(ctx, run)
		if err == nil || !store.Transient(err) || ctx.Err() != nil {
			return err
		}
		s.log.Warn("syncer: cannot record the run's end; trying again", "run", run.ID, "status", run.Status, "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// Cancel asks running apply runID to stop. It stops between two batches,
// so every batch stays all-or-nothing; the run ends cancelled. Another
// replica's run is cancelled through its row, which the runner checks
// between batches. ENOTFOUND when no such run is running.
func (s *Syncer) Cancel(ctx context.Context, runID int64) error {
	s.mu.Lock()
	cancel := s.cancels[runID]
	s.mu.Unlock()
	run, err := s.st.GetRun(ctx, runID)
	if err != nil {
		return err
	}
	if run.Status != model.RunRunning {
		return model.Errorf(model.ENOTFOUND, "Run %d is not running.", runID)
	}
	if cancel != nil {
		cancel()
		return nil
	}
	return s.st.SetRunStatus(ctx, runID, model.RunCancelled)
}

func (s *Syncer) register(runID int64, cancel context.CancelFunc) func() {
	s.mu.Lock()
	s.cancels[runID] = cancel
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.cancels, runID)
		s.mu.Unlock()
		cancel()
	}
}

// holdError is the refusal of a held plan without override.
func holdError(holds []model.Hold) error {
	msgs := make([]string, len(holds))
	for i, h := range holds {
		msgs[i] = h.Message
	}
	return model.Errorf(model.ECONFLICT, "The run is held for review: %s Tick \"override\" to apply it anyway.", strings.Join(msgs, " "))
}

// errStale is what apply answers when the preview no longer matches;
// changed says how.
func errStale(changed string) error {
	return model.Errorf(model.ECONFLICT, "The plan would differ from this preview (%s) — preview again.", changed)
}

// planChanged re-plans preview prev from what g read now and returns ""
// when the plan is the one previewed (same plan hash), else what changed.
// An edit the plan does not depend on therefore never makes a preview
// stale. A preview stored before plan hashes compares its inputs instead.
func (s *Syncer) planChanged(ctx context.Context, prev *model.Run, g *gathered, rl *runLog) string {
	if prev.PlanHash == "" {
		if g.stateHash != prev.StateHash || (g.snap != nil && g.snapHash != prev.SnapshotHash) {
			return "the directory or the data changed"
		}
		return ""
	}
	start := time.Now()
	var np *model.Plan
	if prev.Kind == model.RunReconcile {
		np = syncplan.ReconcileDevices(g.state)
	} else {
		base, err := s.baseline(ctx, prev.SourceID)
		if err != nil {
			return "the last good run could not be read"
		}
		np = syncplan.Build(syncplan.Input{Snapshot: g.snap, State: g.state, SourceID: prev.SourceID, Baseline: base, Now: s.now(),
			SnapshotHash: g.snapHash, StateHash: g.stateHash})
	}
	h := syncplan.PlanHash(np)
	// The new plan is garbage once hashed; see collectAfterPlanning.
	defer collectAfterPlanning()
	rl.printf("re-planned from a fresh read: %d actions, %s (%s)", len(np.Actions),
		map[bool]string{true: "the same plan", false: "a different plan"}[h == prev.PlanHash], time.Since(start).Round(time.Millisecond))
	if h == prev.PlanHash {
		return ""
	}
	var now model.Run
	describePlan(&now, np)
	return countChanges(prev.Counts, now.Counts)
}

// countChanges describes how a plan's counts moved, e.g. "update_attribute
// 3 → 4; holds 0 → 1", or that the same number of changes now targets
// other users, groups or values.
func countChanges(before, after map[string]int) string {
	keys := map[string]int{}
	for k := range before {
		keys[k] = 1
	}
	for k := range after {
		keys[k] = 1
	}
	var parts []string
	for _, k := range sortedKeys(keys) {
		if k == "users_changed" || k == "skipped" {
			continue
		}
		if before[k] != after[k] {
			parts = append(parts, fmt.Sprintf("%s %d → %d", k, before[k], after[k]))
		}
	}
	if len(parts) == 0 {
		return "as many changes, but to other users, groups or values"
	}
	return strings.Join(parts, "; ")
}

// Apply executes the plan stored with preview previewRunID, exactly, in
// batches, and returns when it is done. It refuses (ECONFLICT) while another
// apply runs, when the directory or the data changed since the preview (the
// preview becomes stale), and when the plan is held and override is false.
// The apply run is returned in every case where one was recorded.
func (s *Syncer) Apply(ctx context.Context, previewRunID int64, override bool, trig model.RunTrigger) (*model.Run, error) {
	job, run, err := s.prepareApply(ctx, previewRunID, override, trig)
	if job == nil {
		return run, err
	}
	defer job.release()
	return s.execute(ctx, job.run, job.rl, job.in)
}

// StartApply is Apply that returns as soon as the checks passed (lock,
// staleness, holds) with the running run, and applies in the background
// with ctx: the console follows its progress on the run page. Wait waits
// for background applies.
func (s *Syncer) StartApply(ctx context.Context, previewRunID int64, override bool, trig model.RunTrigger) (*model.Run, error) {
	job, run, err := s.prepareApply(ctx, previewRunID, override, trig)
	if job == nil {
		return run, err
	}
	cp := *job.run
	// Registered before the goroutine starts, so a Cancel right after this
	// returns always reaches the run.
	ctx, cancel := context.WithCancel(ctx)
	unregister := s.register(job.run.ID, cancel)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer unregister()
		defer job.release()
		if _, err := s.execute(ctx, job.run, job.rl, job.in); err != nil {
			s.log.Warn("sync apply ended with an error", "run", job.run.ID, "err", err)
		}
	}()
	return &cp, nil
}

// Wait blocks until every background preview and apply (StartPreview,
// StartApply) ended.
func (s *Syncer) Wait() { s.wg.Wait() }

// Shutdown is for a stopping server: it asks every apply of this process
// to stop after its current batch (the run ends cancelled, every applied
// batch complete) and waits for the background previews and applies to
// end, or for ctx. A process killed instead leaves its run "running" until
// the scheduler marks it failed as interrupted.
func (s *Syncer) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	for _, cancel := range s.cancels {
		cancel()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("syncer: shutdown: runs still going: %w", ctx.Err())
	}
}

// applyJob is an apply that passed its checks and holds the apply lock.
type applyJob struct {
	run     *model.Run
	rl      *runLog
	in      applyInput
	release func()
}

// prepareApply runs Apply's checks. It returns a job holding the lock, or
// the (failed or held) run, if one was recorded, and the refusal.
func (s *Syncer) prepareApply(ctx context.Context, previewRunID int64, override bool, trig model.RunTrigger) (*applyJob, *model.Run, error) {
	prev, err := s.st.GetRun(ctx, previewRunID)
	if err != nil {
		return nil, nil, err
	}
	if (prev.Kind != model.RunPreview && prev.Kind != model.RunReconcile) || prev.PreviewRunID != 0 {
		return nil, nil, model.Errorf(model.EINVALID, "Run %d is not a preview.", previewRunID)
	}
	if prev.Status == model.RunApplied {
		return nil, nil, model.Errorf(model.ECONFLICT, "Preview %d was applied already — preview again to see what is left to do.", previewRunID)
	}
	if prev.Status != model.RunPlanned && prev.Status != model.RunHeld {
		return nil, nil, model.Errorf(model.ECONFLICT, "Preview %d cannot be applied (it is %s) — preview again.", previewRunID, prev.Status)
	}
	lease, err := s.st.AcquireApplyLease(ctx)
	if err != nil {
		return nil, nil, err
	}
	ok := false
	defer func() {
		if !ok {
			lease.Release()
		}
	}()
	kind := model.RunApply
	if prev.Kind == model.RunReconcile {
		kind = model.RunReconcile
	}
	run := &model.Run{Kind: kind, Trigger: trig, Actor: model.ActorFrom(ctx), SourceID: prev.SourceID, PreviewRunID: prev.ID,
		Status: model.RunRunning, Phase: model.PhaseProvisioning, Counts: prev.Counts, Holds: prev.Holds,
		SnapshotHash: prev.SnapshotHash, StateHash: prev.StateHash, Total: prev.Counts["actions"]}
	if err := s.createRun(ctx, run); err != nil {
		return nil, nil, fmt.Errorf("syncer: apply: %w", err)
	}
	rl := s.newLog(run.ID)
	rl.printf("apply preview #%d (override: %t)", prev.ID, override)

	// Recompute what the plan was computed from: anything changed → stale.
	// The stored plan loads meanwhile unless the plan is held for nothing.
	var src *model.Source
	if prev.Kind == model.RunPreview {
		if src, err = s.st.GetSource(ctx, prev.SourceID); err != nil {
			r, err := s.fail(ctx, run, rl, err)
			return nil, r, err
		}
	}
	planID := prev.ID
	if len(prev.Holds) > 0 && !override {
		planID = 0
	}
	g, err := s.gather(ctx, src, rl, planID)
	if err != nil {
		r, err := s.fail(ctx, run, rl, err)
		return nil, r, err
	}
	snap, state, plan := g.snap, g.state, g.plan
	if changed := s.planChanged(ctx, prev, g, rl); changed != "" {
		if err := s.st.SetRunStatus(ctx, prev.ID, model.RunStale); err != nil {
			s.log.Warn("syncer: mark preview stale", "run", prev.ID, "err", err)
		}
		r, err := s.fail(ctx, run, rl, errStale(changed))
		return nil, r, err
	}
	if len(prev.Holds) > 0 && !override {
		run.Status = model.RunHeld
		run.Error = model.ErrorMessage(holdError(prev.Holds))
		rl.printf("HELD: %s", run.Error)
		if _, err := s.finish(context.WithoutCancel(ctx), run, rl); err != nil {
			s.log.Error("syncer: record held run", "run", run.ID, "err", err)
		}
		return nil, run, holdError(prev.Holds)
	}
	if len(prev.Holds) > 0 {
		rl.printf("holds overridden by %s", run.Actor)
	}
	ok = true
	// The snapshot and the state are dropped here: the actions stream from
	// the stored plan, and what the end of the run needs of them is kept.
	return &applyJob{run: run, rl: rl, in: newApplyInput(lease, plan, plan.Total, plan.Skips, snap, state, run.SourceID), release: lease.Release}, run, nil
}

// RunOnce plans and applies source sourceID in one go under the apply lock,
// for the scheduler and the command line: a plan with holds is not applied
// (the run ends held), a failed directory read removes nobody.
func (s *Syncer) RunOnce(ctx context.Context, sourceID int64, trig model.RunTrigger) (*model.Run, error) {
	lease, err := s.st.AcquireApplyLease(ctx)
	if err != nil {
		return nil, err
	}
	defer lease.Release()
	run := &model.Run{Kind: model.RunApply, Trigger: trig, Actor: model.ActorFrom(ctx), SourceID: sourceID, Status: model.RunRunning, Phase: model.PhaseProvisioning}
	if err := s.createRun(ctx, run); err != nil {
		return nil, fmt.Errorf("syncer: run once: %w", err)
	}
	rl := s.newLog(run.ID)
	snap, state, plan, err := s.planSource(ctx, run, rl)
	if err != nil {
		return s.fail(ctx, run, rl, err)
	}
	if len(plan.Holds) > 0 {
		if err := s.addPlanItems(ctx, run.ID, plan, "not performed: held"); err != nil {
			return s.fail(ctx, run, rl, err)
		}
		run.Status = model.RunHeld
		run.Error = model.ErrorMessage(holdError(plan.Holds))
		for _, h := range plan.Holds {
			rl.printf("HOLD %s: %s", h.Code, h.Message)
		}
		return s.finish(ctx, run, rl)
	}
	collectAfterPlanning()
	return s.execute(ctx, run, rl, newApplyInput(lease, &sliceSource{a: plan.Actions}, len(plan.Actions), plan.Skips, snap, state, run.SourceID))
}

// actionSource hands out a plan's actions a batch at a time.
type actionSource interface {
	// Next returns up to n actions, or io.EOF after the last.
	Next(n int) ([]model.Action, error)
}

// sliceSource is an actionSource over a plan in memory.
type sliceSource struct {
	a   []model.Action
	off int
}

func (s *sliceSource) Next(n int) ([]model.Action, error) {
	if s.off >= len(s.a) {
		return nil, io.EOF
	}
	end := min(s.off+n, len(s.a))
	b := s.a[s.off:end:end]
	s.off = end
	return b, nil
}

// applyInput is what execute needs: the actions, the skipped changes, the
// ids of the source's users, and the start of the baseline the run records
// (nil: none, for a one-user refresh or a device reconcile).
type applyInput struct {
	lease    *store.ApplyLease // held for the whole apply; every batch proves it
	actions  actionSource
	total    int
	skips    []model.Skip
	ids      map[string]int64
	baseline *syncplan.Baseline
}

func newApplyInput(lease *store.ApplyLease, actions actionSource, total int, skips []model.Skip, snap *model.Snapshot, state *model.State, sourceID int64) applyInput {
	in := applyInput{lease: lease, actions: actions, total: total, skips: skips, ids: map[string]int64{}}
	for _, u := range state.Users {
		if u.ExternalID != "" && u.SourceID == sourceID {
			in.ids[u.ExternalID] = u.ID
		}
	}
	if snap != nil {
		b := startBaseline(snap, state)
		in.baseline = &b
	}
	return in
}

// execute applies the actions in batches and records the outcome. A
// failing batch is rolled back whole and ends the run failed; a cancel
// stops between batches.
func (s *Syncer) execute(ctx context.Context, run *model.Run, rl *runLog, in applyInput) (*model.Run, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer s.register(run.ID, cancel)()
	// A batch is never interrupted half-way: cancelling mid-commit would
	// leave its outcome unknown. Cancellation is checked between batches.
	actx := model.WithActor(context.WithoutCancel(ctx), AuditActor)
	run.Total = in.total
	// Deliveries a killed run deferred are queued now (this run holds the lease).
	s.flushDeliveries(ctx, run.ID, true, rl)
	start := time.Now()
	var applyErr error
	failedAt := ""
	cancelled := false
	for off := 0; off < in.total; {
		faultinject.Hit(faultinject.ApplyBeforeBatch)
		if err := in.lease.Err(); err != nil {
			applyErr = err
			failedAt = fmt.Sprintf("%d–%d", off+1, in.total)
			rl.printf("stopped before actions %d–: %s", off+1, detail(err))
			break
		}
		if ctx.Err() != nil || s.cancelledInDB(ctx, run.ID) {
			cancelled = true
			break
		}
		actions, err := in.actions.Next(s.batchSize)
		if err != nil || len(actions) == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				err = fmt.Errorf("the stored plan ended after %d of %d actions", off, in.total)
			}
			applyErr = err
			failedAt = fmt.Sprintf("%d–%d", off+1, in.total)
			rl.printf("reading actions %d– failed: %s", off+1, detail(err))
			break
		}
		end := off + len(actions)
		batch := store.ApplyBatch{RunID: run.ID, SourceID: run.SourceID, Seq: off, Actions: actions, Done: end, Total: in.total, Lease: in.lease,
			DeferDeliveries: in.total > s.batchSize}
		if err := s.st.ApplyActions(actx, batch, in.ids); err != nil {
			applyErr = err
			failedAt = fmt.Sprintf("%d–%d", off+1, end)
			rl.printf("batch %d–%d failed, rolled back: %s", off+1, end, detail(err))
			failed := make([]model.RunItem, 0, len(actions))
			for i := range actions {
				failed = append(failed, store.ItemFromAction(run.ID, off+i, &actions[i], actions[i].UserID, "failed: batch rolled back: "+detail(err)))
			}
			if err := s.st.AddRunItems(context.WithoutCancel(ctx), failed); err != nil {
				s.log.Error("syncer: record failed items", "run", run.ID, "err", err)
			}
			break
		}
		if in.baseline != nil {
			countActions(in.baseline, actions)
		}
		run.Done = end
		run.Phase = actions[len(actions)-1].Phase
		rl.printf("batch %d–%d of %d applied", off+1, end, in.total)
		off = end
		if s.afterBatch != nil {
			s.afterBatch(run.ID, end)
		}
	}
	if err := s.st.AddRunItems(context.WithoutCancel(ctx), skipItems(run.ID, in.total, in.skips)); err != nil {
		s.log.Error("syncer: record skipped changes", "run", run.ID, "err", err)
	}
	s.flushDeliveries(context.WithoutCancel(ctx), run.ID, false, rl)
	rl.printf("applied %d of %d actions in %s", run.Done, run.Total, time.Since(start).Round(time.Millisecond))
	switch {
	case errors.Is(applyErr, store.ErrLeaseLost):
		s.log.Error("sync run lost the apply lock", "run", run.ID, "err", applyErr)
		return s.fail(ctx, run, rl, model.Errorf(model.ECONFLICT,
			"This run lost the apply lock (it could not renew it for a minute, or another run took it over) and stopped before committing actions %s; the %d actions before them are applied. The next run converges.", failedAt, run.Done))
	case applyErr != nil:
		s.log.Error("sync batch failed", "run", run.ID, "err", applyErr)
		return s.fail(ctx, run, rl, model.Errorf(model.ECONFLICT,
			"Actions %s failed and were rolled back (%s); the %d actions before them are applied. The next run converges.", failedAt, detail(applyErr), run.Done))
	case cancelled:
		run.Status = model.RunCancelled
		run.Error = fmt.Sprintf("Cancelled after %d of %d actions; every applied batch is complete, the rest was not applied.", run.Done, run.Total)
		rl.printf("CANCELLED")
		return s.finish(context.WithoutCancel(ctx), run, rl)
	}
	run.Status = model.RunSucceeded
	if run.PreviewRunID != 0 {
		// The preview is done with: its page no longer offers to apply it.
		if err := s.st.SetRunStatus(context.WithoutCancel(ctx), run.PreviewRunID, model.RunApplied); err != nil {
			s.log.Warn("syncer: mark preview applied", "run", run.PreviewRunID, "err", err)
		}
	}
	if in.baseline != nil {
		if b, err := json.Marshal(in.baseline); err == nil {
			if err := s.st.SaveRunBaseline(ctx, run.ID, b); err != nil {
				s.log.Warn("syncer: save baseline", "run", run.ID, "err", err)
			}
		}
	}
	return s.finish(ctx, run, rl)
}

// flushDeliveries queues the product deliveries run runID deferred to its
// end (others: those every other run left — under the lease, a killed
// run's), one per user. What cannot be queued now stays stored and is
// queued by the next apply.
func (s *Syncer) flushDeliveries(ctx context.Context, runID int64, others bool, rl *runLog) {
	n, err := s.st.FlushRunDeliveries(ctx, runID, others)
	switch {
	case err != nil:
		s.log.Warn("syncer: queue deferred deliveries; the next apply queues them", "run", runID, "err", err)
	case n > 0 && !others:
		rl.printf("queued the product deliveries of %d changed users", n)
	case n > 0:
		rl.printf("queued %d product deliveries an interrupted run left", n)
	}
}

// detail is a failure's message for the run log and items: the store's
// wrapped error text names the action and the database's reason. It never
// carries secrets (no directory credentials reach the store).
func detail(err error) string {
	var me *model.Error
	if errors.As(err, &me) {
		return me.Message
	}
	return err.Error()
}

func (s *Syncer) cancelledInDB(ctx context.Context, runID int64) bool {
	r, err := s.st.GetRun(ctx, runID)
	return err == nil && r.Status == model.RunCancelled
}

// startBaseline returns the figures the next run's guard compares with,
// before the plan: the directory's size and filled attributes, and the
// service group and profile sizes. countActions adds the plan's changes.
func startBaseline(snap *model.Snapshot, state *model.State) syncplan.Baseline {
	b := syncplan.Baseline{DirectoryUsers: len(snap.Users), ServiceGroupSizes: map[int64]int{}, ProfileSizes: map[int64]int{}, AttributeFilled: map[string]int{}}
	for _, u := range snap.Users {
		for k, v := range u.Attributes {
			if strings.TrimSpace(v) != "" {
				b.AttributeFilled[k]++
			}
		}
	}
	for _, m := range state.ServiceGroupMembers {
		b.ServiceGroupSizes[m.GroupID]++
	}
	for _, m := range state.ProfileMembers {
		b.ProfileSizes[m.GroupID]++
	}
	return b
}

// countActions adds applied actions' membership changes to b's sizes.
func countActions(b *syncplan.Baseline, actions []model.Action) {
	for i := range actions {
		a := &actions[i]
		switch a.Kind {
		case model.ActAddServiceGroup:
			b.ServiceGroupSizes[a.GroupID]++
		case model.ActRemoveServiceGroup:
			b.ServiceGroupSizes[a.GroupID]--
		case model.ActAddProfile:
			b.ProfileSizes[a.GroupID]++
		case model.ActRemoveProfile:
			b.ProfileSizes[a.GroupID]--
		}
	}
}

// sortedKeys returns m's keys in order (for stable output).
func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
