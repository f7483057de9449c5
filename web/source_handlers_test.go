package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/config"
	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/directory/slapdtest"
	"github.com/idsync/idsync/internal/model"
)

func sourceForm(csrf string, src model.Source) url.Values {
	v := url.Values{
		"_csrf": {csrf}, "name": {src.Name}, "kind": {string(src.Kind)}, "urls": {strings.Join(src.URLs, "\n")},
		"bind_dn": {src.BindDN}, "bind_password": {src.BindPassword}, "user_base_dn": {src.UserBaseDN}, "user_filter": {src.UserFilter},
		"group_base_dn": {src.GroupBaseDN}, "group_filter": {src.GroupFilter}, "member_attr": {src.MemberAttr},
		"page_size": {"100"}, "timeout": {"10"}, "enabled": {"on"}, "primary_groups": {onOffForm(src.PrimaryGroups)},
		"attributes.external_id": {src.Attributes.ExternalID}, "attributes.username": {src.Attributes.Username},
		"attributes.email": {src.Attributes.Email}, "attributes.display_name": {src.Attributes.DisplayName},
		"attributes.disabled": {src.Attributes.Disabled},
	}
	for k, a := range src.Attributes.Enterprise {
		v.Set("attributes.enterprise."+k, a)
	}
	return v
}

func onOffForm(b bool) string {
	if b {
		return "on"
	}
	return ""
}

