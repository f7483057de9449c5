package auth

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"
)

// A Gate bounds how many argon2id computations run at once. Each one
// takes 64 MiB and, with p=2, two cores for a few hundred milliseconds:
// unbounded, a burst of sign-ins multiplies the memory and starves every
// other request of CPU. Through a Gate, hashes queue instead; the queue
// itself is bounded in length and in waiting time, so a flood is refused
// quickly rather than piling up.
type Gate struct {
	slots   chan struct{}
	queue   chan struct{}
	maxWait time.Duration
}

// ErrBusy is returned when the queue is full or a hash waited longer than
// the gate's maximum wait; the caller should answer "try again shortly".
var ErrBusy = errors.New("auth: too many password checks at once")

// DefaultHashConcurrency is the number of hashes a Gate runs at once by
// default: half the CPUs Go uses (at least one), so a burst of sign-ins
// leaves the other half for pages. One hash at a time already uses two
// cores (p=2); more at once would not finish the burst sooner, only hold
// more memory.
func DefaultHashConcurrency() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// DefaultMaxQueue and DefaultMaxWait bound the sign-ins waiting for a slot.
const (
	DefaultMaxQueue = 256
	DefaultMaxWait  = 15 * time.Second
)

// NewGate returns a gate running at most n hashes at once (n < 1 means
// DefaultHashConcurrency), with at most maxQueue waiting (< 1 means
// DefaultMaxQueue), each for at most maxWait (≤ 0 means DefaultMaxWait).
func NewGate(n, maxQueue int, maxWait time.Duration) *Gate {
	if n < 1 {
		n = DefaultHashConcurrency()
	}
	if maxQueue < 1 {
		maxQueue = DefaultMaxQueue
	}
	if maxWait <= 0 {
		maxWait = DefaultMaxWait
	}
	return &Gate{slots: make(chan struct{}, n), queue: make(chan struct{}, n+maxQueue), maxWait: maxWait}
}

// Concurrency returns how many hashes the gate runs at once.
func (g *Gate) Concurrency() int { return cap(g.slots) }

// Do runs fn in a slot. It returns ErrBusy (wrapped) when the queue is
// full or no slot came free within the maximum wait, and ctx's error when
// ctx ended first; fn then does not run.
func (g *Gate) Do(ctx context.Context, fn func()) error {
	select {
	case g.queue <- struct{}{}:
		defer func() { <-g.queue }()
	default:
		return fmt.Errorf("%w: %d waiting", ErrBusy, cap(g.queue))
	}
	t := time.NewTimer(g.maxWait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
	case <-t.C:
		return fmt.Errorf("%w: no slot within %s", ErrBusy, g.maxWait)
	case <-ctx.Done():
		return fmt.Errorf("auth: waiting for a hashing slot: %w", ctx.Err())
	}
	defer func() { <-g.slots }()
	fn()
	return nil
}

// Hash is HashPasswordParams in a slot.
func (g *Gate) Hash(ctx context.Context, pw string, p Params) (string, error) {
	var hash string
	var herr error
	if err := g.Do(ctx, func() { hash, herr = HashPasswordParams(pw, p) }); err != nil {
		return "", err
	}
	return hash, herr
}

// Check is CheckPassword in a slot: nil on a match, ErrMismatch on a
// wrong password, ErrBusy or ctx's error when it could not run.
func (g *Gate) Check(ctx context.Context, hash, pw string) error {
	var cerr error
	if err := g.Do(ctx, func() { cerr = CheckPassword(hash, pw) }); err != nil {
		return err
	}
	return cerr
}

// DummyCheck is DummyCheck in a slot, so an unknown account costs (and
// waits) the same as a known one.
func (g *Gate) DummyCheck(ctx context.Context, pw string) error {
	return g.Do(ctx, func() { DummyCheck(pw) })
}
