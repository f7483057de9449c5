package auth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestGateBoundsConcurrency(t *testing.T) {
	g := NewGate(2, 100, time.Minute)
	var running, peak atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := g.Do(context.Background(), func() {
				n := running.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(5 * time.Millisecond)
				running.Add(-1)
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p != 2 {
		t.Fatalf("peak concurrency %d, want 2", p)
	}
}

func TestGateRefusesWhenFullOrSlow(t *testing.T) {
	g := NewGate(1, 1, 50*time.Millisecond)
	hold, held := make(chan struct{}), make(chan struct{})
	go func() { _ = g.Do(context.Background(), func() { close(held); <-hold }) }()
	<-held
	// One may wait; it gives up after the maximum wait.
	waited := make(chan error, 1)
	go func() { waited <- g.Do(context.Background(), func() { t.Error("ran while the slot was held") }) }()
	time.Sleep(10 * time.Millisecond)
	// The queue (1 running + 1 waiting) is full: refused at once.
	if err := g.Do(context.Background(), func() {}); !errors.Is(err, ErrBusy) {
		t.Errorf("third caller: %v, want ErrBusy", err)
	}
	if err := <-waited; !errors.Is(err, ErrBusy) {
		t.Errorf("waiting caller: %v, want ErrBusy after the maximum wait", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Do(ctx, func() {}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v, want context.Canceled", err)
	}
	close(hold)
}

func TestGateCheck(t *testing.T) {
	g := NewGate(0, 0, 0)
	if g.Concurrency() < 1 {
		t.Fatalf("default concurrency %d", g.Concurrency())
	}
	h, err := g.Hash(context.Background(), "correct horse battery", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Check(context.Background(), h, "correct horse battery"); err != nil {
		t.Errorf("right password: %v", err)
	}
	if err := g.Check(context.Background(), h, "wrong horse battery"); !errors.Is(err, ErrMismatch) {
		t.Errorf("wrong password: %v, want ErrMismatch", err)
	}
}
