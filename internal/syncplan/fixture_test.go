package syncplan

import (
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/model"
)

// The fixture: one source, two existing directory users (alice in Berlin,
// bob in Paris) in step with the directory, one local and one system
// account, three service groups, one profile, two group mappings and two
// provisioning mappings. Build on it yields no action; each test row
// changes one thing.
const (
	src = 1

	sgStaff  = 10 // mapped from cn=staff (nested)
	sgAdmins = 11 // mapped from cn=admins
	sgField  = 12 // not mapped; rules: location = Berlin
	prBerlin = 20 // rules: location = Berlin, sync on

	dnStaff   = "cn=staff,ou=groups,dc=example,dc=org"
	dnAdmins  = "cn=admins,ou=groups,dc=example,dc=org"
	dnDevices = "cn=devices,ou=groups,dc=example,dc=org" // provisioning: device-enabled
	dnOps     = "cn=ops,ou=groups,dc=example,dc=org"     // provisioning: administrator

	idAlice  = 1
	idBob    = 2
	idLocal  = 3
	idSystem = 4
)

var now = time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)

type fixture struct {
	snap *model.Snapshot
	st   *model.State
	base Baseline
}

func dirUser(ext string, attrs ...string) model.DirUser {
	a := model.Attributes{}
	for i := 0; i+1 < len(attrs); i += 2 {
		a[attrs[i]] = attrs[i+1]
	}
	return model.DirUser{ExternalID: ext, DN: "uid=" + ext + ",ou=people,dc=example,dc=org", Username: ext,
		Email: ext + "@example.org", DisplayName: strings.ToUpper(ext[:1]) + ext[1:], Attributes: a}
}

// stateUser is the account that is in step with d.
func stateUser(id int64, d model.DirUser, t model.AccountType) model.User {
	return model.User{ID: id, Username: d.Username, Email: d.Email, DisplayName: d.DisplayName, Status: model.StatusActive,
		Origin: model.OriginDirectory, AccountType: t, SourceID: src, ExternalID: d.ExternalID, DN: d.DN, Attributes: d.Attributes.Clone()}
}

func newFixture() *fixture {
	alice := dirUser("alice", model.AttrLocation, "Berlin", model.AttrCostCenter, "CC-100")
	bob := dirUser("bob", model.AttrLocation, "Paris")
	set := model.DefaultSettings()
	st := &model.State{
		Settings: set,
		AttributeDefs: []model.AttributeDef{
			{ID: 1, Key: model.AttrLocation, Name: "Location", EnterpriseGroup: true},
			{ID: 2, Key: model.AttrCorporateUnit, Name: "Corporate unit", EnterpriseGroup: true},
			{ID: 3, Key: model.AttrCostCenter, Name: "Cost center", EnterpriseGroup: true},
			{ID: 4, Key: model.AttrDepartment, Name: "Department"},
			{ID: 5, Key: model.AttrTitle, Name: "Title"},
		},
		Users: []model.User{
			stateUser(idAlice, alice, model.AccountDeviceEnabled),
			stateUser(idBob, bob, model.AccountDeviceEnabled),
			{ID: idLocal, Username: "carol", Status: model.StatusActive, Origin: model.OriginLocal, AccountType: model.AccountAdministrator},
			{ID: idSystem, Username: "sysadmin", Status: model.StatusActive, Origin: model.OriginSystem, AccountType: model.AccountAdministrator},
		},
		ServiceGroups: []model.ServiceGroup{
			{ID: sgStaff, Name: "Staff"},
			{ID: sgAdmins, Name: "Admins"},
			{ID: sgField, Name: "Field", Rules: []model.Rule{{Attribute: model.AttrLocation, Value: "Berlin"}}},
		},
		Profiles: []model.Profile{
			{ID: prBerlin, Name: "Berlin", Rules: []model.Rule{{Attribute: model.AttrLocation, Value: "Berlin"}}, SyncEnabled: true},
		},
		ServiceGroupMembers: []model.Membership{
			{GroupID: sgStaff, UserID: idAlice},
			{GroupID: sgStaff, UserID: idLocal, Manual: true},
		},
		ProfileMembers: []model.Membership{{GroupID: prBerlin, UserID: idAlice}},
		GroupMappings: []model.GroupMapping{
			{ID: 1, SourceID: src, GroupDN: dnStaff, ServiceGroupID: sgStaff, Nested: true, Priority: 1},
			{ID: 2, SourceID: src, GroupDN: dnAdmins, ServiceGroupID: sgAdmins, Priority: 2},
		},
		ProvisioningMappings: []model.ProvisioningMapping{
			{ID: 1, SourceID: src, GroupDN: dnDevices, AccountType: model.AccountDeviceEnabled},
			{ID: 2, SourceID: src, GroupDN: dnOps, AccountType: model.AccountAdministrator},
		},
	}
	snap := &model.Snapshot{SourceID: src, ReadAt: now, Complete: true,
		Users: []model.DirUser{alice, bob},
		Groups: []model.DirGroup{
			{DN: dnAdmins, Name: "admins"},
			{DN: dnDevices, Name: "devices", Users: []string{"alice", "bob"}},
			{DN: dnOps, Name: "ops"},
			{DN: dnStaff, Name: "staff", Users: []string{"alice"}},
		}}
	return &fixture{snap: snap, st: st}
}

