package syncplan

import (
	"slices"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/model"
)

func TestExplain(t *testing.T) {
	const dnA, dnB = "cn=team-a,ou=groups,dc=example,dc=org", "cn=team-b,ou=groups,dc=example,dc=org"
	f := newFixture()
	f.st.Settings.ProvisioningEnabled = true
	// bob: staff ⊃ team-a ⊃ team-b (with a cycle back), also in admins and in both provisioning groups.
	f.group(dnStaff).Groups = []string{dnA}
	f.group(dnA).Groups = []string{dnB}
	f.group(dnB).Groups = []string{dnStaff}
	f.group(dnB).Users = []string{"bob"}
	f.group(dnAdmins).Users = []string{"bob"}
	f.group(dnOps).Users = []string{"bob"}
	f.st.Profiles = append(f.st.Profiles, model.Profile{ID: 21, Name: "Paris CC", SyncEnabled: true,
		Rules: []model.Rule{{Attribute: model.AttrLocation, Value: "Paris"}, {Attribute: model.AttrCostCenter, Value: "CC-9"}}})

	e := Explain(f.input(), idBob)
	if !e.Found || !e.Managed || !e.InDirectory {
		t.Fatalf("found/managed/in directory = %v/%v/%v", e.Found, e.Managed, e.InDirectory)
	}
	if e.ProvisionedAs != model.AccountDeviceEnabled || !e.DeviceEnabledWon || len(e.Provisioning) != 2 {
		t.Errorf("provisioning = %+v as %q won %v", e.Provisioning, e.ProvisionedAs, e.DeviceEnabledWon)
	}
	if len(e.ServiceGroups) != 2 {
		t.Fatalf("service groups = %+v", e.ServiceGroups)
	}
	won, lost := e.ServiceGroups[0], e.ServiceGroups[1]
	if got, want := won.Path, []string{dnStaff, dnA, dnB}; !slices.Equal(got, want) || won.Outcome != "added" || won.ServiceGroupID != sgStaff {
		t.Errorf("winner = %+v, want path %v, added to Staff", won, want)
	}
	if lost.Outcome != "lost" || lost.ServiceGroupID != sgAdmins || !strings.Contains(lost.Reason, "single membership") {
		t.Errorf("loser = %+v", lost)
	}
	if len(e.Profiles) != 2 {
		t.Fatalf("profiles = %+v", e.Profiles)
	}
	paris := e.Profiles[1]
	if paris.Matches || len(paris.Rules) != 2 || !paris.Rules[0].Match || paris.Rules[1].Match || paris.Rules[0].Have != "Paris" {
		t.Errorf("profile check = %+v", paris)
	}
	if !slices.ContainsFunc(e.Actions, func(a model.Action) bool { return a.Kind == model.ActAddServiceGroup && a.GroupID == sgStaff }) {
		t.Errorf("actions = %+v", e.Actions)
	}
	s := e.String()
	for _, part := range []string{"device-enabled wins", dnB, "lost", `profile "Paris CC"`, "will add_service_group"} {
		if !strings.Contains(s, part) {
			t.Errorf("String() lacks %q:\n%s", part, s)
		}
	}

	t.Run("local account", func(t *testing.T) {
		e := Explain(f.input(), idLocal)
		if !e.Found || e.Managed || len(e.Notes) == 0 || !strings.Contains(e.Notes[0], "local") {
			t.Errorf("explain local = %+v", e)
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		if e := Explain(f.input(), 999); e.Found || len(e.Notes) == 0 {
			t.Errorf("explain unknown = %+v", e)
		}
	})
}

func TestReconcileDevices(t *testing.T) {
	setup := func(forward, reverse bool) *model.State {
		f := newFixture()
		f.st.Settings.SyncEnterpriseGroupsToDevices = forward
		f.st.Settings.SyncDevicesToUsers = reverse
		f.st.Users = append(f.st.Users,
			model.User{ID: 7, Username: "lena", Origin: model.OriginLocal, Status: model.StatusActive},
			model.User{ID: 8, Username: "root", Origin: model.OriginSystem, Status: model.StatusActive})
		f.st.Devices = []model.Device{
			// alice (directory, location Berlin): one device in Rome
			{ID: 1, Name: "a1", UserID: idAlice, Attributes: model.Attributes{model.AttrLocation: "Rome"}},
			// bob (directory, Paris, no corporate unit): devices disagree on location, agree on unit
			{ID: 2, Name: "b1", UserID: idBob, Attributes: model.Attributes{model.AttrLocation: "Oslo", model.AttrCorporateUnit: "U1"}},
			{ID: 3, Name: "b2", UserID: idBob, Attributes: model.Attributes{model.AttrLocation: "Lima", model.AttrCorporateUnit: "U1"}},
			// lena (local, nothing set): one device
			{ID: 4, Name: "l1", UserID: 7, Attributes: model.Attributes{model.AttrCostCenter: "CC-7"}},
			// root (system): never changed
			{ID: 5, Name: "r1", UserID: 8, Attributes: model.Attributes{model.AttrCostCenter: "CC-8"}},
			// unassigned
			{ID: 6, Name: "spare", Attributes: model.Attributes{model.AttrLocation: "Nowhere"}},
		}
		return f.st
	}
	fromDev := func(p *model.Plan, user int64, key, val string) bool {
		return slices.ContainsFunc(p.Actions, func(a model.Action) bool {
			return a.Kind == model.ActUpdateUserFromDev && a.UserID == user && a.Attribute == key && a.New == val
		})
	}
	toDev := func(p *model.Plan, dev int64, key, val string) bool {
		return slices.ContainsFunc(p.Actions, func(a model.Action) bool {
			return a.Kind == model.ActUpdateDevice && a.DeviceID == dev && a.Attribute == key && a.New == val
		})
	}
	t.Run("both off: one skip", func(t *testing.T) {
		p := ReconcileDevices(setup(false, false))
		expect(t, p, len(p.Actions) == 0 && len(p.Skips) == 1, "no action, one skip")
	})
	t.Run("forward: devices aligned with their user's non-blank values", func(t *testing.T) {
		p := ReconcileDevices(setup(true, false))
		expect(t, p, toDev(p, 1, model.AttrLocation, "Berlin") && toDev(p, 1, model.AttrCostCenter, "CC-100"), "a1 gets Berlin and CC-100")
		expect(t, p, toDev(p, 2, model.AttrLocation, "Paris") && toDev(p, 3, model.AttrLocation, "Paris"), "b1 and b2 get Paris")
		expect(t, p, !toDev(p, 2, model.AttrCorporateUnit, ""), "a blank user value never blanks a device")
		expect(t, p, !slices.ContainsFunc(p.Actions, func(a model.Action) bool { return a.DeviceID == 5 || a.DeviceID == 6 }), "system and unassigned devices untouched")
		expect(t, p, len(actionsOf(p, model.ActUpdateUserFromDev, "")) == 0, "no reverse action")
		expect(t, p, len(p.Actions) == 4, "exactly four updates")
	})
	t.Run("reverse: unambiguous values copied, conflicts listed", func(t *testing.T) {
		p := ReconcileDevices(setup(false, true))
		expect(t, p, fromDev(p, idBob, model.AttrCorporateUnit, "U1"), "bob's unit from his agreeing devices")
		expect(t, p, hasSkip(p, model.ActUpdateUserFromDev, "bob", `"Lima" on b2; "Oslo" on b1`), "bob's location conflict listed")
		expect(t, p, fromDev(p, 7, model.AttrCostCenter, "CC-7"), "lena's cost center from her only device")
		expect(t, p, hasSkip(p, model.ActUpdateUserFromDev, "alice", "comes from the directory"), "alice's directory value wins")
		expect(t, p, !fromDev(p, 8, model.AttrCostCenter, "CC-8"), "system account untouched")
		expect(t, p, len(actionsOf(p, model.ActUpdateDevice, "")) == 0, "no forward action")
	})
	t.Run("both on: reverse settles a key first, forward the rest", func(t *testing.T) {
		p := ReconcileDevices(setup(true, true))
		expect(t, p, toDev(p, 1, model.AttrLocation, "Berlin"), "alice's directory value pushed to a1")
		expect(t, p, !toDev(p, 2, model.AttrLocation, "Paris"), "bob's conflicting location left alone")
		expect(t, p, fromDev(p, idBob, model.AttrCorporateUnit, "U1"), "bob's unit from devices")
	})
}
