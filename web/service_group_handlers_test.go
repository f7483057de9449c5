package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store/storetest"
)

func TestServiceGroupsAndProfiles(t *testing.T) {
	h := newObjHarness(t, storetest.Open(t, "sqlite"))
	ctx := context.Background()
	u := model.User{Username: "erin", Status: model.StatusActive, Origin: model.OriginLocal, AccountType: model.AccountDeviceEnabled}
	storetest.Must(t, h.st.CreateUser(ctx, &u))

	t.Run("service group with rules and a member", func(t *testing.T) {
		code, body, _ := h.post("/service-groups", url.Values{"name": {""}})
		if code != http.StatusUnprocessableEntity || countTestID(body, "error-name") != 1 {
			t.Fatalf("empty name: status %d", code)
		}
		code, _, hdr := h.post("/service-groups", url.Values{"name": {"Berlin staff"}, "description": {"d"},
			"rule_attr": {"location", "", "cost_center"}, "rule_value": {"Berlin", "", "CC-1"}})
		if code != http.StatusSeeOther {
			t.Fatalf("create status = %d", code)
		}
		path := hdr.Get("Location")
		gs, _, err := h.st.ListServiceGroups(ctx, model.ListQuery{})
		if err != nil || len(gs) != 1 || len(gs[0].Rules) != 2 {
			t.Fatalf("stored groups = %+v, %v", gs, err)
		}
		if code, _, _ := h.post(path+"/members", url.Values{"username": {"erin"}}); code != http.StatusSeeOther {
			t.Fatalf("add member status = %d", code)
		}
		code, body, _ = h.post(path+"/members", url.Values{"username": {"ghost"}})
		if code != http.StatusUnprocessableEntity || countTestID(body, "error-username") != 1 {
			t.Errorf("unknown member: status %d", code)
		}
		_, body = h.get(path, false)
		if countTestID(body, "member-row") != 1 || countTestID(body, "rule-row-1") != 1 {
			t.Errorf("group page: members %d, second rule row %d", countTestID(body, "member-row"), countTestID(body, "rule-row-1"))
		}
		_, list := h.get("/service-groups?q=berlin", false)
		if countTestID(list, "service-group-row") != 1 || !strings.Contains(list, "location = Berlin AND cost_center = CC-1") {
			t.Errorf("list does not show the group with its rules")
		}
	})

	t.Run("bad rule value is shown at its row and nothing is saved", func(t *testing.T) {
		code, body, _ := h.post("/service-groups", url.Values{"name": {"Bad rules"}, "rule_attr": {"location", "location"}, "rule_value": {"A", "B"}})
		if code != http.StatusUnprocessableEntity || countTestID(body, "error-rules-1") != 1 {
			t.Errorf("status %d, error-rules-1 shown %d", code, countTestID(body, "error-rules-1"))
		}
		if _, n, _ := h.st.ListServiceGroups(ctx, model.ListQuery{Search: "bad rules"}); n != 0 {
			t.Errorf("group saved despite errors")
		}
	})

	t.Run("profile sync checkbox needs rules", func(t *testing.T) {
		code, _, hdr := h.post("/profiles", url.Values{"name": {"No rules"}, "sync_enabled": {"on"}})
		if code != http.StatusSeeOther {
			t.Fatalf("create status = %d", code)
		}
		path := hdr.Get("Location")
		_, body := h.get(path, false)
		i := strings.Index(body, `data-testid="field-sync_enabled"`)
		if i < 0 {
			t.Fatal("no sync checkbox")
		}
		tag := body[strings.LastIndex(body[:i], "<"):][:200]
		if !strings.Contains(tag, "disabled") || strings.Contains(tag, "checked") {
			t.Errorf("checkbox without rules should be disabled and off: %s", tag)
		}
		if !strings.Contains(body, "Add at least one attribute rule") {
			t.Errorf("no explanation for the disabled checkbox")
		}
		if code, _, _ := h.post(path, url.Values{"name": {"With rules"}, "rule_attr": {"department"}, "rule_value": {"IT"}, "sync_enabled": {"on"}}); code != http.StatusSeeOther {
			t.Fatalf("update status = %d", code)
		}
		ps, _, err := h.st.ListProfiles(ctx, model.ListQuery{Search: "with rules"})
		if err != nil || len(ps) != 1 || !ps[0].SyncEnabled {
			t.Errorf("profile after update = %+v, %v", ps, err)
		}
	})

	t.Run("delete", func(t *testing.T) {
		gs, _, _ := h.st.ListServiceGroups(ctx, model.ListQuery{})
		if len(gs) != 1 {
			t.Fatalf("groups = %d, want 1", len(gs))
		}
		if code, _, _ := h.post("/service-groups/"+objIDStr(gs[0].ID)+"/delete", nil); code != http.StatusSeeOther {
			t.Fatalf("delete status = %d", code)
		}
		if _, n, _ := h.st.ListServiceGroups(ctx, model.ListQuery{}); n != 0 {
			t.Errorf("groups after delete = %d", n)
		}
	})
}
