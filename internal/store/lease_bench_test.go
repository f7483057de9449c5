package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

// BenchmarkApplyLeaseProof measures what the per-batch proof of the apply
// lease (issue 15 item 2) costs a first apply: batches of 1,000 user
// creates on PostgreSQL, with and without the lease check, alternated
// batch by batch so that a shared machine's noise falls on both alike.
// It reports the mean batch time of each and the overhead in percent.
//
//	go test -run '^$' -bench BenchmarkApplyLeaseProof -benchtime 40x ./internal/store/
func BenchmarkApplyLeaseProof(b *testing.B) {
	s := storetest.Open(b, store.DialectPostgres)
	ctx := model.WithActor(context.Background(), "sync")
	ts := time.Now().UTC()
	storetest.Must(b, s.DB().Exec("INSERT INTO sources (name, kind, created_at, updated_at) VALUES (?, ?, ?, ?)", "src", "openldap", ts, ts).Error)
	var src int64
	storetest.Must(b, s.DB().Raw("SELECT id FROM sources WHERE name = 'src'").Scan(&src).Error)
	run := &model.Run{Kind: model.RunApply, Trigger: model.TriggerCLI, Status: model.RunRunning}
	storetest.Must(b, s.CreateRun(ctx, run))
	lease, err := s.AcquireApplyLease(ctx)
	storetest.Must(b, err)
	defer lease.Release()
	const per = 1000
	n := 0
	batch := func(l *store.ApplyLease) time.Duration {
		acts := make([]model.Action, per)
		for i := range acts {
			name := fmt.Sprintf("u%07d", n*per+i)
			acts[i] = model.Action{Phase: model.PhaseProvisioning, Kind: model.ActCreateUser, ExternalID: name, Username: name,
				User: &model.User{Username: name, ExternalID: name, SourceID: src, Status: model.StatusActive, AccountType: model.AccountDeviceEnabled,
					Attributes: model.Attributes{model.AttrLocation: "Berlin", model.AttrCorporateUnit: "Sales"}}}
		}
		start := time.Now()
		err := s.ApplyActions(ctx, store.ApplyBatch{RunID: run.ID, SourceID: src, Seq: n * per, Actions: acts, Done: (n + 1) * per, Total: b.N * 2 * per, Lease: l}, map[string]int64{})
		d := time.Since(start)
		storetest.Must(b, err)
		n++
		return d
	}
	var with, without time.Duration
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			without += batch(nil)
			with += batch(lease)
		} else {
			with += batch(lease)
			without += batch(nil)
		}
	}
	b.ReportMetric(float64(without.Milliseconds())/float64(b.N), "ms/batch-without")
	b.ReportMetric(float64(with.Milliseconds())/float64(b.N), "ms/batch-with")
	b.ReportMetric(100*(with.Seconds()-without.Seconds())/without.Seconds(), "overhead-%")
}
