package store_test

import (
	"testing"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

func TestServiceGroups(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT()
		g := &model.ServiceGroup{Name: "Sales", Rules: []model.Rule{{Attribute: model.AttrLocation, Value: "Berlin"}, {}}}
		if err := s.CreateServiceGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
		if len(g.Rules) != 1 {
			t.Errorf("empty form row kept as a rule: %v", g.Rules)
		}
		err := s.CreateServiceGroup(ctx, &model.ServiceGroup{Name: "sales"})
		wantCode(t, err, model.ECONFLICT)
		wantField(t, err, "name")
		err = s.CreateServiceGroup(ctx, &model.ServiceGroup{Name: "x", Rules: []model.Rule{{Attribute: "nope", Value: "v"}}})
		wantCode(t, err, model.EINVALID)
		wantField(t, err, "rules.0")
		err = s.CreateServiceGroup(ctx, &model.ServiceGroup{Name: "y", Rules: []model.Rule{{Attribute: model.AttrTitle, Value: "a"}, {Attribute: model.AttrTitle, Value: "b"}}})
		wantField(t, err, "rules.1")
		if n := count(t, s, "service_groups"); n != 1 {
			t.Fatalf("%d groups, want 1", n)
		}
		other := &model.ServiceGroup{Name: "Support"}
		if err := s.CreateServiceGroup(ctx, other); err != nil {
			t.Fatal(err)
		}

		u := mustUser(t, s, "frank", nil)
		if err := s.AddSyncedServiceGroupMember(ctx, g.ID, u.ID); err != nil {
			t.Fatal(err)
		}
		_, ms, total, err := s.ListServiceGroupMembers(ctx, g.ID, model.ListQuery{})
		if err != nil || total != 1 || ms[0].Manual || ms[0].UserID != u.ID {
			t.Fatalf("members: %v %d %+v", err, total, ms)
		}
		// a member version bump tells products
		got, _ := s.GetUser(ctx, u.ID)
		if got.Version != 2 {
			t.Errorf("version after membership change = %d, want 2", got.Version)
		}
		// a manual add of a synced member marks it manual
		if err := s.AddServiceGroupMember(ctx, g.ID, u.ID); err != nil {
			t.Fatal(err)
		}
		groups, ms2, err := s.UserServiceGroups(ctx, u.ID)
		if err != nil || len(groups) != 1 || groups[0].Name != "Sales" || !ms2[0].Manual || groups[0].MemberCount != 1 {
			t.Fatalf("UserServiceGroups: %v %+v %+v", err, groups, ms2)
		}
		// single membership: another group is a conflict
		wantCode(t, s.AddServiceGroupMember(ctx, other.ID, u.ID), model.ECONFLICT)
		wantCode(t, s.AddSyncedServiceGroupMember(ctx, other.ID, u.ID), model.ECONFLICT)
		mustSettings(t, s, func(st *model.Settings) { st.ServiceGroupMembership = model.MembershipMultiple })
		if err := s.AddServiceGroupMember(ctx, other.ID, u.ID); err != nil {
			t.Fatalf("multiple mode: %v", err)
		}
		wantCode(t, s.AddServiceGroupMember(ctx, g.ID, 999), model.ENOTFOUND)
		wantCode(t, s.AddServiceGroupMember(ctx, 999, u.ID), model.ENOTFOUND)

		list, total, err := s.ListServiceGroups(ctx, model.ListQuery{Search: "sal"})
		if err != nil || total != 1 || list[0].MemberCount != 1 || len(list[0].Rules) != 1 {
			t.Fatalf("ListServiceGroups: %v %d %+v", err, total, list)
		}
		users, _, _ := s.ListUsers(ctx, model.UserFilter{ServiceGroupID: other.ID})
		if len(users) != 1 || users[0].ID != u.ID {
			t.Errorf("users filtered by group = %+v", users)
		}

		if err := s.RemoveServiceGroupMember(ctx, g.ID, u.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.RemoveServiceGroupMember(ctx, g.ID, u.ID), model.ENOTFOUND)

		g.Name = "Sales EU"
		g.Rules = nil
		if err := s.UpdateServiceGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
		gg, _ := s.GetServiceGroup(ctx, g.ID)
		if gg.Name != "Sales EU" || len(gg.Rules) != 0 {
			t.Errorf("after update %+v", gg)
		}
		if err := s.DeleteServiceGroup(ctx, other.ID); err != nil {
			t.Fatal(err)
		}
		if n := count(t, s, "service_group_members"); n != 0 {
			t.Errorf("%d memberships left", n)
		}
		_, err = s.GetServiceGroup(ctx, other.ID)
		wantCode(t, err, model.ENOTFOUND)
	})
}

