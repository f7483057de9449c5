package syncplan

import (
	"reflect"
	"slices"
	"testing"

	"github.com/idsync/idsync/internal/model"
)

// applyPlan is a small in-memory applier: it returns a copy of st with the
// plan's actions applied, as the store would, assigning new ids from nextID.
// It lets the tests check that planning converges (idempotence).
func applyPlan(t testing.TB, st *model.State, p *model.Plan, nextID int64) *model.State {
	t.Helper()
	out := *st
	out.Users = make([]model.User, len(st.Users))
	for i, u := range st.Users {
		u.Attributes = u.Attributes.Clone()
		out.Users[i] = u
	}
	out.Devices = make([]model.Device, len(st.Devices))
	for i, d := range st.Devices {
		d.Attributes = d.Attributes.Clone()
		out.Devices[i] = d
	}
	out.ServiceGroupMembers = slices.Clone(st.ServiceGroupMembers)
	out.ProfileMembers = slices.Clone(st.ProfileMembers)

	idx := map[int64]int{}
	byExt := map[string]int64{}
	for i, u := range out.Users {
		idx[u.ID] = i
		if u.ExternalID != "" {
			byExt[u.ExternalID] = u.ID
		}
	}
	user := func(a model.Action) *model.User {
		id := a.UserID
		if id == 0 {
			id = byExt[a.ExternalID]
		}
		i, ok := idx[id]
		if !ok {
			t.Fatalf("action on unknown user: %+v", a)
		}
		return &out.Users[i]
	}
	deleted := map[int64]bool{}
	for _, a := range p.Actions {
		switch a.Kind {
		case model.ActCreateUser:
			u := *a.User
			u.ID = nextID
			nextID++
			u.Attributes = u.Attributes.Clone()
			out.Users = append(out.Users, u)
			idx[u.ID] = len(out.Users) - 1
			byExt[u.ExternalID] = u.ID
		case model.ActUpdateUser:
			u := user(a)
			u.Username, u.Email, u.DisplayName, u.DN = a.User.Username, a.User.Email, a.User.DisplayName, a.User.DN
		case model.ActUpdateAttribute, model.ActUpdateUserFromDev:
			u := user(a)
			if u.Attributes == nil {
				u.Attributes = model.Attributes{}
			}
			u.Attributes[a.Attribute] = a.New
		case model.ActDisableUser:
			u := user(a)
			u.Status, u.DisabledBySync = model.StatusDisabled, true
		case model.ActEnableUser:
			u := user(a)
			u.Status, u.DisabledBySync = model.StatusActive, false
		case model.ActDeleteUser:
			deleted[user(a).ID] = true
		case model.ActAddServiceGroup:
			out.ServiceGroupMembers = append(out.ServiceGroupMembers, model.Membership{GroupID: a.GroupID, UserID: user(a).ID})
		case model.ActRemoveServiceGroup:
			id := user(a).ID
			out.ServiceGroupMembers = slices.DeleteFunc(out.ServiceGroupMembers, func(m model.Membership) bool { return m.GroupID == a.GroupID && m.UserID == id })
		case model.ActAddProfile:
			out.ProfileMembers = append(out.ProfileMembers, model.Membership{GroupID: a.GroupID, UserID: user(a).ID})
		case model.ActRemoveProfile:
			id := user(a).ID
			out.ProfileMembers = slices.DeleteFunc(out.ProfileMembers, func(m model.Membership) bool { return m.GroupID == a.GroupID && m.UserID == id })
		case model.ActUpdateDevice:
			for i := range out.Devices {
				if out.Devices[i].ID == a.DeviceID {
					if out.Devices[i].Attributes == nil {
						out.Devices[i].Attributes = model.Attributes{}
					}
					out.Devices[i].Attributes[a.Attribute] = a.New
				}
			}
		default:
			t.Fatalf("applier: unexpected action %q", a.Kind)
		}
	}
	if len(deleted) > 0 {
		out.Users = slices.DeleteFunc(out.Users, func(u model.User) bool { return deleted[u.ID] })
		gone := func(m model.Membership) bool { return deleted[m.UserID] }
		out.ServiceGroupMembers = slices.DeleteFunc(out.ServiceGroupMembers, gone)
		out.ProfileMembers = slices.DeleteFunc(out.ProfileMembers, gone)
		for i := range out.Devices {
			if deleted[out.Devices[i].UserID] {
				out.Devices[i].UserID = 0
			}
		}
	}
	return &out
}