func TestSources(t *testing.T) {
	ldapSrv := slapdtest.Start(t, slapdtest.Options{Users: 12, Teams: 2})
	e := newPlatEnv(t, func(_ *config.Config, d *Deps) { d.Directory = directory.New(nil) })
	e.createAdmin("root", model.RoleAdmin)
	e.createAdmin("eve", model.RoleAuditor)
	c := e.client()
	c.login("root")
	csrf := c.csrf()
	ctx := context.Background()
	good := ldapSrv.Source()

	t.Run("new form has kind defaults", func(t *testing.T) {
		r := c.get("/sources/new?kind=ad")
		if r.status != http.StatusOK || !strings.Contains(r.body, `value="sAMAccountName"`) || !strings.Contains(r.body, `value="objectGUID"`) {
			t.Errorf("AD defaults missing: status %d", r.status)
		}
		r = c.get("/sources/new")
		if !strings.Contains(r.body, `value="entryUUID"`) || !strings.Contains(r.body, `data-testid="field-attributes.enterprise.location"`) {
			t.Error("OpenLDAP defaults or enterprise rows missing")
		}
		if countTestID(r.body, "source-kind-switch") != 1 {
			t.Error("the kind select of a new source does not reload the defaults")
		}
		// The kind switch asks for the fragment: no layout around it.
		r = c.do(http.MethodGet, "/sources/new?kind=ad", nil, map[string]string{"HX-Request": "true"})
		if strings.Contains(r.body, "<html") || !strings.Contains(r.body, `value="sAMAccountName"`) {
			t.Errorf("htmx kind switch: got a full page or no AD defaults")
		}
	})

	for _, tc := range []struct {
		name, field string
		mutate      func(url.Values)
	}{
		{"http URL", "urls", func(v url.Values) { v.Set("urls", "http://example.org") }},
		{"no URL", "urls", func(v url.Values) { v.Set("urls", " \n ") }},
		{"bad filter", "user_filter", func(v url.Values) { v.Set("user_filter", "(uid=a") }},
		{"bad DN", "user_base_dn", func(v url.Values) { v.Set("user_base_dn", "not a dn") }},
		{"UPN with no realm", "bind_dn", func(v url.Values) { v.Set("bind_dn", "reader@") }},
		{"DOMAIN\\ with no user", "bind_dn", func(v url.Values) { v.Set("bind_dn", `EXAMPLE\`) }},
		{"bind name of no known form", "bind_dn", func(v url.Values) { v.Set("bind_dn", "reader") }},
		{"bad page size", "page_size", func(v url.Values) { v.Set("page_size", "0") }},
		{"bad timeout", "timeout", func(v url.Values) { v.Set("timeout", "abc") }},
		{"missing name", "name", func(v url.Values) { v.Set("name", "") }},
		{"disabled flag that does not parse", "attributes.disabled", func(v url.Values) { v.Set("attributes.disabled", "locked(pwdAccountLockedTime, soon)") }},
		{"membership attribute that is a filter", "member_attr", func(v url.Values) { v.Set("member_attr", "member, (uid=*)") }},
	} {
		t.Run("invalid: "+tc.name, func(t *testing.T) {
			form := sourceForm(csrf, good)
			tc.mutate(form)
			r := c.post("/sources", form)
			if r.status != http.StatusUnprocessableEntity || countTestID(r.body, "error-"+tc.field) != 1 {
				t.Errorf("status %d, error-%s shown %d times", r.status, tc.field, countTestID(r.body, "error-"+tc.field))
			}
			if strings.Contains(r.body, good.BindPassword) {
				t.Error("the typed password was rendered back")
			}
			if got, _ := e.st.ListSources(ctx); len(got) != 0 {
				t.Errorf("%d sources stored after invalid input", len(got))
			}
		})
	}

	var id int64
	t.Run("create", func(t *testing.T) {
		r := c.post("/sources", sourceForm(csrf, good))
		if r.status != http.StatusSeeOther {
			t.Fatalf("status %d: %.500s", r.status, r.body)
		}
		list, err := e.st.ListSources(ctx)
		if err != nil || len(list) != 1 {
			t.Fatalf("sources = %v, %v", list, err)
		}
		id = list[0].ID
		got, err := e.st.GetSource(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.BindPassword != good.BindPassword || got.UserBaseDN != good.UserBaseDN || got.Attributes.Enterprise[model.AttrCostCenter] != "departmentNumber" || got.PageSize != 100 {
			t.Errorf("stored source = %+v", got)
		}
	})

	t.Run("UPN and DOMAIN\\user bind names are accepted", func(t *testing.T) {
		for i, name := range []string{"reader@example.test", `EXAMPLE\reader`} {
			src := good
			src.Name = "bind-form-" + objIDStr(int64(i))
			src.BindDN = name
			src.PrimaryGroups = true
			if r := c.post("/sources", sourceForm(csrf, src)); r.status != http.StatusSeeOther {
				t.Errorf("%q: status %d", name, r.status)
			}
		}
		list, _ := e.st.ListSources(ctx)
		for _, s := range list {
			if strings.HasPrefix(s.Name, "bind-form-") {
				if !s.PrimaryGroups {
					t.Errorf("%s: primary groups option not stored", s.Name)
				}
				if err := e.st.DeleteSource(ctx, s.ID); err != nil {
					t.Error(err)
				}
			}
		}
	})

	t.Run("edit page never shows the password", func(t *testing.T) {
		r := c.get("/sources/" + objIDStr(id))
		if r.status != http.StatusOK {
			t.Fatalf("status %d", r.status)
		}
		if strings.Contains(r.body, good.BindPassword) {
			t.Error("password rendered")
		}
		if !strings.Contains(r.body, `placeholder="unchanged"`) {
			t.Error(`no "unchanged" placeholder`)
		}
	})

	t.Run("update keeps the stored password", func(t *testing.T) {
		form := sourceForm(csrf, good)
		form.Set("bind_password", "")
		form.Set("name", "Main LDAP")
		r := c.post("/sources/"+objIDStr(id), form)
		if r.status != http.StatusSeeOther {
			t.Fatalf("status %d: %.300s", r.status, r.body)
		}
		got, _ := e.st.GetSource(ctx, id)
		if got.Name != "Main LDAP" || got.BindPassword != good.BindPassword {
			t.Errorf("after update name %q, password kept %v", got.Name, got.BindPassword == good.BindPassword)
		}
	})

	t.Run("test connection of a saved source", func(t *testing.T) {
		r := c.do(http.MethodPost, "/sources/"+objIDStr(id)+"/test", url.Values{"_csrf": {csrf}}, map[string]string{"HX-Request": "true"})
		if r.status != http.StatusOK || !strings.Contains(r.body, "Connected: 12 users, 7 groups") {
			t.Errorf("status %d, body %.300s", r.status, r.body)
		}
		got, _ := e.st.GetSource(ctx, id)
		if got.LastTestAt.IsZero() || got.LastTestError != "" {
			t.Errorf("test not recorded: %v %q", got.LastTestAt, got.LastTestError)
		}
	})

	t.Run("test connection of the typed values names the cause", func(t *testing.T) {
		form := sourceForm(csrf, good)
		form.Set("bind_password", "wrong-pass-xyz")
		r := c.do(http.MethodPost, "/sources/test", form, map[string]string{"HX-Request": "true"})
		if !strings.Contains(r.body, "invalid credentials") || strings.Contains(r.body, "wrong-pass-xyz") {
			t.Errorf("body %.300s", r.body)
		}
		form = sourceForm(csrf, good)
		form.Set("id", objIDStr(id))
		form.Set("bind_password", "") // the stored one is used
		form.Set("user_base_dn", "ou=nowhere,"+slapdtest.BaseDN)
		r = c.do(http.MethodPost, "/sources/test", form, map[string]string{"HX-Request": "true"})
		if !strings.Contains(r.body, "base DN not found") {
			t.Errorf("body %.300s", r.body)
		}
	})

	t.Run("test connection warns about a group class without its membership attribute", func(t *testing.T) {
		form := sourceForm(csrf, good)
		form.Set("member_attr", "member")
		r := c.do(http.MethodPost, "/sources/test", form, map[string]string{"HX-Request": "true"})
		if countTestID(r.body, "source-test-warning") != 1 || !strings.Contains(r.body, "groupOfUniqueNames") {
			t.Errorf("no warning: %.500s", r.body)
		}
		form.Set("member_attr", "member, uniqueMember")
		r = c.do(http.MethodPost, "/sources/test", form, map[string]string{"HX-Request": "true"})
		if countTestID(r.body, "source-test-warning") != 0 || !strings.Contains(r.body, "Connected") {
			t.Errorf("warning with both attributes: %.500s", r.body)
		}
	})

	t.Run("demo source is marked", func(t *testing.T) {
		d := good
		d.Name, d.Demo = "Demo directory", true
		if err := e.st.CreateSource(ctx, &d); err != nil {
			t.Fatal(err)
		}
		r := c.get("/sources")
		if countTestID(r.body, "source-demo") != 1 || countTestID(r.body, "source-row") != 2 {
			t.Errorf("demo badges %d, rows %d", countTestID(r.body, "source-demo"), countTestID(r.body, "source-row"))
		}
	})

	t.Run("auditor reads only", func(t *testing.T) {
		a := e.client()
		a.login("eve")
		if r := a.get("/sources"); r.status != http.StatusOK || countTestID(r.body, "source-test") != 0 {
			t.Errorf("auditor list: status %d, test buttons %d", r.status, countTestID(r.body, "source-test"))
		}
		if r := a.post("/sources/"+objIDStr(id)+"/delete", url.Values{"_csrf": {a.csrf()}}); r.status != http.StatusForbidden {
			t.Errorf("auditor delete status %d, want 403", r.status)
		}
	})

	t.Run("delete", func(t *testing.T) {
		r := c.post("/sources/"+objIDStr(id)+"/delete", url.Values{"_csrf": {csrf}})
		if r.status != http.StatusSeeOther {
			t.Fatalf("status %d", r.status)
		}
		if _, err := e.st.GetSource(ctx, id); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("GetSource after delete: %v", err)
		}
	})
}
