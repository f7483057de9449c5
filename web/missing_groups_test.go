package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/syncplan"
)

// TestMissingGroupBanner: a preview that did not find a mapped group puts
// a banner on the dashboard, Sync and Mappings pages; a later preview that
// finds it again takes it away.
func TestMissingGroupBanner(t *testing.T) {
	e := newPlatEnv(t, nil)
	e.createAdmin("root", model.RoleAdmin)
	c := e.client()
	c.login("root")
	ctx := model.WithActor(context.Background(), "root")
	src := model.DefaultSource(model.SourceActiveDirectory)
	src.Name, src.URLs, src.UserBaseDN = "corp", []string{"ldap://127.0.0.1:1"}, "DC=example,DC=test"
	if err := e.st.CreateSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	run := &model.Run{Kind: model.RunPreview, Trigger: model.TriggerAdmin, SourceID: src.ID, Status: model.RunRunning, StartedAt: time.Now()}
	if err := e.st.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	run.Status, run.FinishedAt = model.RunHeld, time.Now()
	run.Holds = []model.Hold{{Code: syncplan.HoldMissingGroup, Message: `directory group "CN=renamed-away,OU=Groups" mapped to service group "Staff" was not found`}}
	if err := e.st.SaveRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/sync", "/mappings"} {
		r := c.get(path)
		if countTestID(r.body, "missing-groups-banner") != 1 || !strings.Contains(r.body, "renamed-away") {
			t.Errorf("%s: status %d, no banner naming the missing group", path, r.status)
		}
	}
	again := &model.Run{Kind: model.RunPreview, Trigger: model.TriggerAdmin, SourceID: src.ID, Status: model.RunRunning, StartedAt: time.Now().Add(time.Second)}
	if err := e.st.CreateRun(ctx, again); err != nil {
		t.Fatal(err)
	}
	again.Status, again.FinishedAt = model.RunPlanned, time.Now()
	if err := e.st.SaveRun(ctx, again); err != nil {
		t.Fatal(err)
	}
	if r := c.get("/mappings"); countTestID(r.body, "missing-groups-banner") != 0 {
		t.Error("the banner stays after a preview that found every group")
	}
}
