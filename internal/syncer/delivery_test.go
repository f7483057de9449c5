package syncer_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/idsync/idsync/internal/directory/slapdtest"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/products"
	"github.com/idsync/idsync/internal/products/webhooktest"
	"github.com/idsync/idsync/internal/store/storetest"
)

// One product delivery per user per run, with the dispatcher delivering
// while the apply runs: a first apply gives every new user exactly one
// event, and a later run whose changes to a user fall into several
// batches (an attribute, then the profile it makes the user match) gives
// that user exactly one more (issue 15 item 7; BenchmarkSync covers 10k).
func TestOneDeliveryPerUserPerRun(t *testing.T) {
	const users = 300
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			srv := slapdtest.Start(t, slapdtest.Options{Users: users, Teams: 4})
			e := setup(t, srv, storetest.Open(t, d))
			withPlacements(t, e)
			rc := webhooktest.New(t, "hook-secret", true)
			p, _ := e.st.ListProducts(e.ctx)
			p[0].BaseURL, p[0].Secret = rc.URL, "hook-secret"
			if err := e.st.UpdateProduct(e.ctx, &p[0]); err != nil {
				t.Fatal(err)
			}
			disp, err := products.New(e.st, nil, products.Options{Policy: products.URLPolicy{AllowLoopback: true},
				PollInterval: 10 * time.Millisecond, Timeout: 5 * time.Second, Registry: prometheus.NewRegistry()})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = disp.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done })
			e.sy.SetBatchSize(16)

			first := e.apply(e.preview(), false)
			created := first.Counts[string(model.ActCreateUser)]
			perUser := waitEvents(t, rc, created)
			for name, n := range perUser {
				if n != 1 {
					t.Errorf("%s: %d events on the first apply, want 1", name, n)
				}
			}
			if len(perUser) != created {
				t.Errorf("%d users got events, want %d", len(perUser), created)
			}

			// Users 0, 6, 12… live in Berlin; moving them to Paris changes
			// their location, then (a later batch) their Paris profile.
			moved := 0
			for i := 0; i < users; i += 6 {
				if !slapdtest.Disabled(i) {
					e.modifyDirectory(i, "l", "Paris")
					moved++
				}
			}
			before := len(rc.Events())
			second := e.apply(e.preview(), false)
			if second.Counts[string(model.ActAddProfile)] != moved || second.Total <= 16 {
				t.Fatalf("second run: %v; want %d profile additions in several batches", second.Counts, moved)
			}
			all := waitEvents(t, rc, created+moved)
			again := map[string]int{}
			for _, ev := range rc.Events()[before:] {
				again[ev.User.Username]++
			}
			for name, n := range again {
				if n != 1 {
					t.Errorf("%s: %d events for one run, want 1", name, n)
				}
			}
			if len(again) != moved {
				t.Errorf("%d users got events from the second run, want %d (%v)", len(again), moved, all)
			}
		})
	}
}

// waitEvents waits until the receiver accepted want events, then a little
// longer for any extra ones, and returns the events per username.
func waitEvents(t *testing.T, rc *webhooktest.Receiver, want int) map[string]int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for rc.Accepted() < int64(want) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	out := map[string]int{}
	for _, ev := range rc.Events() {
		out[ev.User.Username]++
	}
	return out
}
