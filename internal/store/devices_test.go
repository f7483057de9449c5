package store_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

func TestDeviceCRUD(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT()
		u := mustUser(t, s, "dana", nil)
		d := &model.Device{Name: "Laptop 1", Serial: "SN-1", Platform: "Windows", UserID: u.ID,
			Attributes: model.Attributes{model.AttrLocation: "Berlin"}}
		if err := s.CreateDevice(ctx, d); err != nil {
			t.Fatalf("CreateDevice: %v", err)
		}
		got, err := s.GetDevice(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.UserID != u.ID || got.Attributes[model.AttrLocation] != "Berlin" || got.Serial != "SN-1" {
			t.Errorf("got %+v", got)
		}
		// UpdateDevice never changes the user
		got.UserID = 0
		got.Name = "Laptop 1b"
		if err := s.UpdateDevice(ctx, got); err != nil {
			t.Fatal(err)
		}
		again, _ := s.GetDevice(ctx, d.ID)
		if again.UserID != u.ID || again.Name != "Laptop 1b" {
			t.Errorf("after update: %+v", again)
		}
		// serial unique, case-insensitively
		err = s.CreateDevice(ctx, &model.Device{Name: "Other", Serial: "sn-1"})
		wantCode(t, err, model.ECONFLICT)
		wantField(t, err, "serial")
		// empty serials never collide
		for i := range 2 {
			if err := s.CreateDevice(ctx, &model.Device{Name: fmt.Sprint("no serial ", i)}); err != nil {
				t.Fatal(err)
			}
		}
		// only enterprise-group attributes
		err = s.CreateDevice(ctx, &model.Device{Name: "x", Attributes: model.Attributes{model.AttrTitle: "t"}})
		wantCode(t, err, model.EINVALID)
		wantField(t, err, "attributes.title")
		err = s.CreateDevice(ctx, &model.Device{Name: "x", UserID: 999})
		wantCode(t, err, model.EINVALID)
		wantField(t, err, "user_id")
		err = s.CreateDevice(ctx, &model.Device{Name: ""})
		wantField(t, err, "name")
		if n := count(t, s, "devices"); n != 3 {
			t.Errorf("%d devices, want 3", n)
		}

		// assign / unassign
		wantCode(t, s.AssignDevice(ctx, d.ID, 999), model.EINVALID)
		wantCode(t, s.AssignDevice(ctx, 999, u.ID), model.ENOTFOUND)
		if err := s.AssignDevice(ctx, d.ID, 0); err != nil {
			t.Fatal(err)
		}
		if e := lastAudit(t, s); e.Action != "assign" || !strings.Contains(e.Summary, "unassigned") {
			t.Errorf("assign audit = %+v", e)
		}
		if err := s.AssignDevice(ctx, d.ID, u.ID); err != nil {
			t.Fatal(err)
		}
		list, total, err := s.ListDevices(ctx, model.DeviceFilter{UserID: u.ID})
		if err != nil || total != 1 || list[0].ID != d.ID {
			t.Fatalf("devices of user: %v %d %v", err, total, list)
		}
		_, total, _ = s.ListDevices(ctx, model.DeviceFilter{Unassigned: true})
		if total != 2 {
			t.Errorf("unassigned: %d, want 2", total)
		}
		// deleting the user unassigns the device
		if err := s.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		again, _ = s.GetDevice(ctx, d.ID)
		if again.UserID != 0 {
			t.Errorf("device still assigned to deleted user: %+v", again)
		}
		if err := s.DeleteDevice(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.DeleteDevice(ctx, d.ID), model.ENOTFOUND)
	})
}

