package syncer_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/directory/slapdtest"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
	"github.com/idsync/idsync/internal/syncer"
)

const testUsers = 20

// activeUsers is how many of the first n generated users are enabled in
// the directory: disabled ones are not provisioned.
func activeUsers(n int) int {
	c := 0
	for i := 0; i < n; i++ {
		if !slapdtest.Disabled(i) {
			c++
		}
	}
	return c
}

// env is one test's directory, database and syncer.
type env struct {
	t     *testing.T
	ctx   context.Context
	srv   *slapdtest.Server
	st    *store.Store
	sy    *syncer.Syncer
	src   *model.Source
	teamA int64 // service group mapped from team-0000
	teamB int64 // service group mapped from team-0001
}

func setup(t *testing.T, srv *slapdtest.Server, st *store.Store) *env {
	t.Helper()
	ctx := model.WithActor(context.Background(), "alice")
	src := srv.Source()
	src.ID = 0
	if err := st.CreateSource(ctx, &src); err != nil {
		t.Fatalf("create source: %v", err)
	}
	set, err := st.GetSettings(ctx)
	if err != nil {
		t.Fatalf("settings: %v", err)
	}
	set.ProvisioningEnabled = true
	if err := st.UpdateSettings(ctx, set); err != nil {
		t.Fatalf("settings: %v", err)
	}
	if err := st.CreateProvisioningMapping(ctx, &model.ProvisioningMapping{SourceID: src.ID, GroupDN: "cn=all-staff," + slapdtest.GroupsDN,
		AccountType: model.AccountDeviceEnabled, Nested: true, Priority: 10}); err != nil {
		t.Fatalf("provisioning mapping: %v", err)
	}
	e := &env{t: t, ctx: ctx, srv: srv, st: st, src: &src}
	for i, id := range []*int64{&e.teamA, &e.teamB} {
		g := &model.ServiceGroup{Name: fmt.Sprintf("Team %d", i)}
		if err := st.CreateServiceGroup(ctx, g); err != nil {
			t.Fatalf("service group: %v", err)
		}
		*id = g.ID
		if err := st.CreateGroupMapping(ctx, &model.GroupMapping{SourceID: src.ID, GroupDN: slapdtest.TeamDN(i), ServiceGroupID: g.ID, Nested: true, Priority: 10 + i}); err != nil {
			t.Fatalf("group mapping: %v", err)
		}
	}
	e.sy = syncer.New(st, directory.New(slog.New(slog.DiscardHandler)), slog.New(slog.DiscardHandler))
	return e
}

func (e *env) countUsers() int {
	e.t.Helper()
	_, n, err := e.st.ListUsers(e.ctx, model.UserFilter{})
	if err != nil {
		e.t.Fatalf("list users: %v", err)
	}
	return n
}

func (e *env) preview() *model.Run {
	e.t.Helper()
	r, err := e.sy.Preview(e.ctx, e.src.ID, model.TriggerAdmin)
	if err != nil {
		e.t.Fatalf("preview: %v", err)
	}
	return r
}

func (e *env) apply(prev *model.Run, override bool) *model.Run {
	e.t.Helper()
	r, err := e.sy.Apply(e.ctx, prev.ID, override, model.TriggerAdmin)
	if err != nil {
		e.t.Fatalf("apply: %v", err)
	}
	if r.Status != model.RunSucceeded {
		e.t.Fatalf("apply: status %s (%s)", r.Status, r.Error)
	}
	return r
}

// modifyDirectory replaces attribute attr of user i in the directory.
func (e *env) modifyDirectory(i int, attr, value string) {
	e.t.Helper()
	c, err := ldap.DialURL(e.srv.URL)
	if err != nil {
		e.t.Fatalf("ldap dial: %v", err)
	}
	defer c.Close()
	if err := c.Bind(e.srv.BindDN, e.srv.Password); err != nil {
		e.t.Fatalf("ldap bind: %v", err)
	}
	m := ldap.NewModifyRequest(slapdtest.UserDN(i), nil)
	m.Replace(attr, []string{value})
	if err := c.Modify(m); err != nil {
		e.t.Fatalf("ldap modify: %v", err)
	}
}

func (e *env) userByName(name string) *model.User {
	e.t.Helper()
	us, _, err := e.st.ListUsers(e.ctx, model.UserFilter{ListQuery: model.ListQuery{Search: name}})
	if err != nil {
		e.t.Fatalf("list users: %v", err)
	}
	for i := range us {
		if us[i].Username == name {
			return &us[i]
		}
	}
	e.t.Fatalf("user %s not found", name)
	return nil
}

func TestSyncEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := slapdtest.Start(t, slapdtest.Options{Users: testUsers, Teams: 4})
		e := setup(t, srv, st)
		active := activeUsers(testUsers)

		prev := e.preview()
		t.Run("preview changes nothing", func(t *testing.T) {
			if got := e.countUsers(); got != 0 {
				t.Errorf("users after preview: got %d, want 0", got)
			}
			if prev.Status != model.RunPlanned {
				t.Errorf("status: got %s, want planned (%s)", prev.Status, prev.Error)
			}
			if got := prev.Counts[string(model.ActCreateUser)]; got != active {
				t.Errorf("create_user count: got %d, want %d", got, active)
			}
			if prev.Counts["users_changed"] != active {
				t.Errorf("users_changed: got %d, want %d", prev.Counts["users_changed"], active)
			}
			items, total, err := e.st.ListRunItems(e.ctx, prev.ID, model.RunItemFilter{Kind: model.ActCreateUser, Performed: "yes"})
			if err != nil || total != active || items[0].Outcome != "" {
				t.Errorf("preview items: total %d err %v", total, err)
			}
		})

		t.Run("apply converges", func(t *testing.T) {
			run := e.apply(prev, false)
			if got := e.countUsers(); got != active {
				t.Errorf("users after apply: got %d, want %d", got, active)
			}
			if run.Done != run.Total || run.Total != prev.Counts["actions"] {
				t.Errorf("progress: %d/%d, want %d", run.Done, run.Total, prev.Counts["actions"])
			}
			_, members, _, err := e.st.ListServiceGroupMembers(e.ctx, e.teamA, model.ListQuery{})
			if err != nil || len(members) != testUsers/4 {
				t.Errorf("team A members: got %d (%v), want %d", len(members), err, testUsers/4)
			}
			u := e.userByName(slapdtest.Username(0))
			if u.Attributes[model.AttrLocation] != slapdtest.Attrs(0)["l"] {
				t.Errorf("user0 location: got %q", u.Attributes[model.AttrLocation])
			}
			if _, _, err := e.st.ListAudit(e.ctx, model.ListQuery{Search: "sync run #"}); err != nil {
				t.Errorf("audit: %v", err)
			}
		})

		t.Run("second run is a no-op", func(t *testing.T) {
			p2 := e.preview()
			if p2.Counts["actions"] != 0 {
				items, _, _ := e.st.ListRunItems(e.ctx, p2.ID, model.RunItemFilter{Performed: "yes"})
				t.Fatalf("second preview: %d actions, want 0: %+v", p2.Counts["actions"], items)
			}
			r := e.apply(p2, false)
			if r.Done != 0 {
				t.Errorf("second apply did %d actions", r.Done)
			}
		})

		t.Run("stale after a directory change", func(t *testing.T) {
			p := e.preview()
			e.modifyDirectory(0, "l", "Lisbon")
			_, err := e.sy.Apply(e.ctx, p.ID, false, model.TriggerAdmin)
			if model.ErrorCode(err) != model.ECONFLICT || !strings.Contains(model.ErrorMessage(err), "preview again") {
				t.Fatalf("apply of a stale preview: got %v, want ECONFLICT preview again", err)
			}
			got, _ := e.st.GetRun(e.ctx, p.ID)
			if got.Status != model.RunStale {
				t.Errorf("preview status: got %s, want stale", got.Status)
			}
			if loc := e.userByName(slapdtest.Username(0)).Attributes[model.AttrLocation]; loc == "Lisbon" {
				t.Error("a stale plan changed data")
			}
		})

		t.Run("stale after a data change", func(t *testing.T) {
			p := e.preview() // plans user0 → Lisbon
			if p.Counts[string(model.ActUpdateAttribute)] != 1 {
				t.Fatalf("want one attribute update, got %v", p.Counts)
			}
			// An admin edits the very value the plan changes: the plan would
			// now read Rome → Lisbon, not Berlin → Lisbon.
			u := e.userByName(slapdtest.Username(0))
			u.Attributes[model.AttrLocation] = "Rome"
			if err := e.st.UpdateUser(e.ctx, u); err != nil {
				t.Fatal(err)
			}
			_, err := e.sy.Apply(e.ctx, p.ID, false, model.TriggerAdmin)
			if model.ErrorCode(err) != model.ECONFLICT || !strings.Contains(model.ErrorMessage(err), "preview again") {
				t.Fatalf("apply after a change to a user the plan touches: got %v, want ECONFLICT", err)
			}
			if got := e.userByName(slapdtest.Username(0)).Attributes[model.AttrLocation]; got != "Rome" {
				t.Errorf("a refused apply changed data: location %q", got)
			}
		})

		t.Run("refresh user", func(t *testing.T) {
			u := e.userByName(slapdtest.Username(0))
			run, err := e.sy.RefreshUser(e.ctx, u.ID)
			if err != nil || run.Status != model.RunSucceeded {
				t.Fatalf("refresh: %v %+v", err, run)
			}
			if got := e.userByName(slapdtest.Username(0)).Attributes[model.AttrLocation]; got != "Lisbon" {
				t.Errorf("location after refresh: got %q, want Lisbon", got)
			}
			if run.Counts[string(model.ActUpdateAttribute)] != 1 {
				t.Errorf("refresh counts: %v", run.Counts)
			}
			ex, err := e.sy.Explain(e.ctx, u.ID)
			if err != nil || !ex.InDirectory || len(ex.ServiceGroups) == 0 {
				t.Errorf("explain: %v %+v", err, ex)
			}
		})

		t.Run("one apply at a time", func(t *testing.T) {
			p := e.preview()
			release, err := e.st.TryApplyLock(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.sy.Apply(e.ctx, p.ID, false, model.TriggerAdmin)
			release()
			if model.ErrorCode(err) != model.ECONFLICT || !strings.Contains(model.ErrorMessage(err), "in progress") {
				t.Errorf("apply while locked: got %v, want ECONFLICT in progress", err)
			}
			e.apply(p, false) // and once the lock is free, it works
		})

		t.Run("holds refused without override, applied with", func(t *testing.T) {
			set, _ := e.st.GetSettings(e.ctx)
			set.DeprovisioningEnabled = true
			set.DeprovisionAction = model.DeprovisionDelete
			set.DeleteThresholdCount = 3
			set.DeleteThresholdPercent = 5
			if err := e.st.UpdateSettings(e.ctx, set); err != nil {
				t.Fatal(err)
			}
			// Only team-0000 (users 0, 4, 8, 12, 16) stays provisioned.
			pms, _ := e.st.ListProvisioningMappings(e.ctx)
			if err := e.st.CreateProvisioningMapping(e.ctx, &model.ProvisioningMapping{SourceID: e.src.ID, GroupDN: slapdtest.TeamDN(0),
				AccountType: model.AccountDeviceEnabled, Priority: 5}); err != nil {
				t.Fatal(err)
			}
			if err := e.st.DeleteProvisioningMapping(e.ctx, pms[0].ID); err != nil {
				t.Fatal(err)
			}
			p := e.preview()
			if p.Status != model.RunHeld || len(p.Holds) == 0 {
				t.Fatalf("preview: status %s holds %v, want held", p.Status, p.Holds)
			}
			run, err := e.sy.Apply(e.ctx, p.ID, false, model.TriggerAdmin)
			if model.ErrorCode(err) != model.ECONFLICT || run == nil || run.Status != model.RunHeld {
				t.Fatalf("apply without override: %v %+v", err, run)
			}
			if got := e.countUsers(); got != active {
				t.Fatalf("held apply removed users: %d left", got)
			}
			e.apply(p, true)
			if got := e.countUsers(); got != 5 {
				t.Errorf("users after override: got %d, want 5", got)
			}
		})
	})
}

