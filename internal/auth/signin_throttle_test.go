package auth

import (
	"sync"
	"testing"
	"time"
)

func TestThrottleCountsBeforeTheCheck(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	th := NewThrottle(5, 30*time.Second, 15*time.Minute, func() time.Time { return now })
	// 40 attempts begin before any ends: only 5 are admitted.
	var admitted []*Attempt
	for range 40 {
		if a, _, ok := th.Begin("k"); ok {
			admitted = append(admitted, a)
		}
	}
	if len(admitted) != 5 {
		t.Fatalf("%d attempts admitted in parallel, want 5", len(admitted))
	}
	for _, a := range admitted {
		a.Fail()
	}
	_, wait, ok := th.Begin("k")
	if ok || wait != 30*time.Second {
		t.Fatalf("after 5 failures: ok=%v wait=%v, want refused for 30s", ok, wait)
	}
	// Growing delay: 30s, 1m, 2m, … capped at the window.
	prev := wait
	for _, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute, 15 * time.Minute} {
		now = now.Add(prev - time.Second)
		if _, _, ok := th.Begin("k"); ok {
			t.Fatalf("admitted a second before the wait of %v ended", prev)
		}
		now = now.Add(time.Second)
		a, w, ok := th.Begin("k")
		if !ok {
			t.Fatalf("after the wait: refused (%v)", w)
		}
		a.Fail()
		if _, w, ok := th.Begin("k"); ok || w != want {
			t.Fatalf("next wait = %v (ok=%v), want %v", w, ok, want)
		}
		prev = want
	}
	// Another key is unaffected; a success forgets the key.
	if a, _, ok := th.Begin("other"); !ok {
		t.Fatal("another key is refused")
	} else {
		a.Succeed()
	}
	// A window after the last wait, everything is forgotten.
	now = now.Add(30 * time.Minute)
	if a, _, ok := th.Begin("k"); !ok {
		t.Fatal("after the window: still refused")
	} else {
		a.Cancel()
	}
}

func TestThrottleConcurrent(t *testing.T) {
	th := NewThrottle(3, time.Second, time.Minute, nil)
	var mu sync.Mutex
	n := 0
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if a, _, ok := th.Begin("k"); ok {
				mu.Lock()
				n++
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
				a.Fail()
			}
		}()
	}
	wg.Wait()
	if n != 3 {
		t.Errorf("%d of 50 concurrent attempts admitted, want 3", n)
	}
}
