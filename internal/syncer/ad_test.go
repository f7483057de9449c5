package syncer_test

import (
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/directory/adtest"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
	"github.com/idsync/idsync/internal/syncer"
	"github.com/idsync/idsync/internal/syncplan"
)

// TestMain stops the shared Samba AD (adtest) after the package's tests.
func TestMain(m *testing.M) { os.Exit(adtest.Main(m)) }

type adEnv struct {
	t   *testing.T
	st  *store.Store
	sy  *syncer.Syncer
	src *model.Source
	ad  *adtest.Server
	c   *ldap.Conn
}

func setupAD(t *testing.T) *adEnv {
	t.Helper()
	ad := adtest.Start(t)
	st := storetest.Open(t, store.DialectSQLite)
	ctx := model.WithActor(t.Context(), "alice")
	src := ad.Source()
	src.ID = 0
	if err := st.CreateSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	set, err := st.GetSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	set.ProvisioningEnabled, set.DeprovisioningEnabled, set.DeprovisionAction = true, true, model.DeprovisionDisable
	set.ServiceGroupMembership = model.MembershipMultiple
	if err := st.UpdateSettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	return &adEnv{t: t, st: st, src: &src, ad: ad, c: ad.Admin(t),
		sy: syncer.New(st, directory.New(slog.New(slog.DiscardHandler)), slog.New(slog.DiscardHandler))}
}

