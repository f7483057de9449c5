package syncer

import (
	"context"
	"fmt"
	"time"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/syncplan"
)

// managedUser returns user userID and their source, or EINVALID when sync
// never changes the user (local and system accounts).
func (s *Syncer) managedUser(ctx context.Context, userID int64) (*model.User, *model.Source, error) {
	u, err := s.st.GetUser(ctx, userID)
	if err != nil {
		return nil, nil, err
	}
	if !u.Managed() {
		return u, nil, model.Errorf(model.EINVALID, "%s is a %s account: sync never changes it.", u.Username, u.Origin)
	}
	src, err := s.st.GetSource(ctx, u.SourceID)
	if err != nil {
		return u, nil, err
	}
	return u, src, nil
}

// RefreshUser reads user userID from the directory now and applies their
// changes alone (attributes, groups, profiles, devices; products follow
// from the version bump), as a refresh_user run whose items are the short
// report. ECONFLICT while an apply runs; EINVALID for local and system
// accounts; a user gone from the directory gives a succeeded run whose
// one line says so (the next full sync deprovisions them as configured).
func (s *Syncer) RefreshUser(ctx context.Context, userID int64) (*model.Run, error) {
	u, src, err := s.managedUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	lease, err := s.st.AcquireApplyLease(ctx)
	if err != nil {
		return nil, err
	}
	defer lease.Release()
	run := &model.Run{Kind: model.RunRefresh, Trigger: model.TriggerAdmin, Actor: model.ActorFrom(ctx), SourceID: src.ID, UserID: u.ID,
		Status: model.RunRunning, Phase: model.PhaseAttributes}
	if err := s.createRun(ctx, run); err != nil {
		return nil, fmt.Errorf("syncer: refresh user: %w", err)
	}
	rl := s.newLog(run.ID)
	rl.printf("refresh user %s", u.Username)
	start := time.Now()
	snap, err := s.dir.ReadUser(ctx, src, u.ExternalID)
	if err != nil {
		if directory.ErrorKind(err) == directory.KindNotFound {
			// The documented outcome, not a failure: the run succeeds and
			// says so; the next full sync deprovisions as configured.
			why := fmt.Sprintf("%s is no longer in the directory %q; nothing was changed now — the next full sync deprovisions them as configured", u.Username, src.Name)
			rl.printf("%s", why)
			plan := &model.Plan{Skips: []model.Skip{{Phase: model.PhaseProvisioning, Kind: model.ActDeleteUser, UserID: u.ID, ExternalID: u.ExternalID, Username: u.Username, Reason: why}}}
			if err := s.addPlanItems(ctx, run.ID, plan, ""); err != nil {
				return s.fail(ctx, run, rl, err)
			}
			run.Status, run.Counts = model.RunSucceeded, map[string]int{"gone": 1, "skipped": 1}
			return s.finish(context.WithoutCancel(ctx), run, rl)
		}
		return s.fail(ctx, run, rl, err)
	}
	rl.printf("read the user and %d groups from the directory (%s)", len(snap.Groups), time.Since(start).Round(time.Microsecond))
	cleanSnapshot(snap)
	start = time.Now()
	state, err := s.st.LoadUserState(ctx, u.ID)
	if err != nil {
		return s.fail(ctx, run, rl, err)
	}
	rl.printf("load data (%s)", time.Since(start).Round(time.Microsecond))
	start = time.Now()
	plan := syncplan.Build(syncplan.Input{Snapshot: snap, State: state, SourceID: src.ID, Now: s.now()})
	describePlan(run, plan)
	rl.printf("plan: %d actions, %d changes not performed (%s)", len(plan.Actions), len(plan.Skips), time.Since(start).Round(time.Microsecond))
	if len(plan.Holds) > 0 {
		if err := s.addPlanItems(ctx, run.ID, plan, "not performed: held"); err != nil {
			return s.fail(ctx, run, rl, err)
		}
		run.Status = model.RunHeld
		run.Error = model.ErrorMessage(holdError(plan.Holds))
		return s.finish(ctx, run, rl)
	}
	return s.execute(ctx, run, rl, newApplyInput(lease, &sliceSource{a: plan.Actions}, len(plan.Actions), plan.Skips, nil, state, src.ID))
}

