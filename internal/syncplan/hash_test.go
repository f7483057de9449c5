package syncplan

import (
	"slices"
	"testing"

	"github.com/idsync/idsync/internal/model"
)

func TestSnapshotHashOrderIndependent(t *testing.T) {
	f := newFixture()
	f.group(dnStaff).Groups = []string{"cn=a,dc=x", "cn=b,dc=x"}
	f.group(dnDevices).Users = []string{"alice", "bob"}
	want := SnapshotHash(f.snap)

	g := newFixture()
	slices.Reverse(g.snap.Users)
	slices.Reverse(g.snap.Groups)
	g.group(dnStaff).Groups = []string{"cn=b,dc=x", "cn=a,dc=x"}
	g.group(dnDevices).Users = []string{"bob", "alice"}
	g.snap.ReadAt = now.Add(7) // the read time is not planning input
	g.dirUser("alice").Attributes["empty"] = ""
	if got := SnapshotHash(g.snap); got != want {
		t.Errorf("hash changed with order only: got %s, want %s", got, want)
	}
	if len(want) != 64 {
		t.Errorf("hash %q is not SHA-256 hex", want)
	}
}

func TestSnapshotHashSensitive(t *testing.T) {
	base := SnapshotHash(newFixture().snap)
	changes := []struct {
		name   string
		change func(f *fixture)
	}{
		{"complete flag", func(f *fixture) { f.snap.Complete = false }},
		{"user added", func(f *fixture) { f.addNew("zed", nil) }},
		{"e-mail", func(f *fixture) { f.dirUser("bob").Email = "x@y" }},
		{"disabled", func(f *fixture) { f.dirUser("bob").Disabled = true }},
		{"attribute", func(f *fixture) { f.dirUser("bob").Attributes[model.AttrTitle] = "x" }},
		{"group member", func(f *fixture) { f.group(dnAdmins).Users = []string{"bob"} }},
		{"nested group", func(f *fixture) { f.group(dnAdmins).Groups = []string{dnStaff} }},
		{"group removed", func(f *fixture) { f.dropGroup(dnOps) }},
		{"field boundary", func(f *fixture) {
			d := f.dirUser("bob")
			d.Username, d.Email = d.Username+d.Email[:1], d.Email[1:]
		}},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture()
			c.change(f)
			if got := SnapshotHash(f.snap); got == base {
				t.Errorf("hash unchanged after %s", c.name)
			}
		})
	}
}

func TestStateHash(t *testing.T) {
	base := StateHash(newFixture().st)
	t.Run("order independent", func(t *testing.T) {
		f := newFixture()
		slices.Reverse(f.st.Users)
		slices.Reverse(f.st.ServiceGroupMembers)
		slices.Reverse(f.st.GroupMappings)
		slices.Reverse(f.st.AttributeDefs)
		f.st.Users[0].UpdatedAt = now // timestamps and versions are not planning input
		f.st.Users[0].Version = 42
		f.st.Settings.RefreshIntervalHours = 1
		if got := StateHash(f.st); got != base {
			t.Errorf("hash changed: got %s, want %s", got, base)
		}
	})
	changes := []struct {
		name   string
		change func(f *fixture)
	}{
		{"setting provisioning", func(f *fixture) { f.st.Settings.ProvisioningEnabled = true }},
		{"setting membership", func(f *fixture) { f.st.Settings.ServiceGroupMembership = model.MembershipMultiple }},
		{"setting threshold", func(f *fixture) { f.st.Settings.DeleteThresholdCount++ }},
		{"user attribute", func(f *fixture) { f.user(idBob).Attributes[model.AttrTitle] = "x" }},
		{"user status", func(f *fixture) { f.user(idBob).Status = model.StatusDisabled }},
		{"disabled by sync", func(f *fixture) { f.user(idBob).DisabledBySync = true }},
		{"membership manual", func(f *fixture) { f.st.ServiceGroupMembers[0].Manual = true }},
		{"profile member", func(f *fixture) { f.st.ProfileMembers = nil }},
		{"profile rule", func(f *fixture) { f.st.Profiles[0].Rules[0].Value = "Paris" }},
		{"profile checkbox", func(f *fixture) { f.st.Profiles[0].SyncEnabled = false }},
		{"service group rule", func(f *fixture) { f.st.ServiceGroups[2].Rules = nil }},
		{"mapping force", func(f *fixture) { f.st.GroupMappings[0].Force = true }},
		{"mapping priority", func(f *fixture) { f.st.GroupMappings[0].Priority = 9 }},
		{"provisioning mapping type", func(f *fixture) { f.st.ProvisioningMappings[0].AccountType = model.AccountAdministrator }},
		{"attribute def", func(f *fixture) { f.st.AttributeDefs[3].EnterpriseGroup = true }},
		{"device", func(f *fixture) { f.st.Devices = []model.Device{{ID: 1, UserID: idAlice}} }},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture()
			c.change(f)
			if got := StateHash(f.st); got == base {
				t.Errorf("hash unchanged after %s", c.name)
			}
		})
	}
}

// Build carries the hashes of its inputs, whether it computes them or the
// caller gave them (computed while the other input was loading).
func TestBuildHashes(t *testing.T) {
	f := newFixture()
	in := f.input()
	p := Build(in)
	if p.SnapshotHash != SnapshotHash(f.snap) || p.StateHash != StateHash(f.st) {
		t.Fatalf("Build's hashes differ from SnapshotHash/StateHash")
	}
	in.SnapshotHash, in.StateHash = "given-snapshot", "given-state"
	if q := Build(in); q.SnapshotHash != "given-snapshot" || q.StateHash != "given-state" || len(q.Actions) != len(p.Actions) {
		t.Errorf("given hashes: got %q %q, %d actions (want %d)", q.SnapshotHash, q.StateHash, len(q.Actions), len(p.Actions))
	}
}