func TestFailedDirectoryReadRemovesNobody(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := slapdtest.Start(t, slapdtest.Options{Users: 5, Teams: 1})
		e := setup(t, srv, st)
		e.apply(e.preview(), false)
		set, _ := e.st.GetSettings(e.ctx)
		set.DeprovisioningEnabled = true
		e.st.UpdateSettings(e.ctx, set)
		// Point the source at a port nobody listens on.
		// A changed URL needs the password entered again.
		e.src.URLs = []string{"ldap://127.0.0.1:1"}
		e.src.BindPassword = slapdtest.Password
		if err := e.st.UpdateSource(e.ctx, e.src); err != nil {
			t.Fatal(err)
		}
		run, err := e.sy.RunOnce(e.ctx, e.src.ID, model.TriggerSchedule)
		if err == nil || run == nil || run.Status != model.RunFailed || run.Error == "" {
			t.Fatalf("run once with a dead directory: %v %+v", err, run)
		}
		if got := e.countUsers(); got != activeUsers(5) {
			t.Errorf("users after a failed read: got %d, want %d", got, activeUsers(5))
		}
	})
}

// A batch that fails is rolled back whole, the run is failed, and the next
// run converges. The fault is a real database trigger, not a mock.
func TestBatchFailureRollsBackAndNextRunConverges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := slapdtest.Start(t, slapdtest.Options{Users: testUsers, Teams: 4})
		e := setup(t, srv, st)
		e.sy.SetBatchSize(7)
		var ddl, drop []string
		if st.Dialect() == store.DialectPostgres {
			// The second batch of creates fails at its fourth user.
			ddl = []string{`CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN IF (SELECT count(*) FROM users) >= 10 THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`,
				`CREATE TRIGGER boom BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION boom()`}
			drop = []string{`DROP TRIGGER boom ON users`}
		} else {
			ddl = []string{`CREATE TRIGGER boom BEFORE INSERT ON users WHEN (SELECT count(*) FROM users) >= 10 BEGIN SELECT RAISE(ABORT, 'boom'); END`}
			drop = []string{`DROP TRIGGER boom`}
		}
		for _, q := range ddl {
			if err := st.DB().Exec(q).Error; err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		run, err := e.sy.RunOnce(e.ctx, e.src.ID, model.TriggerAdmin)
		if err == nil || run.Status != model.RunFailed {
			t.Fatalf("run with a failing batch: %v %+v", err, run)
		}
		if run.Done == 0 || run.Done%7 != 0 || run.Done >= run.Total {
			t.Errorf("done %d of %d: want whole batches before the failure", run.Done, run.Total)
		}
		// The plan creates users first; only whole batches before the
		// failing one are kept.
		if got, want := e.countUsers(), min(run.Done, run.Counts[string(model.ActCreateUser)]); got != want {
			t.Errorf("users created before the failure: got %d, want %d", got, want)
		}
		_, failed, _ := st.ListRunItems(e.ctx, run.ID, model.RunItemFilter{Outcome: "failed"})
		if failed == 0 || failed > 7 {
			t.Errorf("failed items: got %d, want 1..7", failed)
		}
		// Memberships come with their user's create, in the same batch.
		_, members, _, _ := st.ListServiceGroupMembers(e.ctx, e.teamA, model.ListQuery{})
		for _, m := range members {
			if _, err := st.GetUser(e.ctx, m.UserID); err != nil {
				t.Errorf("member %d of team A: %v", m.UserID, err)
			}
		}
		for _, q := range drop {
			st.DB().Exec(q)
		}
		run, err = e.sy.RunOnce(e.ctx, e.src.ID, model.TriggerAdmin)
		if err != nil || run.Status != model.RunSucceeded {
			t.Fatalf("next run: %v %+v", err, run)
		}
		if p := e.preview(); p.Counts["actions"] != 0 {
			t.Errorf("after the next run: %d actions left", p.Counts["actions"])
		}
	})
}

