package syncplan

import (
	"slices"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/model"
)

// TestBuildRules has one row per rule of SPEC §3 – §7 (docs/sync-rules.md).
// Each row changes the in-step fixture and checks the plan.
func TestBuildRules(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *fixture)
		check func(t *testing.T, p *model.Plan)
	}{
		{
			name:  "in step: nothing to do",
			setup: func(f *fixture) {},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, len(p.Actions) == 0 && len(p.Holds) == 0, "no action and no hold")
			},
		},
		// ---- §3 provisioning
		{
			name: "provisioning off: unmatched directory user is not added nor placed",
			setup: func(f *fixture) {
				f.addNew("dave", []string{dnDevices, dnStaff})
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, !hasAction(p, model.ActCreateUser, "dave", 0), "no create_user")
				expect(t, p, !hasAction(p, model.ActAddServiceGroup, "dave", 0), "no add_service_group")
				expect(t, p, hasSkip(p, model.ActCreateUser, "dave", "provisioning is off"), "a skip saying provisioning is off")
				expect(t, p, hasSkip(p, model.ActCreateUser, "dave", `"Staff"`), "the skip naming the service group not joined")
			},
		},
		{
			name: "provisioning on: device-enabled mapping creates a device-enabled user",
			setup: func(f *fixture) {
				f.st.Settings.ProvisioningEnabled = true
				f.addNew("dave", []string{dnDevices})
			},
			check: func(t *testing.T, p *model.Plan) {
				c := actionsOf(p, model.ActCreateUser, "dave")
				expect(t, p, len(c) == 1 && c[0].User != nil && c[0].User.AccountType == model.AccountDeviceEnabled &&
					c[0].UserID == 0 && c[0].ExternalID == "dave" && c[0].User.Origin == model.OriginDirectory && c[0].User.SourceID == src,
					"one create_user of a device-enabled directory user with UserID 0 and ExternalID dave")
			},
		},
		{
			name: "provisioning on: administrator mapping creates an administrator without role",
			setup: func(f *fixture) {
				f.st.Settings.ProvisioningEnabled = true
				f.addNew("erin", []string{dnOps})
			},
			check: func(t *testing.T, p *model.Plan) {
				c := actionsOf(p, model.ActCreateUser, "erin")
				expect(t, p, len(c) == 1 && c[0].User.AccountType == model.AccountAdministrator, "create_user as administrator")
				expect(t, p, !hasAction(p, model.ActAddServiceGroup, "erin", 0), "no service group (so no role) without a mapping")
			},
		},
		{
			name: "provisioning on: in both provisioning groups, device-enabled wins (administrator mapping first)",
			setup: func(f *fixture) {
				f.st.Settings.ProvisioningEnabled = true
				f.st.ProvisioningMappings[1].Priority = -5 // administrator mapping first in order: type still device-enabled
				f.addNew("dave", []string{dnOps, dnDevices})
			},
			check: func(t *testing.T, p *model.Plan) {
				c := actionsOf(p, model.ActCreateUser, "dave")
				expect(t, p, len(c) == 1 && c[0].User.AccountType == model.AccountDeviceEnabled, "create_user device-enabled")
			},
		},
		{
			name: "provisioning on: in both provisioning groups, device-enabled wins (device-enabled mapping first)",
			setup: func(f *fixture) {
				f.st.Settings.ProvisioningEnabled = true
				f.st.ProvisioningMappings[0].Priority = -5 // device-enabled mapping first in order
				f.addNew("dave", []string{dnOps, dnDevices})
			},
			check: func(t *testing.T, p *model.Plan) {
				c := actionsOf(p, model.ActCreateUser, "dave")
				expect(t, p, len(c) == 1 && c[0].User.AccountType == model.AccountDeviceEnabled, "create_user device-enabled")
			},
		},
		{
			name: "provisioning on: user in no provisioning group is not added",
			setup: func(f *fixture) {
				f.st.Settings.ProvisioningEnabled = true
				f.addNew("dave", []string{dnStaff})
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, !hasAction(p, model.ActCreateUser, "dave", 0), "no create_user")
				expect(t, p, hasSkip(p, model.ActCreateUser, "dave", "not in any provisioning"), "a skip with the reason")
			},
		},
		{
			name: "provisioning on: a username taken by a local account is not added",
			setup: func(f *fixture) {
				f.st.Settings.ProvisioningEnabled = true
				f.addNew("carol", []string{dnDevices})
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, !hasAction(p, model.ActCreateUser, "carol", 0), "no create_user")
				expect(t, p, hasSkip(p, model.ActCreateUser, "carol", "already used"), "a skip naming the conflict")
			},
		},
		{
			name: "type conflict: existing account type differs from its mapping, left as is",
			setup: func(f *fixture) {
				f.st.Settings.ProvisioningEnabled = true
				f.group(dnDevices).Users = []string{"bob"}
				f.group(dnOps).Users = []string{"alice"}
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, len(p.Actions) == 0, "no action at all")
				expect(t, p, hasSkip(p, model.ActUpdateUser, "alice", "account type conflict"), "a type-conflict skip for alice")
			},
		},
		{
			name: "deprovisioning delete: account outside every provisioning group is deleted",
			setup: func(f *fixture) {
				f.st.Settings.DeprovisioningEnabled = true
				f.st.Settings.DeprovisionAction = model.DeprovisionDelete
				f.group(dnDevices).Users = []string{"alice"}
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, hasAction(p, model.ActDeleteUser, "bob", 0), "delete_user bob")
				expect(t, p, !hasAction(p, model.ActDeleteUser, "alice", 0), "alice kept")
			},
		},
		{
			name: "deprovisioning disable: account outside every provisioning group is disabled",
			setup: func(f *fixture) {
				f.st.Settings.DeprovisioningEnabled = true
				f.st.Settings.DeprovisionAction = model.DeprovisionDisable
				f.group(dnDevices).Users = []string{"alice"}
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, hasAction(p, model.ActDisableUser, "bob", 0), "disable_user bob")
				expect(t, p, len(actionsOf(p, model.ActDeleteUser, "")) == 0, "no delete")
			},
		},
		{
			name: "deprovisioning report only: a skip, no action",
			setup: func(f *fixture) {
				f.st.Settings.DeprovisioningEnabled = true
				f.st.Settings.DeprovisionAction = model.DeprovisionReport
				f.group(dnDevices).Users = []string{"alice"}
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, len(p.Actions) == 0, "no action")
				expect(t, p, hasSkip(p, model.ActDeleteUser, "bob", "report only"), "a report-only skip for bob")
			},
		},
		{
			name: "deprovisioning: local and system accounts are never deprovisioned",
			setup: func(f *fixture) {
				f.st.Settings.DeprovisioningEnabled = true
				f.st.Settings.DeprovisionAction = model.DeprovisionDelete
				f.snap.Users = nil
				f.addNew("zed", []string{dnDevices}) // keeps the read non-empty
				for i := range f.snap.Groups {
					f.snap.Groups[i].Users = nil
				}
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, hasAction(p, model.ActDeleteUser, "alice", 0) && hasAction(p, model.ActDeleteUser, "bob", 0), "alice and bob deleted")
				for _, a := range p.Actions {
					if a.UserID == idLocal || a.UserID == idSystem {
						t.Errorf("action on local/system account: %+v", a)
					}
				}
				for _, s := range p.Skips {
					if s.UserID == idLocal || s.UserID == idSystem {
						t.Errorf("skip on local/system account: %+v", s)
					}
				}
			},
		},
		{
			name: "deprovisioning: a missing provisioning group suspends deprovisioning",
			setup: func(f *fixture) {
				f.st.Settings.DeprovisioningEnabled = true
				f.dropGroup(dnOps)
				f.group(dnDevices).Users = []string{"alice"}
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, !hasAction(p, model.ActDeleteUser, "bob", 0), "bob not deleted")
				expect(t, p, hasSkip(p, model.ActDeleteUser, "bob", "provisioning group is missing"), "a skip for bob")
			},
		},
		{
			name: "gone from the directory, deprovisioning on: configured action",
			setup: func(f *fixture) {
				f.st.Settings.DeprovisioningEnabled = true
				f.st.Settings.DeprovisionAction = model.DeprovisionDisable
				f.dropDirUser("bob")
			},
			check: func(t *testing.T, p *model.Plan) {
				d := actionsOf(p, model.ActDisableUser, "bob")
				expect(t, p, len(d) == 1 && d[0].UserID == idBob, "disable_user bob")
			},
		},
		{
			name: "gone from the directory, deprovisioning off: reported, kept",
			setup: func(f *fixture) {
				f.dropDirUser("bob")
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, !hasAction(p, model.ActDeleteUser, "bob", 0) && !hasAction(p, model.ActDisableUser, "bob", 0), "no delete/disable")
				expect(t, p, hasSkip(p, model.ActDeleteUser, "bob", "no longer in the directory"), "a skip for bob")
			},
		},
		{
			name: "disabled in the directory: disabled here",
			setup: func(f *fixture) {
				f.dirUser("bob").Disabled = true
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, hasAction(p, model.ActDisableUser, "bob", 0), "disable_user bob")
			},
		},
		{
			name: "disabled by sync and back: re-enabled",
			setup: func(f *fixture) {
				u := f.user(idBob)
				u.Status, u.DisabledBySync = model.StatusDisabled, true
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, hasAction(p, model.ActEnableUser, "bob", 0), "enable_user bob")
				expect(t, p, !hasAction(p, model.ActCreateUser, "bob", 0), "no re-creation (history intact)")
			},
		},
		{
			name: "disabled by sync, still disabled in the directory: stays disabled",
			setup: func(f *fixture) {
				u := f.user(idBob)
				u.Status, u.DisabledBySync = model.StatusDisabled, true
				f.dirUser("bob").Disabled = true
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, len(actionsOf(p, model.ActEnableUser, "")) == 0 && len(actionsOf(p, model.ActDisableUser, "")) == 0, "no enable, no disable")
			},
		},
		{
			name: "disabled by an admin: stays disabled",
			setup: func(f *fixture) {
				f.user(idBob).Status = model.StatusDisabled
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, !hasAction(p, model.ActEnableUser, "bob", 0), "no enable_user")
			},
		},
		// ---- §4 service groups
		{
			name: "one-to-one mapping: member added as synced member",
			setup: func(f *fixture) {
				f.group(dnAdmins).Users = []string{"bob"}
			},
			check: func(t *testing.T, p *model.Plan) {
				a := actionsOf(p, model.ActAddServiceGroup, "bob")
				expect(t, p, len(a) == 1 && a[0].GroupID == sgAdmins && a[0].Phase == model.PhaseServiceGroups, "bob added to Admins")
			},
		},
		{
			name: "many-to-one mappings: member of any mapped group stays, member of none is removed",
			setup: func(f *fixture) {
				const dnStaff2 = "cn=staff2,ou=groups,dc=example,dc=org"
				f.st.GroupMappings = append(f.st.GroupMappings, model.GroupMapping{ID: 3, SourceID: src, GroupDN: dnStaff2, ServiceGroupID: sgStaff, Priority: 3})
				f.group(dnStaff).Users = nil
				f.group(dnStaff2).Users = []string{"alice", "bob"}
				f.st.ServiceGroupMembers = append(f.st.ServiceGroupMembers, model.Membership{GroupID: sgAdmins, UserID: idBob})
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, !hasAction(p, model.ActRemoveServiceGroup, "alice", sgStaff), "alice stays in Staff via staff2")
				expect(t, p, hasAction(p, model.ActRemoveServiceGroup, "bob", sgAdmins), "bob removed from Admins (in no group mapped to it)")
				expect(t, p, hasAction(p, model.ActAddServiceGroup, "bob", sgStaff), "bob added to Staff after leaving Admins")
			},
		},
		{
			name: "manual members and local accounts are never removed",
			setup: func(f *fixture) {
				f.group(dnStaff).Users = nil
				f.st.ServiceGroupMembers = append(f.st.ServiceGroupMembers, model.Membership{GroupID: sgAdmins, UserID: idBob, Manual: true})
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, hasAction(p, model.ActRemoveServiceGroup, "alice", sgStaff), "alice (synced) removed from Staff")
				expect(t, p, !hasAction(p, model.ActRemoveServiceGroup, "bob", 0), "bob (manual) kept")
				expect(t, p, !hasAction(p, model.ActRemoveServiceGroup, "carol", 0), "carol (local, manual) kept")
			},
		},
		{
			name: "nested groups with a cycle: members of nested groups count",
			setup: func(f *fixture) {
				const dnA, dnB = "cn=team-a,ou=groups,dc=example,dc=org", "cn=team-b,ou=groups,dc=example,dc=org"
				f.group(dnStaff).Groups = []string{dnA}
				f.group(dnA).Groups = []string{dnB}
				f.group(dnB).Groups = []string{dnStaff, dnA} // cycle back to the top
				f.group(dnB).Users = []string{"bob"}
			},
			check: func(t *testing.T, p *model.Plan) {
				a := actionsOf(p, model.ActAddServiceGroup, "bob")
				expect(t, p, len(a) == 1 && a[0].GroupID == sgStaff, "bob added to Staff through staff ⊃ team-a ⊃ team-b")
			},
		},
		{
			name: "nested off: members of nested groups do not count",
			setup: func(f *fixture) {
				const dnA = "cn=team-a,ou=groups,dc=example,dc=org"
				f.st.GroupMappings[0].Nested = false
				f.group(dnStaff).Groups = []string{dnA}
				f.group(dnA).Users = []string{"bob"}
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, !hasAction(p, model.ActAddServiceGroup, "bob", 0), "bob not added")
			},
		},
		{
			name: "single membership: unplaced user goes to the first mapping by priority; the other is reported",
			setup: func(f *fixture) {
				f.st.GroupMappings[1].Priority = 0 // Admins now before Staff
				f.group(dnStaff).Users = []string{"alice", "bob"}
				f.group(dnAdmins).Users = []string{"bob"}
			},
			check: func(t *testing.T, p *model.Plan) {
				a := actionsOf(p, model.ActAddServiceGroup, "bob")
				expect(t, p, len(a) == 1 && a[0].GroupID == sgAdmins, "bob added to Admins only")
				expect(t, p, hasSkip(p, model.ActAddServiceGroup, "bob", "single membership"), "the losing mapping reported")
			},
		},
		{
			name: "single membership: equal priority, directory group name decides",
			setup: func(f *fixture) {
				f.st.GroupMappings[0].Priority, f.st.GroupMappings[1].Priority = 5, 5
				f.group(dnStaff).Users = []string{"alice", "bob"}
				f.group(dnAdmins).Users = []string{"bob"}
			},
			check: func(t *testing.T, p *model.Plan) {
				a := actionsOf(p, model.ActAddServiceGroup, "bob")
				expect(t, p, len(a) == 1 && a[0].GroupID == sgAdmins, "bob added to Admins (cn=admins sorts before cn=staff)")
			},
		},
		{
			name: "single membership: a placed user is not moved; the report names both groups",
			setup: func(f *fixture) {
				f.group(dnAdmins).Users = []string{"alice"}
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, !hasAction(p, model.ActAddServiceGroup, "alice", 0), "alice not added to Admins")
				expect(t, p, hasSkip(p, model.ActAddServiceGroup, "alice", `already in "Staff"`) && hasSkip(p, model.ActAddServiceGroup, "alice", `to "Admins"`), "skip naming Staff and Admins")
			},
		},
		{
			name: "multiple membership: every mapped group",
			setup: func(f *fixture) {
				f.st.Settings.ServiceGroupMembership = model.MembershipMultiple
				f.group(dnAdmins).Users = []string{"alice"}
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, hasAction(p, model.ActAddServiceGroup, "alice", sgAdmins), "alice added to Admins too")
			},
		},
		{
			name: "missing mapped group without force: mapping skipped, nobody removed",
			setup: func(f *fixture) {
				f.dropGroup(dnStaff)
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, len(actionsOf(p, model.ActRemoveServiceGroup, "")) == 0, "no removal")
				expect(t, p, hasSkip(p, model.ActRemoveServiceGroup, "", "was not found"), "mapping reported")
				expect(t, p, !hasHold(p, HoldForceEmpty), "no force hold")
			},
		},
		{
			name: "missing mapped group with force: treated as empty, loud hold",
			setup: func(f *fixture) {
				f.st.GroupMappings[0].Force = true
				f.dropGroup(dnStaff)
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, hasAction(p, model.ActRemoveServiceGroup, "alice", sgStaff), "alice removed from Staff")
				expect(t, p, !hasAction(p, model.ActRemoveServiceGroup, "carol", 0), "manual local member kept")
				expect(t, p, hasHold(p, HoldForceEmpty), "force_empty hold")
				expect(t, p, strings.Contains(p.Holds[0].Message, "an override lets through 1 removal from \"Staff\""), "the hold says what an override lets through")
			},
		},
		{
			name: "forced mapping to a missing group with nobody left to remove: no hold, other changes go through",
			setup: func(f *fixture) {
				f.st.GroupMappings[0].Force = true
				f.dropGroup(dnStaff)
				f.st.ServiceGroupMembers = slices.DeleteFunc(f.st.ServiceGroupMembers, func(m model.Membership) bool { return m.GroupID == sgStaff && !m.Manual })
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, len(actionsOf(p, model.ActRemoveServiceGroup, "")) == 0, "nothing to remove")
				expect(t, p, !hasHold(p, HoldForceEmpty), "no force hold")
				expect(t, p, hasSkip(p, model.ActRemoveServiceGroup, "", "nothing held"), "the mapping is reported")
			},
		},
		{
			name: "mapping to a deleted service group: skipped and reported",
			setup: func(f *fixture) {
				f.st.GroupMappings = append(f.st.GroupMappings, model.GroupMapping{ID: 9, SourceID: src, GroupDN: dnAdmins, ServiceGroupID: 999})
				f.group(dnAdmins).Users = []string{"bob"}
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, hasSkip(p, model.ActAddServiceGroup, "", "no longer exists"), "mapping reported")
				for _, a := range p.Actions {
					if a.GroupID == 999 {
						t.Errorf("action on a deleted service group: %+v", a)
					}
				}
			},
		},
		{
			name: "service group rules: a new user is placed by them at creation",
			setup: func(f *fixture) {
				f.st.Settings.ProvisioningEnabled = true
				f.addNew("dave", []string{dnDevices}, model.AttrLocation, "berlin ")
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, hasAction(p, model.ActAddServiceGroup, "dave", sgField), "dave added to Field by its rules")
			},
		},
		{
			name: "service group rules: existing users are not placed by them",
			setup: func(f *fixture) {
				f.user(idBob).Attributes[model.AttrLocation] = "Berlin"
				f.dirUser("bob").Attributes[model.AttrLocation] = "Berlin"
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, !hasAction(p, model.ActAddServiceGroup, "bob", 0), "bob not added to Field")
			},
		},
		{
			name: "service group rules: a mapping places a new user first",
			setup: func(f *fixture) {
				f.st.Settings.ProvisioningEnabled = true
				f.addNew("dave", []string{dnDevices, dnStaff}, model.AttrLocation, "Berlin")
			},
			check: func(t *testing.T, p *model.Plan) {
				a := actionsOf(p, model.ActAddServiceGroup, "dave")
				expect(t, p, len(a) == 1 && a[0].GroupID == sgStaff && a[0].UserID == 0 && a[0].ExternalID == "dave", "dave added to Staff only, by external id")
			},
		},
		// ---- attributes
		{
			name: "attributes: changed identity fields and enterprise attributes are updated",
			setup: func(f *fixture) {
				d := f.dirUser("bob")
				d.Email = "robert@example.org"
				d.Attributes[model.AttrTitle] = "Engineer"
				d.Attributes["unmapped"] = "ignored"
			},
			check: func(t *testing.T, p *model.Plan) {
				u := actionsOf(p, model.ActUpdateUser, "bob")
				expect(t, p, len(u) == 1 && u[0].User != nil && u[0].User.Email == "robert@example.org" && u[0].User.ID == idBob, "update_user with the new e-mail")
				a := actionsOf(p, model.ActUpdateAttribute, "bob")
				expect(t, p, len(a) == 1 && a[0].Attribute == model.AttrTitle && a[0].Old == "" && a[0].New == "Engineer", "one update_attribute (title)")
			},
		},
		// ---- §5 profiles
		{
			name: "profiles: matching users added as synced, non-matching synced removed, manual kept",
			setup: func(f *fixture) {
				f.dirUser("bob").Attributes[model.AttrLocation] = "Berlin" // bob will match after this plan
				f.dirUser("alice").Attributes[model.AttrLocation] = "Munich"
				f.st.Users = append(f.st.Users, stateUser(5, dirUser("frank"), model.AccountDeviceEnabled))
				f.addNew("frank", []string{dnDevices})
				f.st.ProfileMembers = append(f.st.ProfileMembers, model.Membership{GroupID: prBerlin, UserID: 5, Manual: true})
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, hasAction(p, model.ActAddProfile, "bob", prBerlin), "bob added")
				expect(t, p, hasAction(p, model.ActRemoveProfile, "alice", prBerlin), "alice removed")
				expect(t, p, !hasAction(p, model.ActRemoveProfile, "frank", 0), "frank (manual) kept")
			},
		},
		{
			name: "profiles: master switch off, one skip per profile, no change",
			setup: func(f *fixture) {
				f.st.Settings.AutoProfileSync = false
				f.dirUser("bob").Attributes[model.AttrLocation] = "Berlin"
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, len(actionsOf(p, model.ActAddProfile, "")) == 0, "no profile action")
				expect(t, p, hasSkip(p, model.ActAddProfile, "", "automatic profile synchronization is off"), "a skip for the profile")
			},
		},
		{
			name: "profiles: checkbox off, skip, no change",
			setup: func(f *fixture) {
				f.st.Profiles[0].SyncEnabled = false
				f.dirUser("alice").Attributes[model.AttrLocation] = "Munich"
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, len(actionsOf(p, model.ActRemoveProfile, "")) == 0, "no profile action")
				expect(t, p, hasSkip(p, model.ActAddProfile, "", "is off for profile"), "a skip for the profile")
			},
		},
		{
			name: "profiles: a rule on an attribute that no longer exists skips the profile",
			setup: func(f *fixture) {
				f.st.Profiles[0].Rules = append(f.st.Profiles[0].Rules, model.Rule{Attribute: "badge", Value: "x"})
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, len(actionsOf(p, model.ActRemoveProfile, "")) == 0, "alice not removed")
				expect(t, p, hasSkip(p, model.ActAddProfile, "", "no longer exists"), "a skip for the profile")
			},
		},
		{
			name: "profiles: a new user matching the rules is added",
			setup: func(f *fixture) {
				f.st.Settings.ProvisioningEnabled = true
				f.addNew("dave", []string{dnDevices}, model.AttrLocation, "Berlin")
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, hasAction(p, model.ActAddProfile, "dave", prBerlin), "dave added to profile Berlin")
			},
		},
		// ---- §6 devices
		{
			name: "devices: a changed enterprise-group value reaches the user's assigned devices only",
			setup: func(f *fixture) {
				f.st.Settings.SyncEnterpriseGroupsToDevices = true
				f.st.Devices = []model.Device{
					{ID: 100, Name: "alice-phone", UserID: idAlice, Attributes: model.Attributes{model.AttrLocation: "Berlin"}},
					{ID: 101, Name: "alice-laptop", UserID: idAlice, Attributes: model.Attributes{model.AttrLocation: "Munich"}}, // already has it
					{ID: 102, Name: "bob-phone", UserID: idBob, Attributes: model.Attributes{model.AttrLocation: "Rome"}},        // bob unchanged
					{ID: 103, Name: "spare", Attributes: model.Attributes{model.AttrLocation: "Berlin"}},                         // unassigned
				}
				f.dirUser("alice").Attributes[model.AttrLocation] = "Munich"
				f.dirUser("alice").Attributes[model.AttrTitle] = "Boss" // not an enterprise-group key
			},
			check: func(t *testing.T, p *model.Plan) {
				d := actionsOf(p, model.ActUpdateDevice, "")
				expect(t, p, len(d) == 1 && d[0].DeviceID == 100 && d[0].Old == "Berlin" && d[0].New == "Munich" && d[0].Phase == model.PhaseDevices, "exactly one update_device: 100 Berlin → Munich")
			},
		},
		{
			name: "devices: setting off, no device change",
			setup: func(f *fixture) {
				f.st.Devices = []model.Device{{ID: 100, UserID: idAlice, Attributes: model.Attributes{model.AttrLocation: "Berlin"}}}
				f.dirUser("alice").Attributes[model.AttrLocation] = "Munich"
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, len(actionsOf(p, model.ActUpdateDevice, "")) == 0, "no update_device")
				expect(t, p, hasAction(p, model.ActUpdateAttribute, "alice", 0), "the user still updated")
			},
		},
		{
			name: "devices: no change of the user, no device change (even when devices differ)",
			setup: func(f *fixture) {
				f.st.Settings.SyncEnterpriseGroupsToDevices = true
				f.st.Devices = []model.Device{{ID: 100, UserID: idAlice, Attributes: model.Attributes{model.AttrLocation: "Rome"}}}
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, len(p.Actions) == 0, "no action")
			},
		},
		// ---- §7 guard
		{
			name: "guard: deletes over the count threshold hold the run",
			setup: func(f *fixture) {
				f.st.Settings.DeprovisioningEnabled = true
				f.st.Settings.DeleteThresholdCount = 1
				f.st.Settings.DeleteThresholdPercent = 0
				f.group(dnDevices).Users = nil
				f.group(dnOps).Users = []string{"zed"}
				f.addNew("zed", nil)
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, len(actionsOf(p, model.ActDeleteUser, "")) == 2, "two deletes")
				expect(t, p, hasHold(p, HoldDeleteThreshold), "delete_threshold hold")
			},
		},
		{
			name: "guard: deletes over the percent threshold hold the run",
			setup: func(f *fixture) {
				f.st.Settings.DeprovisioningEnabled = true
				f.st.Settings.DeprovisionAction = model.DeprovisionDisable
				f.group(dnDevices).Users = []string{"alice"}
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, hasAction(p, model.ActDisableUser, "bob", 0), "bob disabled")
				expect(t, p, hasHold(p, HoldDeleteThreshold), "1 of 2 users > 10 %: delete_threshold hold")
			},
		},
		{
			name: "guard: under the thresholds, no hold",
			setup: func(f *fixture) {
				f.st.Settings.DeprovisioningEnabled = true
				f.st.Settings.DeleteThresholdPercent = 60
				f.group(dnDevices).Users = []string{"alice"}
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, hasAction(p, model.ActDeleteUser, "bob", 0), "bob deleted")
				expect(t, p, len(p.Holds) == 0, "no hold (1 of 2 users is not over 60 %)")
			},
		},
		{
			name: "guard: far fewer directory users than the last good run hold it",
			setup: func(f *fixture) {
				f.base.DirectoryUsers = 10
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, hasHold(p, HoldShrink), "shrink hold (2 users vs 10)")
			},
		},
		{
			name: "guard: mass removal from one service group holds the run",
			setup: func(f *fixture) {
				f.st.Settings.DeleteThresholdPercent = 0
				for i := int64(0); i < 12; i++ {
					d := dirUser("m" + itoa(100+i))
					f.snap.Users = append(f.snap.Users, d)
					f.st.Users = append(f.st.Users, stateUser(100+i, d, model.AccountDeviceEnabled))
					f.st.ServiceGroupMembers = append(f.st.ServiceGroupMembers, model.Membership{GroupID: sgAdmins, UserID: 100 + i})
				}
				f.base.ServiceGroupSizes = map[int64]int{sgAdmins: 20}
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, len(actionsOf(p, model.ActRemoveServiceGroup, "")) == 12, "12 removals from Admins")
				expect(t, p, hasHold(p, HoldMassRemoval), "mass_removal hold (12 of 20)")
			},
		},
		{
			name: "guard: mass removal from one profile holds the run",
			setup: func(f *fixture) {
				for i := int64(0); i < 12; i++ {
					d := dirUser("m"+itoa(100+i), model.AttrLocation, "Paris")
					f.snap.Users = append(f.snap.Users, d)
					u := stateUser(100+i, d, model.AccountDeviceEnabled)
					f.st.Users = append(f.st.Users, u)
					f.st.ProfileMembers = append(f.st.ProfileMembers, model.Membership{GroupID: prBerlin, UserID: 100 + i})
				}
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, len(actionsOf(p, model.ActRemoveProfile, "")) == 12, "12 removals from the profile")
				expect(t, p, hasHold(p, HoldMassRemoval), "mass_removal hold (12 of 13)")
			},
		},
		{
			name: "guard: an attribute suddenly blank for many users holds the run",
			setup: func(f *fixture) {
				for i := int64(0); i < 12; i++ {
					d := dirUser("m"+itoa(100+i), model.AttrDepartment, "R&D")
					f.st.Users = append(f.st.Users, stateUser(100+i, d, model.AccountDeviceEnabled))
					delete(d.Attributes, model.AttrDepartment)
					f.snap.Users = append(f.snap.Users, d)
				}
				f.base.AttributeFilled = map[string]int{model.AttrDepartment: 14}
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, len(actionsOf(p, model.ActUpdateAttribute, "")) == 12, "12 attribute updates")
				expect(t, p, hasHold(p, HoldBlankAttribute), "blank_attribute hold")
			},
		},
		{
			name: "guard: a complete read with zero users removes nobody",
			setup: func(f *fixture) {
				f.st.Settings.DeprovisioningEnabled = true
				f.snap.Users = nil
				f.snap.Groups = nil
			},
			check: func(t *testing.T, p *model.Plan) {
				for _, a := range p.Actions {
					switch a.Kind {
					case model.ActDeleteUser, model.ActDisableUser, model.ActRemoveServiceGroup, model.ActRemoveProfile:
						t.Errorf("removal on an empty read: %+v", a)
					}
				}
				expect(t, p, hasHold(p, HoldEmptyDirectory), "empty_directory hold")
				expect(t, p, hasSkip(p, model.ActDeleteUser, "alice", "returned no users"), "the withheld delete listed")
			},
		},
		{
			name: "partial read: only the users present are planned, others never deprovisioned",
			setup: func(f *fixture) {
				f.st.Settings.DeprovisioningEnabled = true
				f.snap.Complete = false
				f.dropDirUser("alice")
				f.dirUser("bob").Attributes[model.AttrTitle] = "Chef"
			},
			check: func(t *testing.T, p *model.Plan) {
				for _, a := range p.Actions {
					if a.UserID != idBob {
						t.Errorf("action on a user not in the partial read: %+v", a)
					}
				}
				expect(t, p, hasAction(p, model.ActUpdateAttribute, "bob", 0), "bob updated")
			},
		},
		{
			name: "partial read: disabling the one user read is not held by the percentage",
			setup: func(f *fixture) {
				f.snap.Complete = false
				f.dropDirUser("alice")
				f.dirUser("bob").Disabled = true
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, hasAction(p, model.ActDisableUser, "bob", 0), "bob disabled")
				expect(t, p, !hasHold(p, HoldDeleteThreshold), "no delete_threshold hold")
			},
		},
		{
			name: "partial read: the percentage is of the last good run's directory size",
			setup: func(f *fixture) {
				f.snap.Complete = false
				f.base.DirectoryUsers = 5
				f.st.Settings.DeleteThresholdPercent = 10
				f.dropDirUser("alice")
				f.dirUser("bob").Disabled = true
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, hasHold(p, HoldDeleteThreshold), "1 of 5 > 10 %: delete_threshold hold")
			},
		},
		{
			name: "partial read: a mapped group absent from it does not hold the user (removed), force raises no hold",
			setup: func(f *fixture) {
				f.snap.Complete = false
				f.dropDirUser("bob")
				f.st.GroupMappings[0].Force = true
				f.dropGroup(dnStaff) // a single-user read lists only the groups holding the user
			},
			check: func(t *testing.T, p *model.Plan) {
				expect(t, p, hasAction(p, model.ActRemoveServiceGroup, "alice", sgStaff), "alice removed from Staff")
				expect(t, p, !hasHold(p, HoldForceEmpty), "no force hold on a partial read")
			},
		},
		{
			name: "partial read: a provisioning group absent from it does not hold the user",
			setup: func(f *fixture) {
				f.st.Settings.DeprovisioningEnabled = true
				f.st.Settings.DeprovisionAction = model.DeprovisionDisable
				f.snap.Complete = false
				f.dropDirUser("alice")
				f.dropGroup(dnDevices)
				f.dropGroup(dnOps)
			},
			check: func(t *testing.T, p *model.Plan) {
				d := actionsOf(p, model.ActDisableUser, "")
				expect(t, p, len(d) == 1 && d[0].UserID == idBob, "only bob disabled")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture()
			tt.setup(f)
			tt.check(t, Build(f.input()))
		})
	}
}
