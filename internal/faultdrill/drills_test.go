package faultdrill

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/directory/slapdtest"
	"github.com/idsync/idsync/internal/faultinject"
	"github.com/idsync/idsync/internal/products"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/pgtest"
	"github.com/idsync/idsync/internal/syncer"
)

// drill is one interruption and its recovery.
type drill struct {
	name     string
	dialects []string // default: PostgreSQL only
	run      func(t *testing.T, h *harness, dialect string)
}

// harness is shared by the drills: one slapd, one clean reference per
// dialect (made on first use).
type harness struct {
	t    *testing.T
	ldap *slapdtest.Server
	mu   sync.Mutex
	refs map[string]reference
}

func (h *harness) ref(t *testing.T, dialect string) reference {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if r, ok := h.refs[dialect]; ok {
		return r
	}
	// Made under the parent test, so its databases live until the end.
	r := cleanRun(h.t, dialect, freshDSN(h.t, dialect), h.ldap.URL)
	h.refs[dialect] = r
	return r
}

var (
	pgOnly = []string{store.DialectPostgres}
	both   = []string{store.DialectPostgres, store.DialectSQLite}
)

// Exit statuses of `idsync sync` (docs/sync.md, "Command line").
const (
	exitHeld      = 3 // the guard held the plan; nothing applied
	exitCancelled = 5 // stopped before any batch
	exitFailed    = 6 // failed before any batch (directory read…)
	exitPartial   = 7 // cancelled or failed after some batches
)

// checkExit checks a run's exit status.
func checkExit(t *testing.T, r result, want int) {
	t.Helper()
	if r.code != want {
		t.Errorf("idsync sync exited %d, want %d: %v", r.code, want, r)
	}
}

func drills() []drill {
	return []drill{
		{name: "sigkill-before-first-batch", dialects: both, run: interruptApply(faultinject.ApplyBeforeBatch+"=kill@1", syscall.SIGKILL, true, 0)},
		// A killed apply's lease blocks the next apply for a minute; this
		// drill waits for it, the others fast-forward it (expireLease).
		{name: "sigkill-between-batches", run: interruptApply(faultinject.ApplyBeforeBatch+"=kill@4", syscall.SIGKILL, false, 0)},
		{name: "sigkill-between-batches-fast", dialects: []string{store.DialectSQLite}, run: interruptApply(faultinject.ApplyBeforeBatch+"=kill@4", syscall.SIGKILL, true, 0)},
		{name: "sigkill-during-commit", dialects: both, run: interruptApply(faultinject.ApplyBeforeCommit+"=kill@3", syscall.SIGKILL, true, 0)},
		{name: "sigkill-after-commit", run: interruptApply(faultinject.ApplyAfterCommit+"=kill@5", syscall.SIGKILL, true, 0)},
		{name: "sigterm-before-first-batch", dialects: both, run: interruptApply(faultinject.ApplyBeforeBatch+"=term@1", 0, false, exitCancelled)},
		{name: "sigterm-between-batches", dialects: both, run: interruptApply(faultinject.ApplyBeforeBatch+"=term@4", 0, false, exitPartial)},
		{name: "sigterm-during-commit", dialects: both, run: interruptApply(faultinject.ApplyBeforeCommit+"=term@3", 0, false, exitPartial)},
		{name: "cancel-from-another-replica", dialects: both, run: cancelFromAnotherReplica},
		{name: "sigkill-during-delivery", run: killDuringDelivery},
		{name: "postgres-restart-mid-apply", run: postgresRestartMidApply},
		{name: "postgres-restart-mid-delivery", run: postgresRestartMidDelivery},
		{name: "lock-connection-terminated", run: lockConnectionTerminated},
		{name: "lock-taken-over", dialects: both, run: lockTakenOver},
		{name: "directory-drops-connection-mid-read", run: badDirectory(proxyMode{kind: "cut", after: 150}, exitFailed)},
		{name: "directory-times-out", run: badDirectory(proxyMode{kind: "stall", after: 150}, exitFailed)},
		{name: "directory-answers-no-users", run: badDirectory(proxyMode{kind: "drop", dropSuffix: slapdtest.PeopleDN}, exitFailed)},
		{name: "directory-loses-an-ou", run: badDirectory(proxyMode{kind: "drop", dropSuffix: contractorOU}, exitHeld)},
		{name: "product-down-for-a-run", run: productDownForARun},
	}
}

