package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

// seedSource inserts a bare directory source row and returns its id.
func seedSource(t *testing.T, s *store.Store) int64 {
	t.Helper()
	ts := time.Now().UTC()
	if err := s.DB().Exec("INSERT INTO sources (name, kind, created_at, updated_at) VALUES (?, ?, ?, ?)", "src", "openldap", ts, ts).Error; err != nil {
		t.Fatalf("seed source: %v", err)
	}
	var id int64
	if err := s.DB().Raw("SELECT id FROM sources WHERE name = ?", "src").Scan(&id).Error; err != nil {
		t.Fatalf("seed source: %v", err)
	}
	return id
}

func seedGroup(t *testing.T, s *store.Store, name string) int64 {
	t.Helper()
	ts := time.Now().UTC()
	if err := s.DB().Exec("INSERT INTO service_groups (name, created_at, updated_at) VALUES (?, ?, ?)", name, ts, ts).Error; err != nil {
		t.Fatalf("seed group: %v", err)
	}
	var id int64
	s.DB().Raw("SELECT id FROM service_groups WHERE name = ?", name).Scan(&id)
	return id
}

func newRun(t *testing.T, s *store.Store, kind model.RunKind) *model.Run {
	t.Helper()
	r := &model.Run{Kind: kind, Trigger: model.TriggerAdmin, Actor: "alice", Status: model.RunRunning}
	if err := s.CreateRun(context.Background(), r); err != nil {
		t.Fatalf("create run: %v", err)
	}
	return r
}