func (f *fixture) input() Input {
	return Input{Snapshot: f.snap, State: f.st, SourceID: src, Baseline: f.base, Now: now}
}

// group returns the snapshot group dn, adding it when missing.
func (f *fixture) group(dn string) *model.DirGroup {
	for i := range f.snap.Groups {
		if f.snap.Groups[i].DN == dn {
			return &f.snap.Groups[i]
		}
	}
	f.snap.Groups = append(f.snap.Groups, model.DirGroup{DN: dn})
	return &f.snap.Groups[len(f.snap.Groups)-1]
}

func (f *fixture) dropGroup(dn string) {
	for i := range f.snap.Groups {
		if f.snap.Groups[i].DN == dn {
			f.snap.Groups = append(f.snap.Groups[:i], f.snap.Groups[i+1:]...)
			return
		}
	}
}

func (f *fixture) dirUser(ext string) *model.DirUser {
	for i := range f.snap.Users {
		if f.snap.Users[i].ExternalID == ext {
			return &f.snap.Users[i]
		}
	}
	return nil
}

func (f *fixture) user(id int64) *model.User {
	for i := range f.st.Users {
		if f.st.Users[i].ID == id {
			return &f.st.Users[i]
		}
	}
	return nil
}

func (f *fixture) dropDirUser(ext string) {
	for i := range f.snap.Users {
		if f.snap.Users[i].ExternalID == ext {
			f.snap.Users = append(f.snap.Users[:i], f.snap.Users[i+1:]...)
			break
		}
	}
	for i := range f.snap.Groups {
		g := &f.snap.Groups[i]
		for j, u := range g.Users {
			if u == ext {
				g.Users = append(g.Users[:j], g.Users[j+1:]...)
				break
			}
		}
	}
}

// addNew adds a directory user with no account, member of the given groups.
func (f *fixture) addNew(ext string, groups []string, attrs ...string) {
	f.snap.Users = append(f.snap.Users, dirUser(ext, attrs...))
	for _, dn := range groups {
		g := f.group(dn)
		g.Users = append(g.Users, ext)
	}
}

// ---- plan queries -----------------------------------------------------------

func actionsOf(p *model.Plan, kind model.ActionKind, username string) []model.Action {
	var out []model.Action
	for _, a := range p.Actions {
		if a.Kind == kind && (username == "" || a.Username == username) {
			out = append(out, a)
		}
	}
	return out
}

func hasAction(p *model.Plan, kind model.ActionKind, username string, groupID int64) bool {
	for _, a := range actionsOf(p, kind, username) {
		if groupID == 0 || a.GroupID == groupID {
			return true
		}
	}
	return false
}

func hasSkip(p *model.Plan, kind model.ActionKind, username, reasonPart string) bool {
	for _, s := range p.Skips {
		if s.Kind == kind && (username == "" || s.Username == username) && strings.Contains(s.Reason, reasonPart) {
			return true
		}
	}
	return false
}

func hasHold(p *model.Plan, code string) bool {
	for _, h := range p.Holds {
		if h.Code == code {
			return true
		}
	}
	return false
}

func dumpPlan(p *model.Plan) string {
	var b strings.Builder
	for _, a := range p.Actions {
		b.WriteString("  action " + string(a.Kind) + " " + a.Username + " g" + itoa(a.GroupID) + " d" + itoa(a.DeviceID) + " " + a.Attribute + ": " + a.Reason + "\n")
	}
	for _, s := range p.Skips {
		b.WriteString("  skip " + string(s.Kind) + " " + s.Username + " g" + itoa(s.GroupID) + ": " + s.Reason + "\n")
	}
	for _, h := range p.Holds {
		b.WriteString("  hold " + h.Code + ": " + h.Message + "\n")
	}
	return b.String()
}

// expect fails t when cond is false, printing the plan.
func expect(t *testing.T, p *model.Plan, cond bool, what string) {
	t.Helper()
	if !cond {
		t.Errorf("want %s; plan:\n%s", what, dumpPlan(p))
	}
}