// TestDrills runs every drill (`make test-faults`), two at a time (go
// test's -parallel, GOMAXPROCS by default): each has its own database,
// data directory, proxy and webhook receiver; the slapd is only read.
func TestDrills(t *testing.T) {
	h := &harness{t: t, ldap: startDirectory(t), refs: map[string]reference{}}
	start := time.Now()
	all := drills()
	// The clean references first, under the parent test, which outlives
	// the parallel drills.
	for _, d := range both {
		h.ref(t, d)
	}
	t.Run("drill", func(t *testing.T) {
		for _, d := range all {
			dialects := d.dialects
			if dialects == nil {
				dialects = pgOnly
			}
			for _, dialect := range dialects {
				t.Run(d.name+"/"+dialect, func(t *testing.T) {
					t.Parallel()
					d.run(t, h, dialect)
				})
			}
		}
	})
	t.Logf("drills took %s", time.Since(start).Round(time.Second))
}

// rerun applies until a run succeeds: a run refused because the killed
// run's SQLite lock row has not expired yet is retried (the row expires
// after a minute). Any other failure fails the drill.
func (e *env) rerun() result {
	e.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r := e.syncApply("")
		if r.err == nil && strings.Contains(r.out, "succeeded") {
			return r
		}
		if !strings.Contains(r.out, "in progress") || time.Now().After(deadline) {
			e.t.Fatalf("rerun after the interruption: %v", r)
		}
		time.Sleep(3 * time.Second)
	}
}

// interruptApply interrupts `idsync sync --apply` at a fault point; sig is
// the signal that must have ended it (0: it ends by itself, for SIGTERM).
// fastForward expires a killed apply's lease instead of waiting for it.
// wantCode is the exit status a SIGTERM'd run must end with.
func interruptApply(faults string, sig syscall.Signal, fastForward bool, wantCode int) func(t *testing.T, h *harness, dialect string) {
	return func(t *testing.T, h *harness, dialect string) {
		ref := h.ref(t, dialect)
		e := newEnv(t, dialect, freshDSN(t, dialect), h.ldap.URL)
		r := e.syncApply(faults)
		if !strings.Contains(r.out, "faultinject: ") {
			t.Fatalf("the fault %s never fired: %v", faults, r)
		}
		if r.signal != sig {
			t.Fatalf("want the run ended by signal %d: %v", sig, r)
		}
		if sig == 0 && strings.Contains(r.out, "succeeded") {
			t.Errorf("a SIGTERM'd apply reported success: %v", r)
		}
		if sig == 0 {
			checkExit(t, r, wantCode)
		}
		if sig == syscall.SIGKILL && fastForward {
			e.expireLease()
		}
		e.rerun()
		compare(t, "after the rerun", ref.applied, dump(t, e.st))
	}
}

// cancelFromAnotherReplica pauses an apply between batches and cancels it
// as the console of another replica would (Syncer.Cancel of a run this
// process does not run marks it cancelled in the database): the apply
// stops before its next batch, exits "partly applied", and the next run
// converges.
func cancelFromAnotherReplica(t *testing.T, h *harness, dialect string) {
	ref := h.ref(t, dialect)
	e := newEnv(t, dialect, freshDSN(t, dialect), h.ldap.URL)
	done := make(chan result, 1)
	finished := make(chan struct{})
	go func() { done <- e.syncApply(faultinject.ApplyBeforeBatch + "=pause@4"); close(finished) }()
	e.waitPaused(faultinject.ApplyBeforeBatch, finished)
	var runID int64
	if err := e.st.DB().Raw("SELECT id FROM runs WHERE kind = 'apply' AND status = 'running'").Scan(&runID).Error; err != nil || runID == 0 {
		t.Fatalf("find the running apply: id %d, %v", runID, err)
	}
	other := syncer.New(e.st, directory.New(nil), nil)
	if err := other.Cancel(context.Background(), runID); err != nil {
		t.Fatalf("cancel run %d: %v", runID, err)
	}
	e.resume(faultinject.ApplyBeforeBatch)
	r := <-done
	if !strings.Contains(r.out, "cancelled") {
		t.Errorf("the cancelled apply did not end cancelled: %v", r)
	}
	checkExit(t, r, exitPartial)
	e.rerun()
	compare(t, "after the rerun", ref.applied, dump(t, e.st))
}

