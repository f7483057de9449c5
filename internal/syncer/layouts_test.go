package syncer_test

import (
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/directory/slapdtest"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
	"github.com/idsync/idsync/internal/syncer"
)

const (
	lPeople = slapdtest.PeopleDN
	lGroups = slapdtest.GroupsDN
	lBase   = slapdtest.BaseDN
)

type layoutEnv struct {
	*env
	sg map[string]int64 // group cn → service group id
}

func setupLayout(t *testing.T, srv *slapdtest.Server, st *store.Store, dir *directory.Client, src model.Source) *layoutEnv {
	t.Helper()
	e := &layoutEnv{env: &env{t: t, srv: srv, st: st}, sg: map[string]int64{}}
	e.ctx = model.WithActor(t.Context(), "alice")
	src.ID = 0
	if err := st.CreateSource(e.ctx, &src); err != nil {
		t.Fatalf("create source: %v", err)
	}
	e.src = &src
	set, err := st.GetSettings(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	set.ProvisioningEnabled = true
	set.ServiceGroupMembership = model.MembershipMultiple
	if err := st.UpdateSettings(e.ctx, set); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateProvisioningMapping(e.ctx, &model.ProvisioningMapping{SourceID: src.ID, GroupDN: "cn=staff," + lGroups,
		AccountType: model.AccountDeviceEnabled, Nested: true, Priority: 10}); err != nil {
		t.Fatal(err)
	}
	for i, cn := range []string{"uniq", "posix", "names"} {
		g := &model.ServiceGroup{Name: "SG " + cn}
		if err := st.CreateServiceGroup(e.ctx, g); err != nil {
			t.Fatal(err)
		}
		e.sg[cn] = g.ID
		if err := st.CreateGroupMapping(e.ctx, &model.GroupMapping{SourceID: src.ID, GroupDN: "cn=" + cn + "," + lGroups, ServiceGroupID: g.ID, Nested: true, Priority: 10 + i}); err != nil {
			t.Fatal(err)
		}
	}
	e.sy = syncer.New(st, dir, slog.New(slog.DiscardHandler))
	return e
}

func layoutSource(srv *slapdtest.Server) model.Source {
	src := srv.Source()
	src.MemberAttr = "member, uniqueMember, memberUid"
	src.GroupFilter = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))"
	return src
}

// actions returns how many changes run r made or plans.
func actions(t *testing.T, st *store.Store, r *model.Run) []model.RunItem {
	t.Helper()
	items, _, err := st.ListRunItems(t.Context(), r.ID, model.RunItemFilter{Performed: "yes", ListQuery: model.ListQuery{PerPage: 500}})
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func serviceGroupsOf(t *testing.T, e *layoutEnv, name string) string {
	t.Helper()
	u := e.userByName(name)
	var out []string
	for _, cn := range []string{"names", "posix", "uniq"} {
		us, _, _, err := e.st.ListServiceGroupMembers(e.ctx, e.sg[cn], model.ListQuery{PerPage: 500})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range us {
			if m.ID == u.ID {
				out = append(out, "SG "+cn)
			}
		}
	}
	return strings.Join(out, ",")
}

// TestLayoutUnmatchedMembersAndNoFlapping: uniqueMember values with a
// UID count, memberUid follows the schema's case rule, every member that
// matches no user is a skip line with its reason (and in Why? when it
// points at an idsync user), and refresh and full sync agree: alternating
// them changes nothing.
func TestLayoutUnmatchedMembersAndNoFlapping(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		srv := slapdtest.Start(t, slapdtest.Options{LDIF: slapdtest.UnmatchedLDIF})
		src := layoutSource(srv)
		src.UserBaseDN = lBase // erin (ou=contractors) is read at first
		e := setupLayout(t, srv, st, directory.New(nil), src)
		e.apply(e.preview(), false)
		if n := e.countUsers(); n != 5 {
			t.Fatalf("users after the first sync = %d, want 5", n)
		}
		if got := serviceGroupsOf(t, e, "ann"); got != "SG names,SG posix,SG uniq" {
			t.Errorf("ann's service groups = %q, want SG uniq (uniqueMember with UID; names nests uniq) and SG posix", got)
		}
		if got := serviceGroupsOf(t, e, "dave"); got != "" {
			t.Errorf("dave's service groups = %q, want none (memberUid DAVE is case-exact)", got)
		}

		// Narrow the user base: erin is now outside it.
		e.src.UserBaseDN = lPeople
		if err := st.UpdateSource(e.ctx, e.src); err != nil {
			t.Fatal(err)
		}
		prev := e.preview()
		skips, _, err := st.ListRunItems(e.ctx, prev.ID, model.RunItemFilter{Performed: "no", ListQuery: model.ListQuery{PerPage: 500}})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{ // value in the reason → reason code
			"uid=ghost," + lPeople:             model.UnmatchedDangling,
			"uid=ghost2," + lPeople:            model.UnmatchedDangling,
			"uid=erin,ou=contractors," + lBase: model.UnmatchedOutsideBase,
			`memberUid "frank"`:                model.UnmatchedOutsideFilter,
			"member uid=frank," + lPeople:      model.UnmatchedOutsideFilter,
			`memberUid "nobody"`:               model.UnmatchedUnknownUID,
			`memberUid "DAVE"`:                 model.UnmatchedUnknownUID,
		}
		found := map[string]model.RunItem{}
		for _, it := range skips {
			for v, code := range want {
				if strings.Contains(it.Reason, v) && strings.Contains(it.Reason, "["+code+"]") {
					found[v] = it
				}
			}
		}
		for v := range want {
			if _, ok := found[v]; !ok {
				t.Errorf("no skip line for %s; skips: %v", v, skips)
			}
		}
		erin, dave := e.userByName("erin"), e.userByName("dave")
		if it := found["uid=erin,ou=contractors,"+lBase]; it.UserID != erin.ID {
			t.Errorf("erin's skip line names user %d, want %d", it.UserID, erin.ID)
		}
		if it := found[`memberUid "DAVE"`]; it.UserID != dave.ID {
			t.Errorf("DAVE's skip line names user %d, want dave %d", it.UserID, dave.ID)
		}
		if !strings.Contains(prev.Log, "group members matching no user: 2 dangling, 1 outside_base, 2 outside_filter, 2 unknown_uid") {
			t.Errorf("the run log does not count the unmatched members:\n%s", prev.Log)
		}
		e.apply(prev, true) // erin leaves (the guard may hold a delete)

		for name, code := range map[string]string{"erin": model.UnmatchedOutsideBase, "dave": model.UnmatchedUnknownUID} {
			ex, err := e.sy.Explain(e.ctx, e.userByName(name).ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(ex.Unmatched) == 0 || !strings.Contains(strings.Join(ex.Unmatched, "\n"), "["+code+"]") || !strings.Contains(ex.String(), "["+code+"]") {
				t.Errorf("Why? %s does not show the %s member: %v", name, code, ex.Unmatched)
			}
		}
		if ex, _ := e.sy.Explain(e.ctx, e.userByName("bob").ID); len(ex.Unmatched) != 0 {
			t.Errorf("Why? bob shows unmatched members: %v", ex.Unmatched)
		}

		// Alternate refresh of every user and full sync: nothing changes.
		for round := 0; round < 2; round++ {
			for _, name := range []string{"ann", "bob", "carl", "dave"} {
				r, err := e.sy.RefreshUser(e.ctx, e.userByName(name).ID)
				if err != nil {
					t.Fatalf("refresh %s: %v", name, err)
				}
				if a := actions(t, st, r); len(a) != 0 {
					t.Errorf("round %d: refresh %s changed %d things: %+v", round, name, len(a), a)
				}
			}
			p := e.preview()
			if a := actions(t, st, p); len(a) != 0 {
				t.Errorf("round %d: full sync after refresh plans %d changes: %+v", round, len(a), a)
			}
		}
	})
}

