// Package faultinject lets the fault drills (`make test-faults`) stop an
// idsync process at a named point of the apply and delivery paths, to prove
// that the next run converges whatever the instant of the interruption.
//
// Points are activated only by the environment variable IDSYNC_FAULTS, read
// once when the process starts. Unset (always, in production) every Hit is
// one load of a package-level bool and returns at once. Its value is a
// comma-separated list of point=action[@N]:
//
//	IDSYNC_FAULTS=apply.before-batch=kill@2
//	IDSYNC_FAULTS=apply.before-commit=pause@1,products.during-delivery=term@5
//
// N (default 1) is which hit of that point fires; earlier and later hits
// pass. Actions:
//
//	kill   SIGKILL this process (no clean-up runs, like a power cut)
//	term   SIGTERM this process (the graceful path), wait 200 ms for the
//	       handler, then carry on
//	pause  create IDSYNC_FAULT_DIR/<point>.paused and block until
//	       IDSYNC_FAULT_DIR/<point>.resume exists (the drill restarts
//	       PostgreSQL or cuts a connection meanwhile)
//
// A malformed IDSYNC_FAULTS makes the process exit at start with a message,
// so a drill cannot silently run without its fault.
package faultinject

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Env and DirEnv name the variables read at start.
const (
	Env    = "IDSYNC_FAULTS"
	DirEnv = "IDSYNC_FAULT_DIR"
)

// The points the code calls Hit with.
const (
	// ApplyBeforeBatch is before each apply batch's transaction starts
	// (hit 1: before the first batch; hit N: after N-1 committed batches).
	ApplyBeforeBatch = "apply.before-batch"
	// ApplyBeforeCommit is inside a batch's transaction, all its writes
	// done, before COMMIT: a kill there is a kill during the commit.
	ApplyBeforeCommit = "apply.before-commit"
	// ApplyAfterCommit is right after a batch's COMMIT returned.
	ApplyAfterCommit = "apply.after-commit"
	// ProductsDuringDelivery is after a product answered a delivery and
	// before the outcome is written to the outbox.
	ProductsDuringDelivery = "products.during-delivery"
)

// Points lists every known point; IDSYNC_FAULTS naming another is refused.
var Points = []string{ApplyBeforeBatch, ApplyBeforeCommit, ApplyAfterCommit, ProductsDuringDelivery}

type fault struct {
	action string
	at     int64
	hits   int64
}

var (
	enabled bool
	mu      sync.Mutex
	faults  map[string]*fault
	dir     string
)

func init() {
	v := os.Getenv(Env)
	if v == "" {
		return
	}
	f, err := parse(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "idsync: %s: %v\n", Env, err)
		os.Exit(2)
	}
	faults, dir, enabled = f, os.Getenv(DirEnv), true
}

// parse reads an IDSYNC_FAULTS value.
func parse(v string) (map[string]*fault, error) {
	out := map[string]*fault{}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		point, spec, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want point=action[@N]", item)
		}
		known := false
		for _, p := range Points {
			known = known || p == point
		}
		if !known {
			return nil, fmt.Errorf("%q: unknown point (known: %s)", point, strings.Join(Points, ", "))
		}
		action, n, hasN := strings.Cut(spec, "@")
		switch action {
		case "kill", "term", "pause":
		default:
			return nil, fmt.Errorf("%q: unknown action %q (kill, term, pause)", item, action)
		}
		at := int64(1)
		if hasN {
			i, err := strconv.ParseInt(n, 10, 64)
			if err != nil || i < 1 {
				return nil, fmt.Errorf("%q: @N must be a positive number", item)
			}
			at = i
		}
		out[point] = &fault{action: action, at: at}
	}
	return out, nil
}

// Hit marks that the code reached point; it does nothing unless
// IDSYNC_FAULTS arms that point and this is the armed hit.
func Hit(point string) {
	if !enabled {
		return
	}
	hit(point)
}

func hit(point string) {
	mu.Lock()
	f := faults[point]
	fire := false
	if f != nil {
		f.hits++
		fire = f.hits == f.at
	}
	mu.Unlock()
	if !fire {
		return
	}
	fmt.Fprintf(os.Stderr, "faultinject: %s hit %d: %s\n", point, f.at, f.action)
	switch f.action {
	case "kill":
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	case "term":
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		// Let the signal handler cancel before the code goes on, as it
		// would for a SIGTERM that arrived a moment earlier.
		time.Sleep(200 * time.Millisecond)
	case "pause":
		pause(point)
	}
}

func pause(point string) {
	d := dir
	if d == "" {
		d = os.TempDir()
	}
	_ = os.WriteFile(filepath.Join(d, point+".paused"), []byte(strconv.Itoa(os.Getpid())), 0o600)
	resume := filepath.Join(d, point+".resume")
	for {
		if _, err := os.Stat(resume); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