// killDuringDelivery SIGKILLs `idsync serve` after a product answered a
// delivery and before the outcome was written; the next serve delivers the
// rest.
func killDuringDelivery(t *testing.T, h *harness, dialect string) {
	ref := h.ref(t, dialect)
	e := newEnv(t, dialect, freshDSN(t, dialect), h.ldap.URL)
	e.applyClean()
	s := e.serve(faultinject.ProductsDuringDelivery + "=kill@40")
	if r := s.wait(t, 2*time.Minute); r.signal != syscall.SIGKILL {
		t.Fatalf("serve was not killed at the fault: %v", r)
	}
	s = e.serve("")
	e.waitDelivered(s, 2*time.Minute)
	s.stop()
	compare(t, "after the second serve", ref.delivered, dump(t, e.st))
	checkEvents(t, e)
}

// postgresRestartMidApply restarts a private PostgreSQL while a batch's
// transaction is open; the apply fails, and the next converges.
func postgresRestartMidApply(t *testing.T, h *harness, dialect string) {
	ref := h.ref(t, dialect)
	pg := pgtest.Start(t)
	e := newEnv(t, dialect, pg.NewDB("drill"), h.ldap.URL)
	done := make(chan result, 1)
	finished := make(chan struct{})
	go func() { done <- e.syncApply(faultinject.ApplyBeforeCommit + "=pause@3"); close(finished) }()
	e.waitPaused(faultinject.ApplyBeforeCommit, finished)
	pg.Restart()
	e.reopen()
	e.resume(faultinject.ApplyBeforeCommit)
	r := <-done
	t.Logf("apply whose database restarted: %v", r)
	if r.err == nil && strings.Contains(r.out, "apply run") && strings.Contains(r.out, "succeeded") {
		t.Errorf("an apply whose database restarted mid-batch reported success: %v", r)
	}
	e.rerun()
	compare(t, "after the rerun", ref.applied, dump(t, e.st))
}

// postgresRestartMidDelivery restarts a private PostgreSQL while serve is
// between a product's answer and writing it; serve recovers by itself.
func postgresRestartMidDelivery(t *testing.T, h *harness, dialect string) {
	ref := h.ref(t, dialect)
	pg := pgtest.Start(t)
	e := newEnv(t, dialect, pg.NewDB("drill"), h.ldap.URL)
	e.applyClean()
	s := e.serve(faultinject.ProductsDuringDelivery + "=pause@20")
	e.waitPaused(faultinject.ProductsDuringDelivery, s.done)
	pg.Restart()
	e.reopen()
	e.resume(faultinject.ProductsDuringDelivery)
	e.waitDelivered(s, 2*time.Minute)
	if r := s.stop(); r.err != nil {
		t.Errorf("serve after the restart: %v", r)
	}
	compare(t, "after delivery", ref.delivered, dump(t, e.st))
	checkEvents(t, e)
}

// lockConnectionTerminated ends every session of the paused apply (only
// this drill's database, only the drill's idsync sessions) between two
// batches: an apply started meanwhile is refused, the first goes on on new
// sessions and finishes.
func lockConnectionTerminated(t *testing.T, h *harness, dialect string) {
	ref := h.ref(t, dialect)
	e := newEnv(t, dialect, freshDSN(t, dialect), h.ldap.URL)
	done := make(chan result, 1)
	finished := make(chan struct{})
	go func() { done <- e.syncApply(faultinject.ApplyBeforeBatch + "=pause@4"); close(finished) }()
	e.waitPaused(faultinject.ApplyBeforeBatch, finished)
	if n := e.terminateOwnSessions(); n < 1 {
		t.Fatal("the paused apply has no session to terminate")
	}
	second := e.syncApply("")
	if second.err == nil || !strings.Contains(second.out, "in progress") {
		t.Errorf("a second apply while the first holds the lock was not refused: %v", second)
	}
	e.resume(faultinject.ApplyBeforeBatch)
	first := <-done
	t.Logf("first apply (its sessions ended): %v", first)
	e.rerun()
	compare(t, "after the rerun", ref.applied, dump(t, e.st))
}

