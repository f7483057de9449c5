package main

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/idsync/idsync/internal/scheduler"
	"github.com/idsync/idsync/internal/syncer"
)

// newScheduler builds the periodic refresh: every enabled source is planned
// and applied through sy when the schedule is due, on one replica.
func (m *Main) newScheduler(sy *syncer.Syncer, reg prometheus.Registerer) (*scheduler.Scheduler, error) {
	metrics, err := scheduler.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("scheduler metrics: %w", err)
	}
	runner := scheduler.SyncRunner{Sources: m.Store, Sync: sy}
	return scheduler.New(m.Store, runner, m.Logger, scheduler.Options{
		Metrics:       metrics,
		Zone:          m.Config.TimeZone,
		RetentionDays: m.Config.RunRetentionDays,
	}), nil
}

// startScheduler runs sched in the background until ctx ends; the returned
// stop cancels it and waits for it (and any refresh it runs) to end.
func startScheduler(ctx context.Context, sched *scheduler.Scheduler) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sched.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}