func (e *adEnv) ldap(fn func() error) {
	e.t.Helper()
	if err := fn(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *adEnv) preview() *model.Run {
	e.t.Helper()
	r, err := e.sy.Preview(model.WithActor(e.t.Context(), "alice"), e.src.ID, model.TriggerAdmin)
	if err != nil {
		e.t.Fatalf("preview: %v", err)
	}
	return r
}

func (e *adEnv) items(r *model.Run) []model.RunItem {
	e.t.Helper()
	items, _, err := e.st.ListRunItems(e.t.Context(), r.ID, model.RunItemFilter{ListQuery: model.ListQuery{PerPage: 5000}})
	if err != nil {
		e.t.Fatal(err)
	}
	return items
}

// TestADMappingsFollowRenameAndMove syncs from the test AD, then renames one
// mapped group and moves another out of the groups OU: the next preview
// finds both by objectGUID, plans nothing, and the mappings carry the new
// DNs (audited). A group deleted in AD holds the run and names the
// configured deprovisioning action; a stable id that now belongs to a user
// is a skip line, never a removal.
func TestADMappingsFollowRenameAndMove(t *testing.T) {
	e := setupAD(t)
	ctx := model.WithActor(t.Context(), "alice")
	// A scratch group the test deletes, holding three users.
	scratch := "CN=scratch-prov," + adtest.GroupsDN
	add := ldap.NewAddRequest(scratch, nil)
	add.Attribute("objectClass", []string{"group"})
	add.Attribute("member", []string{adtest.UserN(0).DN, adtest.UserN(1).DN, adtest.UserN(2).DN})
	e.ldap(func() error { return e.c.Add(add) })
	t.Cleanup(func() { _ = e.c.Del(ldap.NewDelRequest(scratch, nil)) })

	prov := &model.ProvisioningMapping{SourceID: e.src.ID, GroupDN: adtest.AllStaffDN, AccountType: model.AccountDeviceEnabled, Nested: true, Priority: 10}
	prov2 := &model.ProvisioningMapping{SourceID: e.src.ID, GroupDN: scratch, AccountType: model.AccountDeviceEnabled, Nested: true, Priority: 20}
	sg := &model.ServiceGroup{Name: "Team 01"}
	sgScratch := &model.ServiceGroup{Name: "Scratch"}
	storetest.Must(t, e.st.CreateProvisioningMapping(ctx, prov))
	storetest.Must(t, e.st.CreateProvisioningMapping(ctx, prov2))
	storetest.Must(t, e.st.CreateServiceGroup(ctx, sg))
	storetest.Must(t, e.st.CreateServiceGroup(ctx, sgScratch))
	storetest.Must(t, e.st.CreateGroupMapping(ctx, &model.GroupMapping{SourceID: e.src.ID, GroupDN: scratch, ServiceGroupID: sgScratch.ID, Priority: 30}))
	gm := &model.GroupMapping{SourceID: e.src.ID, GroupDN: adtest.TeamDN(1), ServiceGroupID: sg.ID, Nested: true, Priority: 10}
	storetest.Must(t, e.st.CreateGroupMapping(ctx, gm))

	first := e.preview()
	if r, err := e.sy.Apply(ctx, first.ID, false, model.TriggerAdmin); err != nil || r.Status != model.RunSucceeded {
		t.Fatalf("first apply: %v %+v", err, r)
	}
	teamMapping := func() model.GroupMapping {
		gms, _ := e.st.ListGroupMappings(ctx)
		for _, m := range gms {
			if m.ID == gm.ID {
				return m
			}
		}
		t.Fatal("team mapping gone")
		return model.GroupMapping{}
	}
	teamID := teamMapping().GroupID
	if teamID == "" {
		t.Fatal("the group mapping has no stable id after a sync")
	}

	// Rename team-01; move all-staff out of the groups OU.
	renamed := "CN=team-01-renamed," + adtest.GroupsDN
	moved := "CN=all-staff," + adtest.OtherDN
	e.ldap(func() error {
		return e.c.ModifyDN(ldap.NewModifyDNRequest(adtest.TeamDN(1), "CN=team-01-renamed", true, ""))
	})
	t.Cleanup(func() { _ = e.c.ModifyDN(ldap.NewModifyDNRequest(renamed, "CN=team-01", true, "")) })
	e.ldap(func() error {
		return e.c.ModifyDN(ldap.NewModifyDNRequest(adtest.AllStaffDN, "CN=all-staff", true, adtest.OtherDN))
	})
	t.Cleanup(func() { _ = e.c.ModifyDN(ldap.NewModifyDNRequest(moved, "CN=all-staff", true, adtest.GroupsDN)) })

	r := e.preview()
	if n := r.Counts["actions"]; n != 0 || len(r.Holds) != 0 {
		t.Errorf("after a rename and a move: %d actions, holds %v; want none", n, r.Holds)
	}
	if m := teamMapping(); m.GroupDN != renamed || m.GroupID != teamID {
		t.Errorf("group mapping = %s (%s), want %s (%s)", m.GroupDN, m.GroupID, renamed, teamID)
	}
	pms, _ := e.st.ListProvisioningMappings(ctx)
	var got []string
	for _, m := range pms {
		got = append(got, m.GroupDN)
	}
	if !strings.EqualFold(strings.Join(got, ";"), moved+";"+scratch) {
		t.Errorf("provisioning mappings = %v, want the moved all-staff first", got)
	}
	audits, _, _ := e.st.ListAudit(ctx, model.ListQuery{PerPage: 100})
	relinks := 0
	for _, a := range audits {
		if a.Action == "relink" {
			relinks++
		}
	}
	if relinks != 2 {
		t.Errorf("%d relink audit entries, want 2", relinks)
	}

	// Delete the scratch group: the run holds and says what it withholds.
	e.ldap(func() error { return e.c.Del(ldap.NewDelRequest(scratch, nil)) })
	r = e.preview()
	var hold *model.Hold
	for i := range r.Holds {
		if r.Holds[i].Code == syncplan.HoldMissingGroup {
			hold = &r.Holds[i]
		}
	}
	if hold == nil || !strings.Contains(hold.Message, "scratch-prov") || !strings.Contains(hold.Message, "3 removals") {
		t.Errorf("holds %+v: want missing_group naming scratch-prov and its 3 withheld removals", r.Holds)
	}
	named := false
	for _, it := range e.items(r) {
		if it.Phase == model.PhaseProvisioning && strings.Contains(it.Reason, "scratch-prov") {
			named = true
			if it.Kind != model.ActDisableUser {
				t.Errorf("skip line labelled %s, want %s: %s", it.Kind, model.ActDisableUser, it.Reason)
			}
		}
	}
	if !named {
		t.Error("no skip line names the missing group")
	}

	// A stable id that now belongs to a user: a skip line, no removal.
	userGUID := ""
	state, err := e.st.LoadState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range state.Users {
		if u.Username == adtest.UserN(6).SAM {
			userGUID = u.ExternalID
		}
	}
	if userGUID == "" {
		t.Fatal("user 6 was not provisioned")
	}
	if _, err := e.st.LinkMappingGroup(ctx, store.GroupMappingKind, gm.ID, "CN=gone-team,"+adtest.GroupsDN, userGUID); err != nil {
		t.Fatal(err)
	}
	r = e.preview()
	for _, it := range e.items(r) {
		if it.Kind == model.ActRemoveServiceGroup && it.Performed {
			t.Errorf("a removal is planned: %+v", it)
		}
	}
	found := false
	for _, it := range e.items(r) {
		if strings.Contains(it.Reason, "which is not a group") {
			found = true
		}
	}
	if !found {
		t.Error("no skip line says the stable id belongs to a user")
	}
	_, _ = e.st.LinkMappingGroup(ctx, store.GroupMappingKind, gm.ID, renamed, teamID)

	// Refresh of a user deleted in AD: a succeeded run that says so.
	var gone *model.User
	for i := range state.Users {
		if state.Users[i].Username == adtest.UserN(9).SAM {
			gone = &state.Users[i]
		}
	}
	if gone == nil {
		t.Fatal("user 9 was not provisioned")
	}
	e.ldap(func() error { return e.c.Del(ldap.NewDelRequest(adtest.UserN(9).DN, nil)) })
	rr, err := e.sy.RefreshUser(ctx, gone.ID)
	if err != nil || rr == nil || rr.Status != model.RunSucceeded {
		t.Fatalf("refresh of a deleted user: %v, run %+v", err, rr)
	}
	said := false
	for _, it := range e.items(rr) {
		said = said || strings.Contains(it.Reason, "no longer in the directory")
	}
	if !said {
		t.Error("the refresh run does not say the user is gone")
	}
}
