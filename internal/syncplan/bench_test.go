package syncplan

import (
	"fmt"
	"testing"

	"github.com/idsync/idsync/internal/model"
)

// benchInput generates a directory of nUsers users and nGroups nested groups
// (a 5-ary tree with one cycle from the last group back to the root; each
// user a direct member of two groups), 20 group mappings onto 10 service
// groups, 2 provisioning mappings, 10 profiles with rules, and an empty
// database with nDevices unassigned-yet devices' worth of state to come.
func benchInput(nUsers, nGroups int) Input {
	locs := []string{"Berlin", "Paris", "Rome", "Oslo", "Lima", "Kyiv", "Riga", "Bern", "Graz", "Nice"}
	snap := &model.Snapshot{SourceID: src, ReadAt: now, Complete: true}
	snap.Users = make([]model.DirUser, nUsers)
	for i := range snap.Users {
		ext := fmt.Sprintf("u%07d", i)
		snap.Users[i] = model.DirUser{ExternalID: ext, DN: "uid=" + ext + ",ou=people,dc=example,dc=org", Username: ext,
			Email: ext + "@example.org", DisplayName: "User " + ext,
			Attributes: model.Attributes{
				model.AttrLocation:      locs[i%len(locs)],
				model.AttrCostCenter:    fmt.Sprintf("CC-%d", i%50),
				model.AttrCorporateUnit: fmt.Sprintf("U%d", i%7),
				model.AttrDepartment:    fmt.Sprintf("D%d", i%30),
				model.AttrTitle:         "Engineer",
			}}
	}
	gdn := func(i int) string { return fmt.Sprintf("cn=g%05d,ou=groups,dc=example,dc=org", i) }
	snap.Groups = make([]model.DirGroup, nGroups)
	for i := range snap.Groups {
		g := &snap.Groups[i]
		g.DN, g.Name = gdn(i), fmt.Sprintf("g%05d", i)
		for c := 5*i + 1; c <= 5*i+5 && c < nGroups; c++ {
			g.Groups = append(g.Groups, gdn(c))
		}
	}
	snap.Groups[nGroups-1].Groups = append(snap.Groups[nGroups-1].Groups, gdn(0)) // cycle
	for i := range snap.Users {
		a, b := i%nGroups, (i*7+3)%nGroups
		snap.Groups[a].Users = append(snap.Groups[a].Users, snap.Users[i].ExternalID)
		if b != a {
			snap.Groups[b].Users = append(snap.Groups[b].Users, snap.Users[i].ExternalID)
		}
	}

	set := model.DefaultSettings()
	set.ProvisioningEnabled, set.DeprovisioningEnabled = true, true
	set.SyncEnterpriseGroupsToDevices = true
	st := &model.State{Settings: set, AttributeDefs: newFixture().st.AttributeDefs}
	for i := 0; i < 10; i++ {
		st.ServiceGroups = append(st.ServiceGroups, model.ServiceGroup{ID: int64(100 + i), Name: fmt.Sprintf("SG %d", i)})
		st.Profiles = append(st.Profiles, model.Profile{ID: int64(200 + i), Name: fmt.Sprintf("P %d", i), SyncEnabled: true,
			Rules: []model.Rule{{Attribute: model.AttrLocation, Value: locs[i]}}})
	}
	for i := 0; i < 20; i++ {
		st.GroupMappings = append(st.GroupMappings, model.GroupMapping{ID: int64(i + 1), SourceID: src, GroupDN: gdn(1 + i),
			ServiceGroupID: int64(100 + i%10), Nested: true, Priority: i % 3})
	}
	st.ProvisioningMappings = []model.ProvisioningMapping{
		{ID: 1, SourceID: src, GroupDN: gdn(0), AccountType: model.AccountDeviceEnabled, Nested: true},
		{ID: 2, SourceID: src, GroupDN: gdn(2), AccountType: model.AccountAdministrator, Nested: true},
	}
	return Input{Snapshot: snap, State: st, SourceID: src, Now: now}
}

// withDevices returns st with nDevices devices assigned round-robin to its users.
func withDevices(st *model.State, nDevices int) *model.State {
	st.Devices = make([]model.Device, nDevices)
	for i := range st.Devices {
		u := st.Users[(i*2)%len(st.Users)]
		st.Devices[i] = model.Device{ID: int64(i + 1), Name: fmt.Sprintf("dev%d", i), UserID: u.ID,
			Attributes: model.Attributes{model.AttrLocation: u.Attributes[model.AttrLocation]}}
	}
	return st
}

// BenchmarkBuild measures planning at 100k users, 5,000 nested groups,
// 20 mappings, 10 profiles and 50k devices (docs/BENCHMARKS.md):
//   - first_run: an empty database, every user is created and placed;
//   - no_change: the database after applying first_run; the plan is empty;
//   - changed: as no_change, with 5 % of users moved to another location
//     (attribute, profile and device changes).
func BenchmarkBuild(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		in := benchInput(n, 5000)
		first := Build(in)
		steady := in
		steady.State = withDevices(applyPlan(b, in.State, first, 1), n/2)
		if p := Build(steady); len(p.Actions) != 0 {
			b.Fatalf("steady state plans %d actions", len(p.Actions))
		}
		changed := steady
		snap := *in.Snapshot
		snap.Users = make([]model.DirUser, len(in.Snapshot.Users))
		copy(snap.Users, in.Snapshot.Users)
		for i := 0; i < len(snap.Users); i += 20 {
			snap.Users[i].Attributes = snap.Users[i].Attributes.Clone()
			snap.Users[i].Attributes[model.AttrLocation] = "Moved"
		}
		changed.Snapshot = &snap

		for _, c := range []struct {
			name string
			in   Input
		}{{"first_run", in}, {"no_change", steady}, {"changed", changed}} {
			b.Run(fmt.Sprintf("users=%d/%s", n, c.name), func(b *testing.B) {
				b.ReportAllocs()
				var p *model.Plan
				cpu0 := cpuTime()
				for b.Loop() {
					p = Build(c.in)
				}
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
				b.ReportMetric(float64(len(p.Actions)), "actions")
				b.ReportMetric(float64(len(p.Skips)), "skips")
			})
		}
	}
}