func TestRunStorage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		r := newRun(t, s, model.RunPreview)
		if r.ID == 0 {
			t.Fatal("CreateRun did not set the id")
		}
		r.Status = model.RunPlanned
		r.Counts = map[string]int{"create_user": 3}
		r.Holds = []model.Hold{{Code: "shrink", Message: "far fewer users"}}
		r.FinishedAt = time.Now()
		r.Log = "line one\n"
		if err := s.SaveRun(ctx, r); err != nil {
			t.Fatalf("save run: %v", err)
		}
		got, err := s.GetRun(ctx, r.ID)
		if err != nil {
			t.Fatalf("get run: %v", err)
		}
		if got.Status != model.RunPlanned || got.Counts["create_user"] != 3 || len(got.Holds) != 1 || got.Log != "line one\n" || got.FinishedAt.IsZero() {
			t.Errorf("got %+v", got)
		}
		if _, err := s.GetRun(ctx, 99999); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("missing run: got %v, want ENOTFOUND", err)
		}

		plan := &model.Plan{Actions: []model.Action{{Phase: model.PhaseProvisioning, Kind: model.ActCreateUser, ExternalID: "x1",
			User: &model.User{Username: "x1", Attributes: model.Attributes{"location": "Berlin"}}}}, SnapshotHash: "sh", StateHash: "st"}
		if err := s.SaveRunPlan(ctx, r.ID, plan); err != nil {
			t.Fatalf("save plan: %v", err)
		}
		pr, err := s.OpenRunPlan(ctx, r.ID)
		if err != nil {
			t.Fatalf("open plan: %v", err)
		}
		acts, err := pr.Next(10)
		if err != nil || pr.Total != 1 || len(acts) != 1 || acts[0].User.Attributes["location"] != "Berlin" || pr.SnapshotHash != "sh" {
			t.Errorf("plan round trip: %v, total %d, %+v", err, pr.Total, acts)
		}
		if _, err := pr.Next(10); !errors.Is(err, io.EOF) {
			t.Errorf("after the last action: %v, want io.EOF", err)
		}
		if _, err := s.OpenRunPlan(ctx, r.ID+1000); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("plan of an unknown run: %v, want ENOTFOUND", err)
		}

		var items []model.RunItem
		for i := 0; i < 120; i++ {
			items = append(items, model.RunItem{RunID: r.ID, Seq: i, Phase: model.PhaseAttributes, Kind: model.ActUpdateAttribute,
				Performed: i%2 == 0, Username: fmt.Sprintf("user%03d", i), Reason: "r"})
		}
		if err := s.AddRunItems(ctx, items); err != nil {
			t.Fatalf("add items: %v", err)
		}
		page, total, err := s.ListRunItems(ctx, r.ID, model.RunItemFilter{Performed: "no", ListQuery: model.ListQuery{PerPage: 10, Page: 2}})
		if err != nil {
			t.Fatalf("list items: %v", err)
		}
		if total != 60 || len(page) != 10 || page[0].Seq != 21 {
			t.Errorf("items page: total %d len %d first %+v", total, len(page), page)
		}
		_, total, _ = s.ListRunItems(ctx, r.ID, model.RunItemFilter{ListQuery: model.ListQuery{Search: "USER11"}})
		if total != 10 {
			t.Errorf("search user11: got %d, want 10", total)
		}
		n := 0
		if err := s.EachRunItem(ctx, r.ID, func(model.RunItem) error { n++; return nil }); err != nil || n != 120 {
			t.Errorf("EachRunItem: n %d err %v", n, err)
		}

		a := newRun(t, s, model.RunApply)
		runs, total, err := s.ListRuns(ctx, model.RunFilter{Kind: model.RunApply})
		if err != nil || total != 1 || runs[0].ID != a.ID {
			t.Errorf("list apply runs: %v %d %v", runs, total, err)
		}
		_, total, _ = s.ListRuns(ctx, model.RunFilter{})
		if total != 2 {
			t.Errorf("list all runs: got %d, want 2", total)
		}

		// Baseline of the newest succeeded run.
		if b, err := s.LastGoodBaseline(ctx, 0); err != nil || b != nil {
			t.Errorf("no baseline yet: got %q %v", b, err)
		}
		a.Status = model.RunSucceeded
		s.SaveRun(ctx, a)
		s.SaveRunBaseline(ctx, a.ID, []byte(`{"DirectoryUsers":7}`))
		if b, _ := s.LastGoodBaseline(ctx, 0); string(b) != `{"DirectoryUsers":7}` {
			t.Errorf("baseline: got %q", b)
		}

		// Prune removes finished runs started before the cut, with their items.
		n64, err := s.PruneRuns(ctx, time.Now().Add(time.Hour))
		if err != nil || n64 != 2 {
			t.Errorf("prune: got %d %v, want 2", n64, err)
		}
		if _, total, _ := s.ListRunItems(ctx, r.ID, model.RunItemFilter{}); total != 0 {
			t.Errorf("items left after prune: %d", total)
		}
	})
}

func TestApplyLockOneAtATime(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		release, err := s.TryApplyLock(ctx)
		if err != nil {
			t.Fatalf("first lock: %v", err)
		}
		if _, err := s.TryApplyLock(ctx); model.ErrorCode(err) != model.ECONFLICT {
			t.Fatalf("second lock: got %v, want ECONFLICT", err)
		}
		release()
		release() // safe twice
		r2, err := s.TryApplyLock(ctx)
		if err != nil {
			t.Fatalf("lock after release: %v", err)
		}
		r2()
	})
}

