package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store/storetest"
)

func TestUserCreate(t *testing.T) {
	h := newObjHarness(t, storetest.Open(t, "sqlite"))
	ctx := context.Background()

	t.Run("missing username re-renders with the typed values and saves nothing", func(t *testing.T) {
		code, body, _ := h.post("/users", url.Values{"username": {""}, "email": {"kept@example.com"}, "status": {"active"}, "account_type": {"device_enabled"}})
		if code != http.StatusUnprocessableEntity {
			t.Fatalf("status = %d, want 422", code)
		}
		if got := countTestID(body, "error-username"); got != 1 {
			t.Errorf("error-username shown %d times, want 1", got)
		}
		if !strings.Contains(body, `value="kept@example.com"`) {
			t.Errorf("typed e-mail not kept in the form")
		}
		_, n, err := h.st.ListUsers(ctx, model.UserFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("users = %d, want 0", n)
		}
	})

	t.Run("script in a field is escaped", func(t *testing.T) {
		xss := `<script>alert(1)</script>`
		code, body, _ := h.post("/users", url.Values{"username": {xss}, "email": {"not-an-email" + xss}, "display_name": {xss}, "status": {"active"}, "account_type": {"device_enabled"}})
		if code != http.StatusUnprocessableEntity {
			t.Fatalf("status = %d, want 422", code)
		}
		if strings.Contains(body, xss) {
			t.Errorf("raw script echoed in the page")
		}
		if !strings.Contains(body, "&lt;script&gt;") {
			t.Errorf("escaped value missing from the re-rendered form")
		}
	})

	t.Run("valid user is created and audited", func(t *testing.T) {
		code, _, hdr := h.post("/users", url.Values{"username": {"alice"}, "email": {"alice@example.com"}, "display_name": {"Alice"}, "status": {"active"}, "account_type": {"device_enabled"}, "attr_location": {"Berlin"}})
		if code != http.StatusSeeOther {
			t.Fatalf("status = %d, want 303", code)
		}
		loc := hdr.Get("Location")
		if !strings.HasPrefix(loc, "/users/") {
			t.Fatalf("Location = %q", loc)
		}
		code, body := h.get(loc, false)
		if code != http.StatusOK {
			t.Fatalf("user page status = %d", code)
		}
		if !strings.Contains(body, `data-testid="user-title">alice<`) {
			t.Errorf("user page does not show the username")
		}
		if !strings.Contains(body, "User alice created.") {
			t.Errorf("flash missing")
		}
		users, _, err := h.st.ListUsers(ctx, model.UserFilter{ListQuery: model.ListQuery{Search: "alice"}})
		if err != nil || len(users) != 1 {
			t.Fatalf("stored users = %v, %v", users, err)
		}
		if got, want := users[0].Attributes[model.AttrLocation], "Berlin"; got != want {
			t.Errorf("location = %q, want %q", got, want)
		}
		_, audit := h.get("/audit?q=alice", false)
		if countTestID(audit, "audit-row") == 0 || !strings.Contains(audit, `data-testid="audit-actor">root<`) {
			t.Errorf("audit page lacks the create entry by root")
		}
	})

	t.Run("duplicate username is a field error", func(t *testing.T) {
		code, body, _ := h.post("/users", url.Values{"username": {"alice"}, "status": {"active"}, "account_type": {"device_enabled"}})
		if code != http.StatusUnprocessableEntity {
			t.Fatalf("status = %d, want 422", code)
		}
		if countTestID(body, "error-username") != 1 {
			t.Errorf("no message at the username field")
		}
		_, n, _ := h.st.ListUsers(ctx, model.UserFilter{})
		if n != 1 {
			t.Errorf("users = %d, want 1", n)
		}
	})
}