func TestProfiles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT()
		p := &model.Profile{Name: "No rules", SyncEnabled: true}
		if err := s.CreateProfile(ctx, p); err != nil {
			t.Fatal(err)
		}
		if p.SyncEnabled {
			t.Error("SyncEnabled kept on a profile without rules")
		}
		got, _ := s.GetProfile(ctx, p.ID)
		if got.SyncEnabled {
			t.Error("SyncEnabled stored on a profile without rules")
		}
		got.Rules = []model.Rule{{Attribute: model.AttrLocation, Value: "Berlin"}, {Attribute: model.AttrCostCenter, Value: "CC-100"}}
		got.SyncEnabled = true
		if err := s.UpdateProfile(ctx, got); err != nil {
			t.Fatal(err)
		}
		again, _ := s.GetProfile(ctx, p.ID)
		if !again.SyncEnabled || len(again.Rules) != 2 || again.Rules[1].Value != "CC-100" {
			t.Errorf("after update %+v", again)
		}

		u := mustUser(t, s, "gina", nil)
		v := mustUser(t, s, "hank", nil)
		if err := s.AddProfileMember(ctx, p.ID, u.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.AddSyncedProfileMember(ctx, p.ID, v.ID); err != nil {
			t.Fatal(err)
		}
		// a synced add of a manual member keeps it manual
		if err := s.AddSyncedProfileMember(ctx, p.ID, u.ID); err != nil {
			t.Fatal(err)
		}
		users, ms, total, err := s.ListProfileMembers(ctx, p.ID, model.ListQuery{})
		if err != nil || total != 2 || users[0].Username != "gina" || !ms[0].Manual || ms[1].Manual {
			t.Fatalf("members %v %d %+v %+v", err, total, users, ms)
		}
		profiles, pm, err := s.UserProfiles(ctx, u.ID)
		if err != nil || len(profiles) != 1 || !pm[0].Manual {
			t.Fatalf("UserProfiles %v %+v %+v", err, profiles, pm)
		}

		// an attribute used by a rule cannot be deleted
		attrs, _ := s.ListAttributes(ctx)
		var loc int64
		for _, a := range attrs {
			if a.Key == model.AttrLocation {
				loc = a.ID
			}
		}
		wantCode(t, s.DeleteAttribute(ctx, loc), model.ECONFLICT)

		if err := s.DeleteProfile(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if n := count(t, s, "profile_members") + count(t, s, "profile_rules"); n != 0 {
			t.Errorf("%d member/rule rows left", n)
		}
		if err := s.DeleteAttribute(ctx, loc); err != nil {
			t.Errorf("delete unused attribute: %v", err)
		}
	})
}

func TestAttributes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT()
		a := &model.AttributeDef{Key: "building", Name: "Building", EnterpriseGroup: true}
		if err := s.CreateAttribute(ctx, a); err != nil {
			t.Fatal(err)
		}
		if a.Position != 8 { // after the five defaults, given and family name
			t.Errorf("appended at position %d, want 8", a.Position)
		}
		err := s.CreateAttribute(ctx, &model.AttributeDef{Key: "Bad Key", Name: "x"})
		wantField(t, err, "key")
		err = s.CreateAttribute(ctx, &model.AttributeDef{Key: "building", Name: "Other"})
		wantCode(t, err, model.ECONFLICT)
		wantField(t, err, "key")
		err = s.CreateAttribute(ctx, &model.AttributeDef{Key: "b2", Name: "building"})
		wantField(t, err, "name")

		d := &model.Device{Name: "d", Attributes: model.Attributes{"building": "B1"}}
		if err := s.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
		a.Key = "renamed"
		wantField(t, s.UpdateAttribute(ctx, a), "key")
		a.Key, a.EnterpriseGroup = "building", false
		if err := s.UpdateAttribute(ctx, a); err != nil {
			t.Fatal(err)
		}
		got, _ := s.GetDevice(ctx, d.ID)
		if len(got.Attributes) != 0 {
			t.Errorf("device keeps a non-group attribute: %v", got.Attributes)
		}
		if err := s.DeleteAttribute(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		_, err = s.GetAttribute(ctx, a.ID)
		wantCode(t, err, model.ENOTFOUND)
	})
}
