package web

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/model"
)

// TestAPIRuns previews, applies and re-applies a sync through the API
// against a private slapd, as a tool would: start, poll, read the report.
func TestAPIRuns(t *testing.T) {
	h := newSyncHarness(t)
	ctx := context.Background()
	root, err := h.st.GetAdminByUsername(ctx, "root")
	if err != nil {
		t.Fatal(err)
	}
	tk := &model.APIToken{AdminID: root.ID, Name: "runner", Role: model.RoleAdmin}
	tok, err := h.st.CreateAPIToken(ctx, tk, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path string, body any) apiResp {
		return apiWith(t, &http.Client{Timeout: time.Minute}, h.ts.URL, method, path, tok, body, nil)
	}
	wait := func(id float64, want ...model.RunStatus) map[string]any {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			r := call("GET", "/api/v1/runs/"+objIDStr(int64(id)), nil)
			for _, w := range want {
				if r.body["status"] == string(w) {
					return r.body
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %v: status %v, want %v", id, r.body["status"], want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if r := call("POST", "/api/v1/runs/preview", map[string]any{}); r.status != http.StatusUnprocessableEntity || r.errFields()["source_id"] == nil {
		t.Errorf("preview without a source: %d %s", r.status, r.raw)
	}
	r := call("POST", "/api/v1/runs/preview", map[string]any{"source_id": h.src.ID})
	if r.status != http.StatusAccepted {
		t.Fatalf("preview: %d %s", r.status, r.raw)
	}
	preview := wait(r.body["id"].(float64), model.RunPlanned)
	if preview["trigger"] != string(model.TriggerAPI) {
		t.Errorf("preview trigger = %v, want api", preview["trigger"])
	}
	items := call("GET", "/api/v1/runs/"+objIDStr(int64(preview["id"].(float64)))+"/items?phase=provisioning&limit=5", nil)
	list, _ := items.body["items"].([]any)
	if items.status != 200 || len(list) == 0 || items.body["next_cursor"] == nil {
		t.Fatalf("preview items: %d %s", items.status, items.raw)
	}
	for _, it := range list {
		if it.(map[string]any)["phase"] != "provisioning" {
			t.Errorf("phase filter let through %v", it)
		}
	}
	r = call("POST", "/api/v1/runs/"+objIDStr(int64(preview["id"].(float64)))+"/apply", map[string]any{"override": false})
	if r.status != http.StatusAccepted {
		t.Fatalf("apply: %d %s", r.status, r.raw)
	}
	wait(r.body["id"].(float64), model.RunSucceeded)
	if _, n, _ := h.st.ListUsers(ctx, model.UserFilter{}); n == 0 {
		t.Fatal("the API's apply created no users")
	}
	// The same preview again: it has been applied; the console's refusal.
	r = call("POST", "/api/v1/runs/"+objIDStr(int64(preview["id"].(float64)))+"/apply", nil)
	if r.status < 400 || r.errCode() == "" {
		t.Errorf("second apply of one preview: %d %s", r.status, r.raw)
	}
	users, _, _ := h.st.ListUsers(ctx, model.UserFilter{})
	if r := call("GET", "/api/v1/users/"+objIDStr(users[0].ID)+"/why", nil); r.status != 200 || r.body["Username"] != users[0].Username {
		t.Errorf("why: %d %.300s", r.status, r.raw)
	}
	if r := call("POST", "/api/v1/users/"+objIDStr(users[0].ID)+"/refresh", nil); r.status != 200 || r.body["kind"] != string(model.RunRefresh) {
		t.Errorf("refresh: %d %.300s", r.status, r.raw)
	}
	if r := call("GET", "/api/v1/runs?kind=apply", nil); r.status != 200 || len(r.body["items"].([]any)) != 1 {
		t.Errorf("runs list: %d %.300s", r.status, r.raw)
	}
	if r := call("GET", "/api/v1/runs/"+objIDStr(int64(preview["id"].(float64)))+"/report.csv", nil); r.status != 200 || len(r.raw) < 20 {
		t.Errorf("report csv: %d", r.status)
	}
}
