package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

func ctxT() context.Context { return storetest.Ctx() }

func TestUserCRUD(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT()
		u := &model.User{Username: " alice ", Email: "Alice@Example.com", DisplayName: "Alice A",
			Attributes: model.Attributes{model.AttrLocation: "Berlin", model.AttrTitle: " Engineer ", model.AttrDepartment: ""}}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if u.ID == 0 || u.Version != 1 || u.Username != "alice" || u.Status != model.StatusActive || u.Origin != model.OriginLocal {
			t.Fatalf("created user = %+v", u)
		}
		got, err := s.GetUser(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantAttrs := model.Attributes{model.AttrLocation: "Berlin", model.AttrTitle: "Engineer"}
		if fmt.Sprint(got.Attributes) != fmt.Sprint(wantAttrs) {
			t.Errorf("attributes = %v, want %v", got.Attributes, wantAttrs)
		}
		if got.Email != "Alice@Example.com" || got.DisplayName != "Alice A" || got.AccountType != model.AccountDeviceEnabled {
			t.Errorf("got %+v", got)
		}
		e := lastAudit(t, s)
		if e.Action != "create" || e.ObjectType != "user" || e.ObjectID != u.ID || e.Actor != "test" || !strings.Contains(e.After, "alice") {
			t.Errorf("audit = %+v", e)
		}

		got.Attributes[model.AttrLocation] = "Paris"
		delete(got.Attributes, model.AttrTitle)
		got.DisplayName = "Alice B"
		if err := s.UpdateUser(ctx, got); err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
		again, _ := s.GetUser(ctx, u.ID)
		if again.Version != 2 || again.DisplayName != "Alice B" || fmt.Sprint(again.Attributes) != fmt.Sprint(model.Attributes{model.AttrLocation: "Paris"}) {
			t.Errorf("after update: %+v", again)
		}
		e = lastAudit(t, s)
		if e.Action != "update" || !strings.Contains(e.Before, "Berlin") || !strings.Contains(e.After, "Paris") {
			t.Errorf("update audit = %+v", e)
		}

		// nil attributes keep the stored values
		keep := *again
		keep.Attributes = nil
		keep.Email = "alice@example.org"
		if err := s.UpdateUser(ctx, &keep); err != nil {
			t.Fatal(err)
		}
		again, _ = s.GetUser(ctx, u.ID)
		if again.Version != 3 || again.Attributes[model.AttrLocation] != "Paris" || again.Email != "alice@example.org" {
			t.Errorf("update with nil attributes: %+v", again)
		}

		// an update that changes nothing writes nothing
		audits := count(t, s, "audit_log")
		if err := s.UpdateUser(ctx, again); err != nil {
			t.Fatal(err)
		}
		if again.Version != 3 || count(t, s, "audit_log") != audits {
			t.Errorf("no-op update bumped version to %d or audited", again.Version)
		}

		if err := s.DeleteUser(ctx, u.ID); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		_, err = s.GetUser(ctx, u.ID)
		wantCode(t, err, model.ENOTFOUND)
		if n := count(t, s, "user_attribute_values"); n != 0 {
			t.Errorf("%d attribute values left after delete", n)
		}
		if e := lastAudit(t, s); e.Action != "delete" || e.ObjectID != u.ID {
			t.Errorf("delete audit = %+v", e)
		}
	})
}

func TestUserNotFound(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT()
		_, err := s.GetUser(ctx, 4242)
		wantCode(t, err, model.ENOTFOUND)
		wantCode(t, s.UpdateUser(ctx, &model.User{ID: 4242, Username: "x"}), model.ENOTFOUND)
		wantCode(t, s.DeleteUser(ctx, 4242), model.ENOTFOUND)
		_, _, err = s.UserServiceGroups(ctx, 4242)
		wantCode(t, err, model.ENOTFOUND)
	})
}

func TestUserUniqueness(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT()
		mustUser(t, s, "bob", nil)
		err := s.CreateUser(ctx, &model.User{Username: "BOB"})
		wantCode(t, err, model.ECONFLICT)
		wantField(t, err, "username")
		err = s.CreateUser(ctx, &model.User{Username: "bob2", Email: "BOB@example.com"})
		wantCode(t, err, model.ECONFLICT)
		wantField(t, err, "email")
		// empty e-mails never collide
		for _, n := range []string{"n1", "n2"} {
			if err := s.CreateUser(ctx, &model.User{Username: n}); err != nil {
				t.Fatalf("user without e-mail %s: %v", n, err)
			}
		}
		// an update into a taken name conflicts and leaves the row alone
		carol := mustUser(t, s, "carol", nil)
		carol.Username = "Bob"
		err = s.UpdateUser(ctx, carol)
		wantCode(t, err, model.ECONFLICT)
		wantField(t, err, "username")
		got, _ := s.GetUser(ctx, carol.ID)
		if got.Username != "carol" || got.Version != 1 {
			t.Errorf("after failed update: %+v", got)
		}
		if n := count(t, s, "users"); n != 4 {
			t.Errorf("%d users, want 4", n)
		}
	})
}