// Explain answers "Why?" for user userID (SPEC §7) from a fresh read of the
// user in the directory and the current data. A user gone from the directory
// is explained as such; local and system accounts say sync leaves them alone.
func (s *Syncer) Explain(ctx context.Context, userID int64) (syncplan.Explanation, error) {
	u, src, err := s.managedUser(ctx, userID)
	if err != nil {
		if u != nil && model.ErrorCode(err) == model.EINVALID {
			return syncplan.Explanation{UserID: u.ID, Username: u.Username, Found: true,
				Notes: []string{model.ErrorMessage(err)}}, nil
		}
		return syncplan.Explanation{}, err
	}
	snap, err := s.dir.ReadUser(ctx, src, u.ExternalID)
	if err != nil {
		if directory.ErrorKind(err) != directory.KindNotFound {
			return syncplan.Explanation{}, err
		}
		snap = &model.Snapshot{SourceID: src.ID, ReadAt: s.now(), Complete: false}
	}
	cleanSnapshot(snap)
	state, err := s.st.LoadUserState(ctx, u.ID)
	if err != nil {
		return syncplan.Explanation{}, err
	}
	ex := syncplan.Explain(syncplan.Input{Snapshot: snap, State: state, SourceID: src.ID, Now: s.now()}, u.ID)
	if err := s.explainUnmatched(ctx, src.ID, &ex); err != nil {
		return syncplan.Explanation{}, err
	}
	return ex, nil
}

// explainUnmatched adds to ex the unmatched-member lines that the latest
// full read of the source (its newest preview) reported for the user: a
// single-user read cannot see member values that do not match the user.
func (s *Syncer) explainUnmatched(ctx context.Context, sourceID int64, ex *syncplan.Explanation) error {
	if !ex.Managed {
		return nil
	}
	runs, _, err := s.st.ListRuns(ctx, model.RunFilter{Kind: model.RunPreview, SourceID: sourceID, ListQuery: model.ListQuery{PerPage: 5}})
	if err != nil {
		return err
	}
	for _, r := range runs {
		if r.Status == model.RunRunning || r.Status == model.RunFailed || r.Status == model.RunCancelled {
			continue
		}
		items, _, err := s.st.ListRunItems(ctx, r.ID, model.RunItemFilter{UserID: ex.UserID, Performed: "no", ListQuery: model.ListQuery{PerPage: 100}})
		if err != nil {
			return err
		}
		ex.UnmatchedRunID = r.ID
		for _, it := range items {
			if syncplan.IsUnmatchedMember(it.Reason) {
				ex.Unmatched = append(ex.Unmatched, it.Reason)
			}
		}
		return nil
	}
	return nil
}

// PreviewReconcile plans "Reconcile devices now" (SPEC §6) and stores it as
// a reconcile run that Apply executes like a preview.
func (s *Syncer) PreviewReconcile(ctx context.Context, trig model.RunTrigger) (*model.Run, error) {
	run := &model.Run{Kind: model.RunReconcile, Trigger: trig, Actor: model.ActorFrom(ctx), Status: model.RunRunning, Phase: model.PhaseDevices}
	if err := s.createRun(ctx, run); err != nil {
		return nil, fmt.Errorf("syncer: reconcile: %w", err)
	}
	rl := s.newLog(run.ID)
	state, err := s.loadState(ctx, rl)
	if err != nil {
		return s.fail(ctx, run, rl, err)
	}
	plan := syncplan.ReconcileDevices(state)
	describePlan(run, plan)
	rl.printf("reconcile plan: %d device or user updates, %d conflicts or skips", len(plan.Actions), len(plan.Skips))
	if err := s.storePlan(ctx, run.ID, plan, rl); err != nil {
		return s.fail(ctx, run, rl, err)
	}
	run.Status = model.RunPlanned
	run.Total = len(plan.Actions)
	return s.finish(ctx, run, rl)
}
