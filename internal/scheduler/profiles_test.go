package scheduler

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/demo"
	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/syncer"
)

// The scheduled refresh, through the real sync engine and the embedded
// demo directory, synchronizes profiles only when the master switch and
// the profile's checkbox are both on; otherwise the run report says why
// (issue 5, item 3).
func TestScheduledRefreshProfiles(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		st := sharedStores(t, dialect, 1)[0]
		ctx := model.WithActor(context.Background(), "test")
		log := slog.New(slog.DiscardHandler)
		dctx, stopDir := context.WithCancel(context.Background())
		dir, err := demo.Start(dctx, log)
		if err != nil {
			t.Fatalf("demo directory: %v", err)
		}
		t.Cleanup(func() { _ = dir.Close(); stopDir() })
		src := dir.Source()
		if err := st.CreateSource(ctx, &src); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateProvisioningMapping(ctx, &model.ProvisioningMapping{SourceID: src.ID, GroupDN: "cn=all-employees," + src.GroupBaseDN,
			AccountType: model.AccountDeviceEnabled, Nested: true, Priority: 1}); err != nil {
			t.Fatal(err)
		}
		set, err := st.GetSettings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		set.ProvisioningEnabled = true
		set.AutoProfileSync = false
		set.TimeZone = "UTC"
		if err := st.UpdateSettings(ctx, set); err != nil {
			t.Fatal(err)
		}
		prof := &model.Profile{Name: "Berlin staff", Rules: []model.Rule{{Attribute: model.AttrLocation, Value: "Berlin"}}, SyncEnabled: true}
		if err := st.CreateProfile(ctx, prof); err != nil {
			t.Fatal(err)
		}

		c := newClock(set.InstalledAt.Add(10 * 24 * time.Hour))
		runner := SyncRunner{Sources: st, Sync: syncer.New(st, directory.New(log), log)}
		s := New(st, runner, nil, Options{Tick: 20 * time.Millisecond, LeaseTTL: time.Second, Now: c.now, Holder: "solo"})
		startScheduler(t, s)

		// refresh waits for the refresh started at the clock's time and
		// returns its run's profile items that were not performed.
		refresh := func(label string) (model.ScheduleState, []model.RunItem) {
			t.Helper()
			var state model.ScheduleState
			waitFor(t, label, 60*time.Second, func() bool {
				state, _ = st.ScheduleState(ctx)
				return state.LastRunAt.Equal(c.now()) && state.LastStatus != model.RunRunning && state.LastStatus != ""
			})
			if state.LastStatus != model.RunSucceeded || len(state.LastRunIDs) != 1 {
				t.Fatalf("%s: status %s, runs %v, error %q", label, state.LastStatus, state.LastRunIDs, state.LastError)
			}
			items, _, err := st.ListRunItems(ctx, state.LastRunIDs[0], model.RunItemFilter{Phase: model.PhaseProfiles, Performed: "no", ListQuery: model.ListQuery{PerPage: 500}})
			if err != nil {
				t.Fatal(err)
			}
			return state, items
		}
		hasReason := func(items []model.RunItem, part string) bool {
			for _, it := range items {
				if strings.Contains(it.Reason, part) {
					return true
				}
			}
			return false
		}
		members := func() int {
			_, _, n, err := st.ListProfileMembers(ctx, prof.ID, model.ListQuery{PerPage: 1})
			if err != nil {
				t.Fatal(err)
			}
			return n
		}

		// 1. Master switch off.
		_, items := refresh("refresh with the master switch off")
		if !hasReason(items, "automatic profile synchronization is off") {
			t.Errorf("master switch off: no skip with the reason in %+v", items)
		}
		if n := members(); n != 0 {
			t.Errorf("master switch off: profile has %d members, want 0", n)
		}

		// 2. Master switch on, the profile's checkbox off.
		set.AutoProfileSync = true
		if err := st.UpdateSettings(ctx, set); err != nil {
			t.Fatal(err)
		}
		prof.SyncEnabled = false
		if err := st.UpdateProfile(ctx, prof); err != nil {
			t.Fatal(err)
		}
		c.set(c.now().Add(3 * 24 * time.Hour))
		_, items = refresh("refresh with the profile checkbox off")
		if !hasReason(items, `"Enable enterprise attributes synchronization" is off`) {
			t.Errorf("checkbox off: no skip with the reason in %+v", items)
		}
		if n := members(); n != 0 {
			t.Errorf("checkbox off: profile has %d members, want 0", n)
		}

		// 3. Both on: Berlin users join the profile.
		prof.SyncEnabled = true
		if err := st.UpdateProfile(ctx, prof); err != nil {
			t.Fatal(err)
		}
		c.set(c.now().Add(3 * 24 * time.Hour))
		state, _ := refresh("refresh with profile sync on")
		added, _, err := st.ListRunItems(ctx, state.LastRunIDs[0], model.RunItemFilter{Kind: model.ActAddProfile, Performed: "yes", ListQuery: model.ListQuery{PerPage: 1}})
		if err != nil {
			t.Fatal(err)
		}
		if len(added) == 0 {
			t.Error("profile sync on: no add_profile action in the run")
		}
		if n := members(); n == 0 {
			t.Error("profile sync on: the profile has no members")
		}
	})
}