// lockTakenOver pauses an apply between batches, lets its lease expire (as
// if it had been cut off from the database for a minute) and runs a second
// apply, which takes the lease over; then the first goes on. It must stop
// before committing another batch and say it lost the lock.
func lockTakenOver(t *testing.T, h *harness, dialect string) {
	ref := h.ref(t, dialect)
	e := newEnv(t, dialect, freshDSN(t, dialect), h.ldap.URL)
	done := make(chan result, 1)
	finished := make(chan struct{})
	go func() { done <- e.syncApply(faultinject.ApplyBeforeBatch + "=pause@4"); close(finished) }()
	e.waitPaused(faultinject.ApplyBeforeBatch, finished)
	e.expireLease()
	second := e.syncApply("")
	t.Logf("second apply (took the lease over): %v", second)
	if second.err != nil || !strings.Contains(second.out, "succeeded") {
		t.Errorf("the second apply did not take the expired lease over: %v", second)
	}
	e.resume(faultinject.ApplyBeforeBatch)
	first := <-done
	t.Logf("first apply (lost its lease): %v", first)
	_, report, _ := strings.Cut(first.out, "apply run #")
	if strings.Contains(report, "succeeded") {
		t.Errorf("the apply that lost its lock succeeded: %v", first)
	} else if !strings.Contains(strings.ToLower(report), "lost the apply lock") {
		t.Errorf("the apply that lost its lock did not stop for that reason: %s", report)
	}
	e.rerun()
	compare(t, "after the rerun", ref.applied, dump(t, e.st))
}

// badDirectory syncs a converged installation through a directory that
// misbehaves: the run must change nothing (above all, remove nobody), and
// once the directory is back the next run converges.
// wantCode is the exit status of the run against the faulty directory.
func badDirectory(m proxyMode, wantCode int) func(t *testing.T, h *harness, dialect string) {
	return func(t *testing.T, h *harness, dialect string) {
		ref := h.ref(t, dialect)
		p := startProxy(t, h.ldap.URL)
		e := newEnv(t, dialect, freshDSN(t, dialect), p.URL)
		e.applyClean()
		before := dump(t, e.st)
		compare(t, "first apply through the proxy", ref.applied, before)
		p.set(m)
		r := e.syncApply("")
		t.Logf("sync through the faulty directory: %v", r)
		if r.err == nil {
			t.Errorf("a sync through the faulty directory exited 0: %v", r)
		}
		checkExit(t, r, wantCode)
		compare(t, "after the run against the faulty directory", before, dump(t, e.st))
		p.set(proxyMode{kind: "pass"})
		e.rerun()
		compare(t, "after the directory came back", ref.applied, dump(t, e.st))
	}
}

// productDownForARun keeps the webhook product failing for a whole apply,
// then brings it back: every user's latest state arrives, in order.
func productDownForARun(t *testing.T, h *harness, dialect string) {
	ref := h.ref(t, dialect)
	e := newEnv(t, dialect, freshDSN(t, dialect), h.ldap.URL)
	e.hook.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return true
	})
	s := e.serve("")
	e.applyClean()
	// Wait until every pending delivery was tried and failed at least once.
	deadline := time.Now().Add(time.Minute)
	for {
		var untried int64
		if err := e.st.DB().Raw("SELECT count(*) FROM product_user_state WHERE wanted_version > delivered_version AND attempts = 0").Scan(&untried).Error; err != nil {
			t.Fatal(err)
		}
		if untried == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries never tried while the product was down", untried)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(e.hook.Events()); n != 0 {
		t.Fatalf("%d events accepted while the product was down", n)
	}
	e.hook.SetFault(nil)
	e.waitDelivered(s, 2*time.Minute)
	s.stop()
	compare(t, "after the product came back", ref.delivered, dump(t, e.st))
	checkEvents(t, e)
}

// checkEvents checks what the webhook received: for every user, events in
// increasing version order, the last one the user's current version and
// status.
func checkEvents(t *testing.T, e *env) {
	t.Helper()
	type row struct {
		Username string
		Version  int64
		Status   string
	}
	var users []row
	if err := e.st.DB().Raw("SELECT username, version, status FROM users").Scan(&users).Error; err != nil {
		t.Fatal(err)
	}
	byUser := map[string][]products.Event{}
	for _, ev := range e.hook.Events() {
		if ev.User != nil {
			byUser[ev.User.Username] = append(byUser[ev.User.Username], ev)
		}
	}
	bad := 0
	for _, u := range users {
		evs := byUser[u.Username]
		var problem string
		switch {
		case len(evs) == 0:
			problem = "no event"
		case evs[len(evs)-1].Version != u.Version:
			problem = "last event is not the current version"
		case evs[len(evs)-1].User.Active != (u.Status == "active"):
			problem = "last event has the wrong status"
		}
		for i := 1; i < len(evs) && problem == ""; i++ {
			if evs[i].Version < evs[i-1].Version {
				problem = "events out of order"
			}
		}
		if problem != "" {
			bad++
			if bad <= 10 {
				t.Errorf("webhook, user %s (version %d, %s): %s: %+v", u.Username, u.Version, u.Status, problem, evs)
			}
		}
	}
	if bad > 10 {
		t.Errorf("webhook: %d users in all with a problem", bad)
	}
}