// TestTimedLockoutIsNotPermanent: locked(pwdAccountLockedTime, 900)
// disables a user only while the lock lasts; refresh and full sync enable
// them again once it expired (issue finding 11).
func TestTimedLockoutIsNotPermanent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		lock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		ldif := fmt.Sprintf("dn: uid=ann,%[1]s\nobjectClass: inetOrgPerson\nuid: ann\ncn: Ann\nsn: A\npwdAccountLockedTime: %[3]s\n\n"+
			"dn: uid=bob,%[1]s\nobjectClass: inetOrgPerson\nuid: bob\ncn: Bob\nsn: B\npwdAccountLockedTime: %[4]s\n\n"+
			"dn: cn=staff,%[2]s\nobjectClass: groupOfNames\ncn: staff\nmember: uid=ann,%[1]s\nmember: uid=bob,%[1]s\n",
			lPeople, lGroups, lock.Format("20060102150405Z"), directory.PermanentLock)
		srv := slapdtest.Start(t, slapdtest.Options{LDIF: ldif})
		var now atomic.Int64
		now.Store(lock.Add(time.Hour).Unix())
		dir := directory.New(nil)
		dir.SetClock(func() time.Time { return time.Unix(now.Load(), 0) })
		src := layoutSource(srv)
		src.Attributes.Disabled = "locked(pwdAccountLockedTime, 900)"
		e := setupLayout(t, srv, st, dir, src)
		e.apply(e.preview(), false)
		if n := e.countUsers(); n != 1 {
			t.Fatalf("users = %d, want 1 (ann; bob is locked for good)", n)
		}
		ann := e.userByName("ann")
		status := func() model.UserStatus {
			u, err := st.GetUser(e.ctx, ann.ID)
			if err != nil {
				t.Fatal(err)
			}
			return u.Status
		}
		if status() != model.StatusActive {
			t.Fatalf("ann is %s an hour after a 15-minute lock, want active", status())
		}
		now.Store(lock.Add(5 * time.Minute).Unix()) // within the lock
		if _, err := e.sy.RefreshUser(e.ctx, ann.ID); err != nil {
			t.Fatal(err)
		}
		if status() != model.StatusDisabled {
			t.Fatalf("ann is %s during the lock, want disabled", status())
		}
		now.Store(lock.Add(20 * time.Minute).Unix()) // the lock expired
		if _, err := e.sy.RefreshUser(e.ctx, ann.ID); err != nil {
			t.Fatal(err)
		}
		if status() != model.StatusActive {
			t.Fatalf("ann is %s after the lock expired, want active again", status())
		}
		if a := actions(t, st, e.preview()); len(a) != 0 {
			t.Errorf("full sync after the refresh plans %+v", a)
		}
	})
}
