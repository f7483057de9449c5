package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/model"
)

// parityWorld is the same starting state in two servers: a local user
// with a device, two service groups, a profile and a product for every
// user, with user → device propagation on.
type parityWorld struct {
	e                 *platEnv
	user, device, sgA int64
	sgB, profile      int64
	adminToken        string
	browser           *platClient
	csrf              string
}

func newParityWorld(t *testing.T, dialect string) *parityWorld {
	e := newAPIEnv(t, dialect)
	ctx := context.Background()
	st, err := e.st.GetSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.SyncEnterpriseGroupsToDevices = true
	if err := e.st.UpdateSettings(ctx, st); err != nil {
		t.Fatal(err)
	}
	w := &parityWorld{e: e}
	u := &model.User{Username: "ulla", Email: "ulla@example.com", DisplayName: "Ulla",
		Attributes: model.Attributes{"location": "Berlin", "cost_center": "CC-1", "title": "Clerk"}}
	if err := e.st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	d := &model.Device{Name: "LAPTOP-1", Serial: "SN-1", Platform: "Linux", UserID: u.ID,
		Attributes: model.Attributes{"location": "Berlin", "cost_center": "CC-1"}}
	if err := e.st.CreateDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	a := &model.ServiceGroup{Name: "Sales"}
	b := &model.ServiceGroup{Name: "Support"}
	p := &model.Profile{Name: "VPN"}
	for _, err := range []error{e.st.CreateServiceGroup(ctx, a), e.st.CreateServiceGroup(ctx, b), e.st.CreateProfile(ctx, p)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	prod := &model.Product{Name: "Hook", Kind: model.ProductWebhook, BaseURL: "http://127.0.0.1:9/hook", Secret: "k", AllUsers: true, Enabled: true}
	if err := e.st.CreateProduct(ctx, prod); err != nil {
		t.Fatal(err)
	}
	w.user, w.device, w.sgA, w.sgB, w.profile = u.ID, d.ID, a.ID, b.ID, p.ID
	admin := e.createAdmin("alice", model.RoleAdmin)
	w.adminToken, _ = e.token(admin, "parity", model.RoleAdmin, 0)
	w.browser = e.client()
	w.browser.login("alice")
	w.csrf = w.browser.csrf()
	return w
}

// dump is the database's state that a change may touch, side effects
// included, without ids of audit rows, times and actors.
func (w *parityWorld) dump(t *testing.T) string {
	t.Helper()
	db := w.e.st.DB()
	var b strings.Builder
	for _, q := range []string{
		"SELECT id, username, email, display_name, status, account_type, disabled_by_sync, version FROM users ORDER BY id",
		"SELECT user_id, attribute_id, value FROM user_attribute_values ORDER BY user_id, attribute_id",
		"SELECT id, name, serial, platform, COALESCE(user_id, 0) FROM devices ORDER BY id",
		"SELECT device_id, attribute_id, value FROM device_attribute_values ORDER BY device_id, attribute_id",
		"SELECT service_group_id, user_id, manual FROM service_group_members ORDER BY service_group_id, user_id",
		"SELECT profile_id, user_id, manual FROM profile_members ORDER BY profile_id, user_id",
		"SELECT product_id, user_id, wanted_version, deleted FROM product_user_state ORDER BY product_id, user_id",
		"SELECT action, object_type, object_id, summary FROM audit_log WHERE object_type NOT IN ('admin', 'api_token', 'settings', 'product') ORDER BY id",
	} {
		rows, err := db.Raw(q).Rows()
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		cols, _ := rows.Columns()
		fmt.Fprintf(&b, "-- %s\n", q)
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				if bs, ok := v.([]byte); ok {
					vals[i] = string(bs)
				}
				if bv, ok := v.(bool); ok { // SQLite and PostgreSQL agree on 0/1
					vals[i] = map[bool]int{false: 0, true: 1}[bv]
				}
			}
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
	}
	return b.String()
}