func TestListDevices(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT()
		for i := range 12 {
			p := "macOS"
			if i%3 == 0 {
				p = "Linux"
			}
			if err := s.CreateDevice(ctx, &model.Device{Name: fmt.Sprintf("dev-%02d", i), Serial: fmt.Sprintf("S%03d", 100-i), Platform: p}); err != nil {
				t.Fatal(err)
			}
		}
		page, total, err := s.ListDevices(ctx, model.DeviceFilter{ListQuery: model.ListQuery{Sort: "serial", PerPage: 5, Page: 1}})
		if err != nil || total != 12 || len(page) != 5 || page[0].Serial != "S089" {
			t.Fatalf("by serial: %v total %d first %+v", err, total, page)
		}
		_, total, _ = s.ListDevices(ctx, model.DeviceFilter{ListQuery: model.ListQuery{Search: "linux"}})
		if total != 4 {
			t.Errorf("search linux: %d, want 4", total)
		}
		page, _, _ = s.ListDevices(ctx, model.DeviceFilter{ListQuery: model.ListQuery{Page: 3, PerPage: 5}})
		if len(page) != 2 || page[1].Name != "dev-11" {
			t.Errorf("last page = %+v", page)
		}
	})
}

func TestPropagationToDevices(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT()
		u := mustUser(t, s, "erin", model.Attributes{model.AttrLocation: "Berlin", model.AttrCostCenter: "CC-1", model.AttrTitle: "Dev"})
		d1 := &model.Device{Name: "d1", Attributes: model.Attributes{model.AttrLocation: "Berlin", model.AttrCorporateUnit: "Own"}, UserID: u.ID}
		d2 := &model.Device{Name: "d2", UserID: u.ID}
		other := &model.Device{Name: "other", Attributes: model.Attributes{model.AttrLocation: "Berlin"}}
		for _, d := range []*model.Device{d1, d2, other} {
			if err := s.CreateDevice(ctx, d); err != nil {
				t.Fatal(err)
			}
		}

		t.Run("off", func(t *testing.T) {
			u.Attributes[model.AttrLocation] = "Munich"
			if err := s.UpdateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			got, _ := s.GetDevice(ctx, d1.ID)
			if got.Attributes[model.AttrLocation] != "Berlin" {
				t.Errorf("setting off, device changed: %v", got.Attributes)
			}
		})
		t.Run("on", func(t *testing.T) {
			mustSettings(t, s, func(st *model.Settings) { st.SyncEnterpriseGroupsToDevices = true })
			// turning it on rewrites nothing
			got, _ := s.GetDevice(ctx, d1.ID)
			if got.Attributes[model.AttrLocation] != "Berlin" {
				t.Fatalf("turning the setting on changed a device: %v", got.Attributes)
			}
			u.Attributes[model.AttrLocation] = "Paris"
			delete(u.Attributes, model.AttrCostCenter)
			u.Attributes[model.AttrTitle] = "Lead" // not an enterprise group attribute
			if err := s.UpdateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			want := map[int64]string{
				d1.ID:    fmt.Sprint(model.Attributes{model.AttrLocation: "Paris", model.AttrCorporateUnit: "Own"}),
				d2.ID:    fmt.Sprint(model.Attributes{model.AttrLocation: "Paris"}),
				other.ID: fmt.Sprint(model.Attributes{model.AttrLocation: "Berlin"}),
			}
			for id, w := range want {
				got, _ := s.GetDevice(ctx, id)
				if fmt.Sprint(got.Attributes) != w {
					t.Errorf("device %d attributes = %v, want %s", id, got.Attributes, w)
				}
			}
			es, _, _ := s.ListAudit(ctx, model.ListQuery{Search: "follow user erin"})
			if len(es) != 2 {
				t.Errorf("%d propagation audit entries, want 2", len(es))
			}
			// one-way: a device edit does not touch the user
			got, _ = s.GetDevice(ctx, d2.ID)
			got.Attributes[model.AttrLocation] = "Rome"
			if err := s.UpdateDevice(ctx, got); err != nil {
				t.Fatal(err)
			}
			uu, _ := s.GetUser(ctx, u.ID)
			if uu.Attributes[model.AttrLocation] != "Paris" {
				t.Errorf("device edit changed user: %v", uu.Attributes)
			}
		})
	})
}
