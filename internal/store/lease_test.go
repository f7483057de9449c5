package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

func TestScheduleStateRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		got, err := s.ScheduleState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !got.LastRunAt.IsZero() || got.LastStatus != "" || len(got.LastRunIDs) != 0 {
			t.Fatalf("fresh state = %+v, want empty", got)
		}
		at := time.Now().UTC().Truncate(time.Millisecond)
		want := model.ScheduleState{LastRunAt: at, LastRunFinishedAt: at.Add(1500 * time.Millisecond), LastRunIDs: []int64{3, 17},
			LastStatus: model.RunFailed, LastError: "The directory did not answer.", LastTrigger: model.TriggerSchedule}
		if err := s.SaveScheduleState(ctx, want); err != nil {
			t.Fatal(err)
		}
		pruned := at.Add(time.Hour)
		if err := s.SaveSchedulePruned(ctx, pruned); err != nil {
			t.Fatal(err)
		}
		got, err = s.ScheduleState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !got.LastRunAt.Equal(want.LastRunAt) || !got.LastRunFinishedAt.Equal(want.LastRunFinishedAt) ||
			got.LastStatus != want.LastStatus || got.LastError != want.LastError || got.LastTrigger != want.LastTrigger ||
			len(got.LastRunIDs) != 2 || got.LastRunIDs[0] != 3 || got.LastRunIDs[1] != 17 {
			t.Errorf("state = %+v, want %+v", got, want)
		}
		if !got.LastPrunedAt.Equal(pruned) {
			t.Errorf("LastPrunedAt = %s, want %s", got.LastPrunedAt, pruned)
		}
		// Saving the run fields leaves the prune time alone.
		want.LastRunAt = time.Time{}
		if err := s.SaveScheduleState(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, _ = s.ScheduleState(ctx)
		if !got.LastRunAt.IsZero() || !got.LastPrunedAt.Equal(pruned) {
			t.Errorf("after clearing: LastRunAt %s LastPrunedAt %s", got.LastRunAt, got.LastPrunedAt)
		}
	})
}

func TestLease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, err := s.TryLease(ctx, "test", "a", time.Minute)
		if err != nil || a == nil {
			t.Fatalf("TryLease a = %v, %v", a, err)
		}
		if err := a.Renew(ctx); err != nil {
			t.Errorf("Renew: %v", err)
		}
		// A second holder is refused, even through the same pool (on
		// PostgreSQL the lease keeps its own connection, a session of its own).
		if b, err := s.TryLease(ctx, "test", "b", time.Minute); !errors.Is(err, store.ErrLeaseHeld) || b != nil {
			t.Fatalf("TryLease b while held = %v, %v; want none", b, err)
		}
		other, err := s.TryLease(ctx, "other", "b", time.Minute)
		if err != nil || other == nil {
			t.Fatalf("a different lease name is free: %v, %v", other, err)
		}
		if err := a.Release(ctx); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if err := a.Release(ctx); err != nil {
			t.Errorf("second Release: %v", err)
		}
		b, err := s.TryLease(ctx, "test", "b", time.Minute)
		if err != nil || b == nil {
			t.Fatalf("TryLease b after release = %v, %v", b, err)
		}
		_ = b.Release(ctx)
		_ = other.Release(ctx)
	})
}