// TestIdempotent applies a busy plan and plans again: the second plan has no
// action, and the holds do not come back.
func TestIdempotent(t *testing.T) {
	for _, mode := range []model.MembershipMode{model.MembershipSingle, model.MembershipMultiple} {
		for _, action := range []model.DeprovisionAction{model.DeprovisionDelete, model.DeprovisionDisable, model.DeprovisionReport} {
			t.Run(string(mode)+"/"+string(action), func(t *testing.T) {
				f := newFixture()
				s := &f.st.Settings
				s.ProvisioningEnabled, s.DeprovisioningEnabled, s.DeprovisionAction = true, true, action
				s.ServiceGroupMembership = mode
				s.SyncEnterpriseGroupsToDevices = true
				f.st.Devices = []model.Device{{ID: 100, UserID: idAlice, Attributes: model.Attributes{model.AttrLocation: "Berlin"}}}
				f.addNew("dave", []string{dnDevices, dnStaff, dnAdmins}, model.AttrLocation, "Berlin")
				f.addNew("erin", []string{dnOps}, model.AttrLocation, "Rome")
				f.addNew("gus", []string{dnDevices}, model.AttrLocation, "Berlin") // placed by rules
				f.dirUser("alice").Attributes[model.AttrLocation] = "Munich"
				f.dirUser("alice").Email = "a@example.org"
				f.group(dnDevices).Users = []string{"alice", "dave", "gus"} // bob deprovisioned
				f.group(dnAdmins).Users = []string{"alice", "dave"}

				first := Build(f.input())
				if len(first.Actions) < 10 {
					t.Fatalf("first plan too small to test anything:\n%s", dumpPlan(first))
				}
				f.st = applyPlan(t, f.st, first, 1000)
				second := Build(f.input())
				if len(second.Actions) != 0 {
					t.Errorf("second plan has actions:\n%s", dumpPlan(second))
				}
				if f.st.Settings.ServiceGroupMembership == model.MembershipSingle {
					if !hasSkip(second, model.ActAddServiceGroup, "dave", "single membership") {
						t.Errorf("second plan lost the single-membership report for dave:\n%s", dumpPlan(second))
					}
				}
			})
		}
	}
}

// TestDeterministic: the same input in a different order gives the same plan.
func TestDeterministic(t *testing.T) {
	f := newFixture()
	f.st.Settings.ProvisioningEnabled = true
	for _, ext := range []string{"u3", "u1", "u2", "u5", "u4"} {
		f.addNew(ext, []string{dnDevices, dnStaff, dnAdmins}, model.AttrLocation, "Berlin")
	}
	want := Build(f.input())
	slices.Reverse(f.snap.Users)
	slices.Reverse(f.snap.Groups)
	slices.Reverse(f.st.Users)
	slices.Reverse(f.st.GroupMappings)
	slices.Reverse(f.st.ProvisioningMappings)
	for i := 0; i < 5; i++ {
		got := Build(f.input())
		if g, w := dumpPlan(got), dumpPlan(want); g != w {
			t.Fatalf("plans differ\ngot:\n%s\nwant:\n%s", g, w)
		}
		if got.SnapshotHash != want.SnapshotHash || got.StateHash != want.StateHash {
			t.Fatalf("hashes differ after reordering")
		}
	}
}

// TestNilInput: nothing panics and nothing is planned.
func TestNilInput(t *testing.T) {
	p := Build(Input{})
	if len(p.Actions) != 0 || p.SnapshotHash == "" || p.StateHash == "" {
		t.Fatalf("Build(Input{}) = %+v", p)
	}
	if e := Explain(Input{}, 7); e.Found {
		t.Fatalf("Explain on nothing found a user")
	}
	if p := ReconcileDevices(nil); len(p.Actions) != 0 {
		t.Fatalf("ReconcileDevices(nil) has actions")
	}
}

// TestBuildLeavesInputAlone: planning reads its input and never changes it.
func TestBuildLeavesInputAlone(t *testing.T) {
	busy := func() *fixture {
		f := newFixture()
		f.st.Settings.ProvisioningEnabled, f.st.Settings.DeprovisioningEnabled = true, true
		f.st.Settings.SyncEnterpriseGroupsToDevices, f.st.Settings.SyncDevicesToUsers = true, true
		f.st.Devices = []model.Device{{ID: 100, UserID: idAlice, Attributes: model.Attributes{model.AttrLocation: "Rome"}}, {ID: 101, UserID: idAlice}}
		f.addNew("dave", []string{dnDevices, dnStaff, dnAdmins}, model.AttrLocation, "Berlin")
		f.dirUser("alice").Attributes[model.AttrLocation] = "Munich"
		f.group(dnDevices).Users = []string{"dave", "alice"}
		return f
	}
	f, want := busy(), busy()
	Build(f.input())
	Explain(f.input(), idAlice)
	ReconcileDevices(f.st)
	if !reflect.DeepEqual(f.st, want.st) {
		t.Errorf("state changed by planning")
	}
	if !reflect.DeepEqual(f.snap, want.snap) {
		t.Errorf("snapshot changed by planning")
	}
}