// A cancelled apply stops between batches: whole batches stay applied, the
// rest is not, and the run ends cancelled.
func TestCancelStopsBetweenBatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := slapdtest.Start(t, slapdtest.Options{Users: testUsers, Teams: 4})
		e := setup(t, srv, st)
		e.sy.SetBatchSize(1)
		prev := e.preview()
		run, err := e.sy.StartApply(e.ctx, prev.ID, false, model.TriggerAdmin)
		if err != nil || run.Status != model.RunRunning {
			t.Fatalf("start apply: %v %+v", err, run)
		}
		if err := e.sy.Cancel(e.ctx, run.ID); err != nil {
			t.Fatalf("cancel: %v", err)
		}
		e.sy.Wait()
		got, err := e.st.GetRun(e.ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != model.RunCancelled || got.Done >= got.Total {
			t.Fatalf("after cancel: status %s, %d of %d", got.Status, got.Done, got.Total)
		}
		if users, want := e.countUsers(), min(got.Done, got.Counts[string(model.ActCreateUser)]); users != want {
			t.Errorf("users: got %d, want %d (one per applied create batch)", users, want)
		}
		if err := e.sy.Cancel(e.ctx, run.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("cancel of a finished run: got %v, want ENOTFOUND", err)
		}
	})
}