func TestApplyActions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := model.WithActor(context.Background(), "sync")
		src := seedSource(t, s)
		sales := seedGroup(t, s, "Sales")
		run := newRun(t, s, model.RunApply)
		ids := map[string]int64{}
		var acts []model.Action
		for i := 0; i < 5; i++ {
			ext := fmt.Sprintf("ext-%d", i)
			acts = append(acts, model.Action{Phase: model.PhaseProvisioning, Kind: model.ActCreateUser, ExternalID: ext, Username: fmt.Sprintf("u%d", i),
				User: &model.User{Username: fmt.Sprintf("u%d", i), ExternalID: ext, SourceID: src, Status: model.StatusActive,
					AccountType: model.AccountDeviceEnabled, Origin: model.OriginDirectory, Attributes: model.Attributes{"location": "Berlin"}}})
		}
		for i := 0; i < 5; i++ {
			acts = append(acts, model.Action{Phase: model.PhaseServiceGroups, Kind: model.ActAddServiceGroup, ExternalID: fmt.Sprintf("ext-%d", i),
				Username: fmt.Sprintf("u%d", i), GroupID: sales, GroupName: "Sales"})
		}
		err := s.ApplyActions(ctx, store.ApplyBatch{RunID: run.ID, SourceID: src, Actions: acts, Done: len(acts), Total: len(acts) + 2}, ids)
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
		if len(ids) != 5 {
			t.Fatalf("ids: got %v", ids)
		}
		var n int64
		s.DB().Raw("SELECT count(*) FROM service_group_members WHERE service_group_id = ?", sales).Scan(&n)
		if n != 5 {
			t.Errorf("members: got %d, want 5", n)
		}
		s.DB().Raw("SELECT count(*) FROM user_attribute_values").Scan(&n)
		if n != 5 {
			t.Errorf("attribute values: got %d, want 5", n)
		}
		got, _ := s.GetRun(ctx, run.ID)
		if got.Done != 10 || got.Total != 12 {
			t.Errorf("progress: %d/%d", got.Done, got.Total)
		}
		_, total, _ := s.ListRunItems(ctx, run.ID, model.RunItemFilter{})
		if total != 10 {
			t.Errorf("items: got %d, want 10", total)
		}

		// Second batch: an attribute change, a disable and a delete; then a
		// failing batch that must leave nothing behind.
		u0, u1, u2 := ids["ext-0"], ids["ext-1"], ids["ext-2"]
		batch2 := []model.Action{
			{Phase: model.PhaseAttributes, Kind: model.ActUpdateAttribute, UserID: u0, Attribute: "location", Old: "Berlin", New: "Paris"},
			{Phase: model.PhaseAttributes, Kind: model.ActUpdateAttribute, UserID: u1, Attribute: "location", Old: "Berlin", New: ""},
			{Phase: model.PhaseProvisioning, Kind: model.ActDisableUser, UserID: u1},
			{Phase: model.PhaseProvisioning, Kind: model.ActDeleteUser, UserID: u2},
		}
		if err := s.ApplyActions(ctx, store.ApplyBatch{RunID: run.ID, Seq: 10, Actions: batch2, Done: 14, Total: 14}, ids); err != nil {
			t.Fatalf("apply 2: %v", err)
		}
		var loc string
		s.DB().Raw("SELECT value FROM user_attribute_values WHERE user_id = ?", u0).Scan(&loc)
		var status string
		var version int64
		s.DB().Raw("SELECT status FROM users WHERE id = ?", u1).Scan(&status)
		s.DB().Raw("SELECT version FROM users WHERE id = ?", u0).Scan(&version)
		s.DB().Raw("SELECT count(*) FROM users WHERE id = ?", u2).Scan(&n)
		if loc != "Paris" || status != "disabled" || n != 0 || version != 2 {
			t.Errorf("after batch 2: loc %q status %q u2 rows %d version %d", loc, status, n, version)
		}

		bad := []model.Action{
			{Phase: model.PhaseAttributes, Kind: model.ActUpdateAttribute, UserID: u0, Attribute: "location", Old: "Paris", New: "Rome"},
			{Phase: model.PhaseServiceGroups, Kind: model.ActAddServiceGroup, UserID: u0, GroupID: 987654, GroupName: "gone"},
		}
		err = s.ApplyActions(ctx, store.ApplyBatch{RunID: run.ID, Seq: 14, Actions: bad, Done: 16, Total: 16}, ids)
		if err == nil {
			t.Fatal("batch with a missing group: want an error")
		}
		s.DB().Raw("SELECT value FROM user_attribute_values WHERE user_id = ?", u0).Scan(&loc)
		if loc != "Paris" {
			t.Errorf("failed batch kept a change: location %q", loc)
		}
		var audits int64
		s.DB().Raw("SELECT count(*) FROM audit_log WHERE actor = ?", "sync").Scan(&audits)
		if audits != 8 { // 5 creates + u0, u1, u2
			t.Errorf("audit entries: got %d, want 8", audits)
		}
	})
}

func TestApplyActionsUnknownUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		run := newRun(t, s, model.RunApply)
		err := s.ApplyActions(context.Background(), store.ApplyBatch{RunID: run.ID, Actions: []model.Action{
			{Phase: model.PhaseAttributes, Kind: model.ActUpdateAttribute, ExternalID: "nobody", Username: "nobody", Attribute: "location", New: "x"}}}, map[string]int64{})
		if err == nil || !strings.Contains(err.Error(), "nobody") {
			t.Errorf("got %v, want an error naming the user", err)
		}
	})
}

// A run whose lease expired and was taken over can never commit another
// batch: the batch checks the lease's generation inside its own
// transaction and rolls back (issue 15 item 2).
func TestApplyLeaseFencesALostRun(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := model.WithActor(context.Background(), "sync")
		src := seedSource(t, s)
		run := newRun(t, s, model.RunApply)
		first, err := s.AcquireApplyLease(ctx)
		if err != nil {
			t.Fatalf("first lease: %v", err)
		}
		defer first.Release()
		if _, err := s.AcquireApplyLease(ctx); model.ErrorCode(err) != model.ECONFLICT {
			t.Fatalf("second lease while the first is live: got %v, want ECONFLICT", err)
		}
		seq := 0
		create := func(name string, l *store.ApplyLease) error {
			seq++
			act := model.Action{Phase: model.PhaseProvisioning, Kind: model.ActCreateUser, ExternalID: name, Username: name,
				User: &model.User{Username: name, ExternalID: name, SourceID: src, Status: model.StatusActive, AccountType: model.AccountDeviceEnabled}}
			return s.ApplyActions(ctx, store.ApplyBatch{RunID: run.ID, SourceID: src, Seq: seq, Actions: []model.Action{act}, Done: seq, Total: 9, Lease: l}, map[string]int64{})
		}
		if err := create("before", first); err != nil {
			t.Fatalf("batch under a live lease: %v", err)
		}
		// The first holder stops renewing (its process hangs, or it cannot
		// reach the database) until the lease expires; another run takes over.
		if err := s.DB().Exec("UPDATE apply_lease SET expires_at_ms = 1").Error; err != nil {
			t.Fatal(err)
		}
		second, err := s.AcquireApplyLease(ctx)
		if err != nil {
			t.Fatalf("take-over of an expired lease: %v", err)
		}
		if second.Generation() <= first.Generation() {
			t.Errorf("generation: %d after %d", second.Generation(), first.Generation())
		}
		err = create("after", first)
		if !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("batch of the run that lost the lease: got %v, want ErrLeaseLost", err)
		}
		if !errors.Is(first.Err(), store.ErrLeaseLost) {
			t.Errorf("lost lease's Err: %v", first.Err())
		}
		var n int64
		s.DB().Raw("SELECT count(*) FROM users WHERE username = 'after'").Scan(&n)
		if n != 0 {
			t.Error("the fenced batch was committed")
		}
		if err := create("second", second); err != nil {
			t.Fatalf("batch of the new holder: %v", err)
		}
		// Releasing the lost lease leaves the new holder's alone.
		first.Release()
		if _, err := s.AcquireApplyLease(ctx); model.ErrorCode(err) != model.ECONFLICT {
			t.Fatalf("after the old holder released: got %v, want ECONFLICT", err)
		}
		second.Release()
		third, err := s.AcquireApplyLease(ctx)
		if err != nil {
			t.Fatalf("lease after release: %v", err)
		}
		third.Release()
	})
}