func TestUserUpdate(t *testing.T) {
	h := newObjHarness(t, storetest.Open(t, "sqlite"))
	ctx := context.Background()
	u := model.User{Username: "bob", Email: "bob@example.com", Status: model.StatusActive, Origin: model.OriginLocal, AccountType: model.AccountDeviceEnabled}
	storetest.Must(t, h.st.CreateUser(ctx, &u))
	path := fmt.Sprintf("/users/%d", u.ID)

	t.Run("bad e-mail changes nothing", func(t *testing.T) {
		code, body, _ := h.post(path, url.Values{"username": {"bobby"}, "email": {"nope"}, "status": {"active"}, "account_type": {"device_enabled"}})
		if code != http.StatusUnprocessableEntity {
			t.Fatalf("status = %d, want 422", code)
		}
		if countTestID(body, "error-email") != 1 {
			t.Errorf("no message at the e-mail field")
		}
		got, err := h.st.GetUser(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Username != "bob" || got.Email != "bob@example.com" {
			t.Errorf("stored user changed: %+v", got)
		}
	})

	t.Run("valid edit saves", func(t *testing.T) {
		code, _, _ := h.post(path, url.Values{"username": {"bobby"}, "email": {"bobby@example.com"}, "status": {"disabled"}, "account_type": {"administrator"}})
		if code != http.StatusSeeOther {
			t.Fatalf("status = %d, want 303", code)
		}
		got, err := h.st.GetUser(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Username != "bobby" || got.Status != model.StatusDisabled || got.AccountType != model.AccountAdministrator {
			t.Errorf("stored user = %+v", got)
		}
	})

	t.Run("delete", func(t *testing.T) {
		code, _, _ := h.post(path+"/delete", nil)
		if code != http.StatusSeeOther {
			t.Fatalf("status = %d, want 303", code)
		}
		if code, _ := h.get(path, false); code != http.StatusNotFound {
			t.Errorf("deleted user page status = %d, want 404", code)
		}
	})
}

func TestObjectNotFound(t *testing.T) {
	h := newObjHarness(t, storetest.Open(t, "sqlite"))
	for _, p := range []string{"/users/99999", "/users/abc", "/devices/99999", "/service-groups/99999", "/profiles/99999", "/attributes/99999", "/users/-1"} {
		t.Run(p, func(t *testing.T) {
			code, body := h.get(p, false)
			if code != http.StatusNotFound {
				t.Errorf("status = %d, want 404", code)
			}
			if !strings.Contains(body, "Not found") {
				t.Errorf("not the 404 page")
			}
		})
	}
	t.Run("post to missing user", func(t *testing.T) {
		if code, _, _ := h.post("/users/99999", url.Values{"username": {"x"}}); code != http.StatusNotFound {
			t.Errorf("status = %d, want 404", code)
		}
	})
}

func TestUsersList(t *testing.T) {
	h := newObjHarness(t, storetest.Open(t, "sqlite"))
	ctx := context.Background()
	for i := range 60 {
		u := model.User{Username: fmt.Sprintf("user-%02d", i), Status: model.StatusActive, Origin: model.OriginLocal, AccountType: model.AccountDeviceEnabled}
		storetest.Must(t, h.st.CreateUser(ctx, &u))
	}
	tests := []struct {
		name, path string
		hx         bool
		rows       int
		first      string
		layout     bool
	}{
		{"first page", "/users", false, 50, "user-00", true},
		{"second page", "/users?page=2", false, 10, "user-50", true},
		{"sorted descending", "/users?sort=username&dir=desc", false, 50, "user-59", true},
		{"search", "/users?q=user-4", false, 10, "user-40", true},
		{"live search fragment", "/users?q=USER-59", true, 1, "user-59", false},
		{"page past the end", "/users?page=99", false, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := h.get(tt.path, tt.hx)
			if code != http.StatusOK {
				t.Fatalf("status = %d", code)
			}
			if got := countTestID(body, "user-row"); got != tt.rows {
				t.Errorf("rows = %d, want %d", got, tt.rows)
			}
			if tt.first != "" {
				i := strings.Index(body, `data-testid="user-link">`)
				if i < 0 || !strings.HasPrefix(body[i+len(`data-testid="user-link">`):], tt.first+"<") {
					t.Errorf("first row is not %s", tt.first)
				}
			}
			if got := strings.Contains(body, "<html"); got != tt.layout {
				t.Errorf("full layout = %v, want %v", got, tt.layout)
			}
			if countTestID(body, "users-table") != 1 || !strings.Contains(body, `id="users-select"`) {
				t.Errorf("table fragment or users-select form missing")
			}
		})
	}
	t.Run("sort header toggles direction and keeps search", func(t *testing.T) {
		_, body := h.get("/users?q=user&sort=username&dir=asc", false)
		if !strings.Contains(body, `href="/users?dir=desc&amp;q=user&amp;sort=username"`) {
			t.Errorf("username header does not link to the descending sort with the search kept")
		}
	})
}

func TestUserRelations(t *testing.T) {
	h := newObjHarness(t, storetest.Open(t, "sqlite"))
	ctx := context.Background()
	u := model.User{Username: "carol", Status: model.StatusActive, Origin: model.OriginLocal, AccountType: model.AccountDeviceEnabled}
	storetest.Must(t, h.st.CreateUser(ctx, &u))
	g := model.ServiceGroup{Name: "Sales"}
	storetest.Must(t, h.st.CreateServiceGroup(ctx, &g))
	p := model.Profile{Name: "VPN"}
	storetest.Must(t, h.st.CreateProfile(ctx, &p))
	d := model.Device{Name: "laptop-1", Serial: "SN-1"}
	storetest.Must(t, h.st.CreateDevice(ctx, &d))
	path := fmt.Sprintf("/users/%d", u.ID)

	if code, _, _ := h.post(path+"/service-group", url.Values{"service_group_id": {fmt.Sprint(g.ID)}}); code != http.StatusSeeOther {
		t.Fatalf("assign service group: %d", code)
	}
	if code, _, _ := h.post(path+"/profiles", url.Values{"profile_id": {fmt.Sprint(p.ID)}}); code != http.StatusSeeOther {
		t.Fatalf("add profile: %d", code)
	}
	if code, _, _ := h.post(path+"/devices", url.Values{"device": {"sn-1"}}); code != http.StatusSeeOther {
		t.Fatalf("assign device: %d", code)
	}
	code, body, _ := h.post(path+"/devices", url.Values{"device": {"no-such"}})
	if code != http.StatusUnprocessableEntity || countTestID(body, "flash-error") != 1 {
		t.Errorf("unknown device: status %d, error shown %d", code, countTestID(body, "flash-error"))
	}
	_, body = h.get(path, false)
	for id, want := range map[string]int{"user-service-group-item": 1, "user-profile-row": 1, "user-device-row": 1} {
		if got := countTestID(body, id); got != want {
			t.Errorf("%s = %d, want %d", id, got, want)
		}
	}
	dev, err := h.st.GetDevice(ctx, d.ID)
	if err != nil || dev.UserID != u.ID {
		t.Errorf("device user = %v (%v), want %d", dev, err, u.ID)
	}
	// Clearing the service group removes the manual membership.
	if code, _, _ := h.post(path+"/service-group", url.Values{"service_group_id": {"0"}}); code != http.StatusSeeOther {
		t.Fatalf("clear service group: %d", code)
	}
	gs, _, err := h.st.UserServiceGroups(ctx, u.ID)
	if err != nil || len(gs) != 0 {
		t.Errorf("service groups after clearing = %v, %v", gs, err)
	}
}
