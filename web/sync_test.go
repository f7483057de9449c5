package web

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/auth"
	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/directory/slapdtest"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
	"github.com/idsync/idsync/internal/syncer"
)

// syncHarness is a console with the real sync engine, on SQLite, against a
// private slapd, signed in as admin "root".
type syncHarness struct {
	*objHarness
	sy  *syncer.Syncer
	src *model.Source
	sg  int64
}

func newSyncHarness(t *testing.T) *syncHarness {
	t.Helper()
	st := storetest.Open(t, "sqlite")
	srv := slapdtest.Start(t, slapdtest.Options{Users: 12, Teams: 2})
	ctx := model.WithActor(context.Background(), "test")
	src := srv.Source()
	src.ID = 0
	if err := st.CreateSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateProvisioningMapping(ctx, &model.ProvisioningMapping{SourceID: src.ID, GroupDN: "cn=all-staff," + slapdtest.GroupsDN,
		AccountType: model.AccountDeviceEnabled, Nested: true}); err != nil {
		t.Fatal(err)
	}
	g := &model.ServiceGroup{Name: "Field staff"}
	if err := st.CreateServiceGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	server, sy := newSyncServer(t, st)
	ts := httptest.NewServer(server.Handler())
	t.Cleanup(ts.Close)
	jar, _ := cookiejar.New(nil)
	h := &objHarness{tb: t, st: st, srv: server, ts: ts, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	hash, _ := auth.HashPassword("correct horse battery staple")
	if err := st.CreateAdmin(ctx, &model.Admin{Username: "root", PasswordHash: hash, Role: model.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	_, body := h.get("/login", false)
	h.csrf = h.token(body)
	if code, _, _ := h.post("/login", url.Values{"username": {"root"}, "password": {"correct horse battery staple"}}); code != http.StatusSeeOther {
		t.Fatalf("login: %d", code)
	}
	_, body = h.get("/mappings", false)
	h.csrf = h.token(body)
	return &syncHarness{objHarness: h, sy: sy, src: &src, sg: g.ID}
}

// newSyncServer turns provisioning on and returns a console on st with the
// real sync engine and directory client; the test waits for background
// applies when it ends.
func newSyncServer(t *testing.T, st *store.Store) (*Server, *syncer.Syncer) {
	t.Helper()
	changeSettings(t, st, func(set *model.Settings) { set.ProvisioningEnabled = true })
	log := slog.New(slog.DiscardHandler)
	dir := directory.New(log)
	sy := syncer.New(st, dir, log)
	t.Cleanup(sy.Wait)
	server, err := New(Deps{Store: st, Config: objTestConfig(), Logger: log, Syncer: sy, Directory: dir})
	if err != nil {
		t.Fatal(err)
	}
	return server, sy
}

// changeSettings changes the console's settings with change.
func changeSettings(t *testing.T, st *store.Store, change func(*model.Settings)) {
	t.Helper()
	ctx := model.WithActor(context.Background(), "test")
	set, err := st.GetSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	change(&set)
	if err := st.UpdateSettings(ctx, set); err != nil {
		t.Fatal(err)
	}
}

var runIDRE = regexp.MustCompile(`(?:run=|/runs/)(\d+)`)

func TestSyncPagesFlow(t *testing.T) {
	h := newSyncHarness(t)
	srcID, sgID := objIDStr(h.src.ID), objIDStr(h.sg)

	t.Run("mapping validation", func(t *testing.T) {
		code, body, _ := h.post("/mappings/groups", url.Values{"source_id": {srcID}, "group_dn_manual": {"not a dn"}, "service_group_id": {sgID}, "priority": {"x"}})
		if code != http.StatusUnprocessableEntity || countTestID(body, "error-group_dn") != 1 || countTestID(body, "error-priority") != 1 {
			t.Fatalf("bad mapping: status %d, body:\n%s", code, body)
		}
		if ms, _ := h.st.ListGroupMappings(context.Background()); len(ms) != 0 {
			t.Errorf("a rejected form created %d mappings", len(ms))
		}
	})

	t.Run("group picker searches the directory", func(t *testing.T) {
		code, body := h.get("/mappings/search-groups?source_id="+srcID+"&group_q=team", true)
		if code != http.StatusOK || countTestID(body, "picker-choice") != 2 {
			t.Fatalf("picker: status %d body:\n%s", code, body)
		}
	})

	t.Run("mapping created", func(t *testing.T) {
		code, _, hdr := h.post("/mappings/groups", url.Values{"source_id": {srcID}, "group_dn": {slapdtest.TeamDN(0)}, "service_group_id": {sgID}, "nested": {"on"}, "priority": {"10"}})
		if code != http.StatusSeeOther || hdr.Get("Location") != "/mappings" {
			t.Fatalf("create mapping: %d %v", code, hdr)
		}
		_, body := h.get("/mappings", false)
		if countTestID(body, "group-mapping-row") != 1 || !strings.Contains(body, "Field staff") {
			t.Errorf("mapping list:\n%s", body)
		}
	})

	t.Run("a running preview shows its progress, not a plan", func(t *testing.T) {
		run := &model.Run{Kind: model.RunPreview, Trigger: model.TriggerAdmin, Actor: "root", SourceID: h.src.ID, Status: model.RunRunning}
		if err := h.st.CreateRun(context.Background(), run); err != nil {
			t.Fatal(err)
		}
		_, body := h.get("/sync?run="+objIDStr(run.ID), false)
		if countTestID(body, "run-progress") != 1 || !strings.Contains(body, `hx-get="/runs/`+objIDStr(run.ID)+`/progress"`) ||
			!strings.Contains(body, "Reading the directory and planning") || countTestID(body, "apply-form") != 0 || countTestID(body, "plan-summary") != 0 {
			t.Fatalf("running preview page:\n%s", body)
		}
		// Once it ended, the progress fragment asks htmx to reload the page.
		if err := h.st.SetRunStatus(context.Background(), run.ID, model.RunFailed); err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest(http.MethodGet, h.ts.URL+"/runs/"+objIDStr(run.ID)+"/progress", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("HX-Request", "true")
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("HX-Refresh") != "true" {
			t.Errorf("progress of an ended preview: %d, HX-Refresh %q", resp.StatusCode, resp.Header.Get("HX-Refresh"))
		}
	})

	t.Run("preview of an unknown source", func(t *testing.T) {
		code, _, _ := h.post("/sync/preview", url.Values{"source": {"99999"}})
		if code != http.StatusNotFound {
			t.Errorf("unknown source: status %d, want 404", code)
		}
	})

	var previewID, applyID string
	t.Run("preview shows the plan and changes nothing", func(t *testing.T) {
		code, _, hdr := h.post("/sync/preview", url.Values{"source": {srcID}})
		m := runIDRE.FindStringSubmatch(hdr.Get("Location"))
		if code != http.StatusSeeOther || m == nil {
			t.Fatalf("preview: %d %v", code, hdr)
		}
		previewID = m[1]
		// The preview plans in the background; the page follows it.
		h.sy.Wait()
		_, body := h.get("/sync?run="+previewID, false)
		if !strings.Contains(body, `data-testid="preview-status">planned<`) || countTestID(body, "apply-form") != 1 {
			t.Fatalf("sync page:\n%s", body)
		}
		if !strings.Contains(body, `data-testid="count-create_user">11<`) {
			t.Errorf("plan summary lacks 11 creates")
		}
		_, body = h.get("/sync?run="+previewID+"&shown=no", false)
		if countTestID(body, "item-row") != 1 { // user 5 is disabled in the directory
			t.Errorf("skipped filter: %d rows", countTestID(body, "item-row"))
		}
		if _, n, _ := h.st.ListUsers(context.Background(), model.UserFilter{}); n != 0 {
			t.Errorf("preview created %d users", n)
		}
	})

	t.Run("apply runs and reports", func(t *testing.T) {
		code, _, hdr := h.post("/sync/apply", url.Values{"run": {previewID}})
		m := runIDRE.FindStringSubmatch(hdr.Get("Location"))
		if code != http.StatusSeeOther || m == nil {
			t.Fatalf("apply: %d %v", code, hdr)
		}
		applyID = m[1]
		h.sy.Wait()
		_, body := h.get("/runs/"+applyID, false)
		if !strings.Contains(body, `data-testid="run-status">succeeded<`) {
			t.Fatalf("run page:\n%s", body)
		}
		if _, n, _ := h.st.ListUsers(context.Background(), model.UserFilter{}); n != 11 {
			t.Errorf("users after apply: %d, want 11", n)
		}
		_, body = h.get("/runs?kind=apply", false)
		if countTestID(body, "run-row") != 1 {
			t.Errorf("runs filtered by kind apply: %d rows", countTestID(body, "run-row"))
		}
		// Applying the same preview again is refused: it is no longer current.
		code, _, hdr = h.post("/sync/apply", url.Values{"run": {previewID}})
		if code != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/sync?run=") {
			t.Errorf("second apply: %d %v", code, hdr)
		}
	})

	t.Run("CSV and JSON report, log", func(t *testing.T) {
		code, body := h.get("/runs/"+applyID+"/report.csv", false)
		if code != http.StatusOK {
			t.Fatalf("csv: %d", code)
		}
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatalf("csv: %v", err)
		}
		items, total, _ := h.st.ListRunItems(context.Background(), mustID(t, applyID), model.RunItemFilter{})
		if len(rows) != total+1 || rows[0][0] != "seq" || rows[1][10] != items[0].Outcome {
			t.Errorf("csv: %d rows for %d items; first %v", len(rows), total, rows[:min(2, len(rows))])
		}
		code, body = h.get("/runs/"+applyID+"/report.json", false)
		var rep struct {
			Run   map[string]any `json:"run"`
			Items []reportItem   `json:"items"`
		}
		if err := json.Unmarshal([]byte(body), &rep); err != nil || code != http.StatusOK {
			t.Fatalf("json: %d %v\n%s", code, err, body)
		}
		if len(rep.Items) != total || rep.Run["status"] != "succeeded" {
			t.Errorf("json: %d items, status %v", len(rep.Items), rep.Run["status"])
		}
		code, body = h.get("/runs/"+applyID+"/log.txt", false)
		if code != http.StatusOK || !strings.Contains(body, "applied") {
			t.Errorf("log: %d %q", code, body)
		}
	})

	t.Run("refresh and why on the user page", func(t *testing.T) {
		us, _, _ := h.st.ListUsers(context.Background(), model.UserFilter{ListQuery: model.ListQuery{Search: slapdtest.Username(0)}})
		if len(us) != 1 {
			t.Fatalf("user0: %v", us)
		}
		id := objIDStr(us[0].ID)
		_, body := h.get("/users/"+id, false)
		if countTestID(body, "user-refresh") != 1 || countTestID(body, "user-why") != 1 {
			t.Fatalf("user page lacks refresh/why")
		}
		code, body := h.hxPost("/users/"+id+"/refresh", url.Values{})
		if code != http.StatusOK || !strings.Contains(body, `data-testid="refresh-status">succeeded<`) {
			t.Fatalf("refresh: %d\n%s", code, body)
		}
		code, body = h.get("/users/"+id+"/why", true)
		if code != http.StatusOK || countTestID(body, "why-group") != 1 || !strings.Contains(body, "Field staff") {
			t.Errorf("why: %d\n%s", code, body)
		}
	})
}

func TestReconcileAndProgressPages(t *testing.T) {
	h := newSyncHarness(t)
	code, _, hdr := h.post("/devices/reconcile", url.Values{})
	m := runIDRE.FindStringSubmatch(hdr.Get("Location"))
	if code != http.StatusSeeOther || m == nil {
		t.Fatalf("reconcile preview: %d %v", code, hdr)
	}
	code, body := h.get("/devices/reconcile?run="+m[1], false)
	if code != http.StatusOK || !strings.Contains(body, `data-testid="preview-status">planned<`) {
		t.Fatalf("reconcile page: %d\n%s", code, body)
	}
	code, _, hdr = h.post("/devices/reconcile/apply", url.Values{"run": {m[1]}})
	a := runIDRE.FindStringSubmatch(hdr.Get("Location"))
	if code != http.StatusSeeOther || a == nil || !strings.HasPrefix(hdr.Get("Location"), "/runs/") {
		t.Fatalf("reconcile apply: %d %v", code, hdr)
	}
	h.sy.Wait()
	code, body = h.get("/runs/"+a[1]+"/progress", true)
	if code != http.StatusOK || countTestID(body, "run-progress") != 1 || strings.Contains(body, "hx-trigger") {
		t.Errorf("progress of a finished run: %d\n%s", code, body)
	}
	// A finished run cannot be cancelled; an unknown one is a 404.
	if code, _, _ := h.post("/runs/"+a[1]+"/cancel", url.Values{}); code != http.StatusNotFound {
		t.Errorf("cancel finished run: %d, want 404", code)
	}
	if code, _ := h.get("/runs/999999", false); code != http.StatusNotFound {
		t.Errorf("unknown run: %d, want 404", code)
	}
}

func mustID(t *testing.T, s string) int64 {
	t.Helper()
	var id int64
	for _, c := range s {
		id = id*10 + int64(c-'0')
	}
	return id
}