// TestAPIConsoleParity makes the same changes through the console's forms
// and through the API, on two identical servers, and compares the
// databases afterwards: the change, device propagation, product
// notification, memberships and the audit log.
func TestAPIConsoleParity(t *testing.T) {
	for _, dialect := range apiDialects {
		t.Run(dialect, func(t *testing.T) {
			con := newParityWorld(t, dialect)
			api := newParityWorld(t, dialect)
			if a, b := con.dump(t), api.dump(t); a != b {
				t.Fatalf("the two worlds differ before any change:\n%s\n---\n%s", a, b)
			}
			id := func(n int64) string { return fmt.Sprint(n) }
			steps := []struct {
				name    string
				console func(w *parityWorld) int
				api     func(w *parityWorld) apiResp
			}{
				{"edit user (propagates to the device)", func(w *parityWorld) int {
					return w.browser.post("/users/"+id(w.user), url.Values{"_csrf": {w.csrf}, "username": {"ulla"}, "email": {"ulla@example.org"},
						"display_name": {"Ulla B."}, "status": {"active"}, "account_type": {"device_enabled"},
						"attr_location": {"Paris"}, "attr_cost_center": {"CC-1"}}).status
				}, func(w *parityWorld) apiResp {
					return w.e.api("PATCH", "/api/v1/users/"+id(w.user), w.adminToken, map[string]any{"email": "ulla@example.org",
						"display_name": "Ulla B.", "attributes": map[string]string{"location": "Paris", "title": ""}}, nil)
				}},
				{"service group", func(w *parityWorld) int {
					return w.browser.post("/users/"+id(w.user)+"/service-group", url.Values{"_csrf": {w.csrf}, "service_group_id": {id(w.sgA)}}).status
				}, func(w *parityWorld) apiResp {
					return w.e.api("PATCH", "/api/v1/users/"+id(w.user), w.adminToken, map[string]any{"service_group_id": w.sgA}, nil)
				}},
				{"move to another service group", func(w *parityWorld) int {
					return w.browser.post("/users/"+id(w.user)+"/service-group", url.Values{"_csrf": {w.csrf}, "service_group_id": {id(w.sgB)}}).status
				}, func(w *parityWorld) apiResp {
					return w.e.api("PATCH", "/api/v1/users/"+id(w.user), w.adminToken, map[string]any{"service_group_id": w.sgB}, nil)
				}},
				{"add profile", func(w *parityWorld) int {
					return w.browser.post("/users/"+id(w.user)+"/profiles", url.Values{"_csrf": {w.csrf}, "profile_id": {id(w.profile)}}).status
				}, func(w *parityWorld) apiResp {
					return w.e.api("PATCH", "/api/v1/users/"+id(w.user), w.adminToken, map[string]any{"add_profiles": []int64{w.profile}}, nil)
				}},
				{"disable user", func(w *parityWorld) int {
					return w.browser.post("/users/"+id(w.user), url.Values{"_csrf": {w.csrf}, "username": {"ulla"}, "email": {"ulla@example.org"},
						"display_name": {"Ulla B."}, "status": {"disabled"}, "account_type": {"device_enabled"},
						"attr_location": {"Paris"}, "attr_cost_center": {"CC-1"}}).status
				}, func(w *parityWorld) apiResp {
					return w.e.api("PATCH", "/api/v1/users/"+id(w.user), w.adminToken, map[string]any{"status": "disabled"}, nil)
				}},
				{"edit device", func(w *parityWorld) int {
					return w.browser.post("/devices/"+id(w.device), url.Values{"_csrf": {w.csrf}, "name": {"LAPTOP-1"}, "serial": {"SN-1"},
						"platform": {"Windows"}, "attr_location": {"Paris"}, "attr_cost_center": {"CC-9"}}).status
				}, func(w *parityWorld) apiResp {
					return w.e.api("PATCH", "/api/v1/devices/"+id(w.device), w.adminToken, map[string]any{"platform": "Windows",
						"attributes": map[string]string{"cost_center": "CC-9"}}, nil)
				}},
				{"unassign device", func(w *parityWorld) int {
					return w.browser.post("/devices/"+id(w.device)+"/unassign", url.Values{"_csrf": {w.csrf}}).status
				}, func(w *parityWorld) apiResp {
					return w.e.api("PATCH", "/api/v1/devices/"+id(w.device), w.adminToken, map[string]any{"user_id": 0}, nil)
				}},
				{"remove profile", func(w *parityWorld) int {
					return w.browser.post("/users/"+id(w.user)+"/profiles/"+id(w.profile)+"/delete", url.Values{"_csrf": {w.csrf}}).status
				}, func(w *parityWorld) apiResp {
					return w.e.api("PATCH", "/api/v1/users/"+id(w.user), w.adminToken, map[string]any{"remove_profiles": []int64{w.profile}}, nil)
				}},
				{"no service group", func(w *parityWorld) int {
					return w.browser.post("/users/"+id(w.user)+"/service-group", url.Values{"_csrf": {w.csrf}, "service_group_id": {"0"}}).status
				}, func(w *parityWorld) apiResp {
					return w.e.api("PATCH", "/api/v1/users/"+id(w.user), w.adminToken, map[string]any{"service_group_id": 0}, nil)
				}},
			}
			for _, st := range steps {
				if got := st.console(con); got != http.StatusSeeOther {
					t.Fatalf("%s in the console: status %d", st.name, got)
				}
				if r := st.api(api); r.status != http.StatusOK {
					t.Fatalf("%s through the API: status %d %s", st.name, r.status, r.raw)
				}
				if a, b := con.dump(t), api.dump(t); a != b {
					t.Fatalf("after %q the databases differ:\nconsole:\n%s\napi:\n%s\ndiff lines: %v", st.name, a, b, diffLines(a, b))
				}
			}
			// The API's changes are attributed to its token.
			n := 0
			for _, e := range mustAudit(t, api) {
				if e.TokenID != 0 {
					n++
				}
			}
			if n == 0 {
				t.Error("no audit entry of the API world carries the token")
			}
		})
	}
}

func mustAudit(t *testing.T, w *parityWorld) []model.AuditEntry {
	t.Helper()
	es, _, err := w.e.st.ListAudit(context.Background(), model.ListQuery{PerPage: 500})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func diffLines(a, b string) []string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for _, l := range al {
		if !slices.Contains(bl, l) {
			out = append(out, "-"+l)
		}
	}
	for _, l := range bl {
		if !slices.Contains(al, l) {
			out = append(out, "+"+l)
		}
	}
	return out
}
