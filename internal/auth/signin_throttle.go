package auth

import (
	"sync"
	"time"
)

// Throttle limits password guesses per key (an account from one client,
// one client across accounts). An attempt is counted when it begins —
// before the password is checked — so parallel requests cannot get more
// guesses than the limit: after max failures (and attempts in flight) the
// key must wait, and every further failure doubles the wait (from Base up
// to the window). There is no hard lock: the wait belongs to the key, so a
// stranger failing from elsewhere does not keep the owner out. A key's
// failures are forgotten a window after its last one (or after the wait
// it caused). It lives in memory
// (per replica); a restart forgets, which only loosens it.
type Throttle struct {
	max    int
	base   time.Duration
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	keys map[string]*throttleState
}

type throttleState struct {
	fails    int
	inflight int
	last     time.Time // of the last failure
}

// NewThrottle allows max attempts per key before the growing delay starts
// at base; failures are forgotten window after the last. now may be nil.
func NewThrottle(max int, base, window time.Duration, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	if max < 1 {
		max = 1
	}
	return &Throttle{max: max, base: base, window: window, now: now, keys: map[string]*throttleState{}}
}

// forgotten reports whether a key's failures have lapsed: a window after
// the last one, or after the wait it caused.
func (t *Throttle) forgotten(st *throttleState, now time.Time) bool {
	if st.inflight > 0 {
		return false
	}
	keep := t.window
	if st.fails >= t.max {
		keep += t.delay(st.fails)
	}
	return now.Sub(st.last) >= keep
}

// delay is the wait after fails failures (fails ≥ max).
func (t *Throttle) delay(fails int) time.Duration {
	d := t.base
	for i := t.max; i < fails && d < t.window; i++ {
		d *= 2
	}
	return min(d, t.window)
}

// Attempt is one admitted guess; end it with exactly one of Fail,
// Succeed or Cancel.
type Attempt struct {
	t    *Throttle
	key  string
	done bool
}

// Begin admits an attempt for key, or refuses it and says how long to
// wait. Attempts in flight count as failures until they end.
func (t *Throttle) Begin(key string) (*Attempt, time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	st := t.keys[key]
	if st != nil && t.forgotten(st, now) {
		delete(t.keys, key)
		st = nil
	}
	if st == nil {
		if len(t.keys) >= 100000 {
			t.sweep(now)
		}
		st = &throttleState{}
		t.keys[key] = st
	}
	if used := st.fails + st.inflight; used >= t.max {
		if st.inflight > 0 {
			// Wait for the guesses in flight before admitting another.
			return nil, t.delay(used), false
		}
		if wait := st.last.Add(t.delay(st.fails)).Sub(now); wait > 0 {
			return nil, wait, false
		}
	}
	st.inflight++
	return &Attempt{t: t, key: key}, 0, true
}

func (t *Throttle) end(a *Attempt, fn func(st *throttleState, now time.Time)) {
	if a == nil || a.done {
		return
	}
	a.done = true
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.keys[a.key]
	if st == nil {
		return
	}
	st.inflight--
	fn(st, t.now())
}

// Fail ends the attempt as a wrong guess.
func (a *Attempt) Fail() {
	a.t.end(a, func(st *throttleState, now time.Time) { st.fails++; st.last = now })
}

// Succeed ends the attempt as a right guess. The key's earlier failures
// stay until they lapse: guesses racing a successful one in parallel must
// not get a fresh allowance.
func (a *Attempt) Succeed() {
	a.t.end(a, func(st *throttleState, _ time.Time) {
		if st.fails == 0 && st.inflight == 0 {
			delete(a.t.keys, a.key)
		}
	})
}

// Cancel ends the attempt without counting it (nothing was checked).
func (a *Attempt) Cancel() {
	a.t.end(a, func(st *throttleState, _ time.Time) {
		if st.fails == 0 && st.inflight == 0 {
			delete(a.t.keys, a.key)
		}
	})
}

// sweep drops forgotten keys; t.mu must be held.
func (t *Throttle) sweep(now time.Time) {
	for k, st := range t.keys {
		if t.forgotten(st, now) {
			delete(t.keys, k)
		}
	}
}