func TestUserValidationSavesNothing(t *testing.T) {
	long := strings.Repeat("x", 256)
	cases := []struct {
		name  string
		user  model.User
		field string
	}{
		{"missing username", model.User{Email: "a@b.co"}, "username"},
		{"too long username", model.User{Username: long}, "username"},
		{"space in username", model.User{Username: "a b"}, "username"},
		{"bad e-mail", model.User{Username: "a", Email: "not-an-email"}, "email"},
		{"e-mail with name", model.User{Username: "a", Email: "A <a@b.co>"}, "email"},
		{"too long display name", model.User{Username: "a", DisplayName: long}, "display_name"},
		{"bad status", model.User{Username: "a", Status: "gone"}, "status"},
		{"bad account type", model.User{Username: "a", AccountType: "root"}, "account_type"},
		{"unknown attribute", model.User{Username: "a", Attributes: model.Attributes{"shoe_size": "42"}}, "attributes.shoe_size"},
		{"too long attribute", model.User{Username: "a", Attributes: model.Attributes{model.AttrTitle: long}}, "attributes.title"},
		{"directory without source", model.User{Username: "a", Origin: model.OriginDirectory, ExternalID: "x"}, "source_id"},
		{"unknown source", model.User{Username: "a", Origin: model.OriginDirectory, SourceID: 99, ExternalID: "x"}, "source_id"},
	}
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				u := c.user
				err := s.CreateUser(ctxT(), &u)
				wantCode(t, err, model.EINVALID)
				wantField(t, err, c.field)
				if n := count(t, s, "users"); n != 0 {
					t.Errorf("%d users saved", n)
				}
				if n := count(t, s, "audit_log"); n != 0 {
					t.Errorf("%d audit entries written", n)
				}
			})
		}
	})
}

func TestListUsers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT()
		for i := range 25 {
			u := &model.User{Username: fmt.Sprintf("user%02d", i), DisplayName: fmt.Sprintf("Name %c", 'Z'-i),
				Attributes: model.Attributes{model.AttrLocation: "L"}}
			if i%5 == 0 {
				u.Status = model.StatusDisabled
				u.Email = fmt.Sprintf("special_%d@corp.example", i)
			}
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		page, total, err := s.ListUsers(ctx, model.UserFilter{ListQuery: model.ListQuery{Page: 2, PerPage: 10}})
		if err != nil {
			t.Fatal(err)
		}
		if total != 25 || len(page) != 10 || page[0].Username != "user10" || page[9].Username != "user19" {
			t.Fatalf("page 2: total %d, %d rows, first %q", total, len(page), page[0].Username)
		}
		if page[0].Attributes[model.AttrLocation] != "L" {
			t.Errorf("list rows lack attributes: %v", page[0].Attributes)
		}
		page, _, _ = s.ListUsers(ctx, model.UserFilter{ListQuery: model.ListQuery{Sort: "display_name", PerPage: 3}})
		if got := page[0].DisplayName; got != "Name B" {
			t.Errorf("sorted by display name, first = %q, want Name B (user24)", got)
		}
		page, _, _ = s.ListUsers(ctx, model.UserFilter{ListQuery: model.ListQuery{Sort: "username", Desc: true, PerPage: 1}})
		if page[0].Username != "user24" {
			t.Errorf("desc first = %q", page[0].Username)
		}
		// unknown sort column falls back to username, never reaches SQL
		page, _, err = s.ListUsers(ctx, model.UserFilter{ListQuery: model.ListQuery{Sort: "id; DROP TABLE users", PerPage: 1}})
		if err != nil || page[0].Username != "user00" {
			t.Errorf("bad sort: %v, %v", err, page)
		}
		// search is a case-insensitive substring; LIKE wildcards are literal
		_, total, _ = s.ListUsers(ctx, model.UserFilter{ListQuery: model.ListQuery{Search: "SPECIAL_"}})
		if total != 5 {
			t.Errorf("search SPECIAL_: total %d, want 5", total)
		}
		_, total, _ = s.ListUsers(ctx, model.UserFilter{ListQuery: model.ListQuery{Search: "%"}})
		if total != 0 {
			t.Errorf("search %%: total %d, want 0", total)
		}
		_, total, _ = s.ListUsers(ctx, model.UserFilter{ListQuery: model.ListQuery{Search: "user1"}})
		if total != 10 {
			t.Errorf("search user1: total %d, want 10", total)
		}
		_, total, _ = s.ListUsers(ctx, model.UserFilter{Status: model.StatusDisabled})
		if total != 5 {
			t.Errorf("disabled: total %d, want 5", total)
		}
	})
}