// A stored plan that was damaged after the preview is refused before its
// first action: the apply fails with the reason and changes nothing.
func TestDamagedStoredPlanChangesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := slapdtest.Start(t, slapdtest.Options{Users: 10, Teams: 2})
		e := setup(t, srv, st)
		prev := e.preview()
		if prev.Counts["actions"] == 0 {
			t.Fatal("the preview plans nothing")
		}
		// Flip one byte in the middle of the stored (compressed) plan.
		var raw []byte
		if err := st.DB().Raw("SELECT plan FROM run_plans WHERE run_id = ?", prev.ID).Row().Scan(&raw); err != nil {
			t.Fatal(err)
		}
		raw[len(raw)/2] ^= 0x55
		if err := st.DB().Exec("UPDATE run_plans SET plan = ? WHERE run_id = ?", raw, prev.ID).Error; err != nil {
			t.Fatal(err)
		}
		run, err := e.sy.Apply(e.ctx, prev.ID, false, model.TriggerAdmin)
		if err == nil || run == nil || run.Status != model.RunFailed || run.Done != 0 || !strings.Contains(run.Error, "damaged") {
			t.Fatalf("apply of a damaged plan: err %v, run %+v", err, run)
		}
		if got := e.countUsers(); got != 0 {
			t.Errorf("users after the refused apply: got %d, want 0", got)
		}
		// A new preview applies.
		e.apply(e.preview(), false)
		if got := e.countUsers(); got != activeUsers(10) {
			t.Errorf("users after the next run: got %d, want %d", got, activeUsers(10))
		}
	})
}

// A preview applied to the end is marked applied and cannot be applied a
// second time; its page no longer offers it.
func TestAppliedPreviewIsMarked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := slapdtest.Start(t, slapdtest.Options{Users: 10, Teams: 2})
		e := setup(t, srv, st)
		prev := e.preview()
		e.apply(prev, false)
		got, err := st.GetRun(e.ctx, prev.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != model.RunApplied {
			t.Errorf("preview status after its apply: %s, want applied", got.Status)
		}
		if _, err := e.sy.Apply(e.ctx, prev.ID, false, model.TriggerAdmin); model.ErrorCode(err) != model.ECONFLICT || !strings.Contains(err.Error(), "applied already") {
			t.Errorf("second apply of the same preview: %v, want a conflict saying it was applied", err)
		}
	})
}

// StartPreview answers at once with the running preview and plans in the
// background; an unknown source is refused without a run.
func TestStartPreview(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := slapdtest.Start(t, slapdtest.Options{Users: 10, Teams: 2})
		e := setup(t, srv, st)
		run, err := e.sy.StartPreview(e.ctx, e.src.ID, model.TriggerAdmin)
		if err != nil || run.Status != model.RunRunning || run.Kind != model.RunPreview {
			t.Fatalf("start preview: %v %+v", err, run)
		}
		e.sy.Wait()
		got, err := st.GetRun(e.ctx, run.ID)
		if err != nil || got.Status != model.RunPlanned || got.Counts["actions"] == 0 {
			t.Fatalf("after the background preview: %v %+v", err, got)
		}
		e.apply(got, false)
		if n := e.countUsers(); n != activeUsers(10) {
			t.Errorf("users after applying the background preview: %d, want %d", n, activeUsers(10))
		}
		if _, err := e.sy.StartPreview(e.ctx, 99999, model.TriggerAdmin); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("unknown source: %v, want ENOTFOUND", err)
		}
	})
}

// A stopping server's Shutdown cancels the running apply between batches
// and waits for it: the run ends cancelled, every applied batch complete.
func TestShutdownStopsApplies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := slapdtest.Start(t, slapdtest.Options{Users: testUsers, Teams: 4})
		e := setup(t, srv, st)
		e.sy.SetBatchSize(1)
		prev := e.preview()
		run, err := e.sy.StartApply(e.ctx, prev.ID, false, model.TriggerAdmin)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := e.sy.Shutdown(ctx); err != nil {
			t.Fatalf("shutdown: %v", err)
		}
		got, err := e.st.GetRun(e.ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != model.RunCancelled || got.Done >= got.Total {
			t.Fatalf("after shutdown: status %s, %d of %d", got.Status, got.Done, got.Total)
		}
	})
}
