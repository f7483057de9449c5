package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/model"
)

func (c *platClient) upload(kind, content string) platResp {
	c.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.WriteField("_csrf", c.csrf())
	_ = mw.WriteField("kind", kind)
	fw, _ := mw.CreateFormFile("file", kind+".csv")
	_, _ = fw.Write([]byte(content))
	_ = mw.Close()
	req, _ := http.NewRequest("POST", c.e.ts.URL+"/import/preview", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(res.Body)
	return platResp{status: res.StatusCode, header: res.Header, body: out.String()}
}

var previewIDRE = regexp.MustCompile(`name="preview" value="([^"]+)"`)

func TestCSVImport(t *testing.T) {
	for _, dialect := range apiDialects {
		t.Run(dialect, func(t *testing.T) { testCSVImport(t, dialect) })
	}
}

func testCSVImport(t *testing.T, dialect string) {
	w := newParityWorld(t, dialect)
	e, br := w.e, w.browser
	ctx := context.Background()
	// Template.
	if r := br.get("/import/template/devices.csv"); r.status != 200 || !strings.HasPrefix(r.body, "serial,name,platform,user,location") {
		t.Errorf("devices template: %d %q", r.status, r.body)
	}
	// Bad files: a precise message, nothing stored.
	for _, tc := range []struct{ name, kind, body, want string }{
		{"bad header", "devices", "serial,colour\nSN-1,red\n", `Line 1, column 2: &#34;colour&#34; is not a column`},
		{"no key column", "devices", "name\nX\n", `needs a &#34;serial&#34; column`},
		{"byte-order mark", "devices", "\xef\xbb\xbfserial,name\nSN-1,X\n", "byte-order mark"},
		{"semicolons", "devices", "serial;name\nSN-1;X\n", "semicolons"},
		{"bad row", "devices", "serial,name\nSN-1,X\nSN-2\n", "Line 3: wrong number of fields"},
		{"bad quote", "devices", "serial,name\nSN-1,\"X\n", "Line 2"},
		{"10,001 rows", "devices", "serial\n" + strings.Repeat("SN-X\n", 10001), "more than 10000 lines"},
	} {
		r := br.upload(tc.kind, tc.body)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, tc.want) {
			t.Errorf("%s: %d, want 422 with %q; body %.2000s", tc.name, r.status, tc.want, pageText(r.body))
		}
	}
	// Line errors: shown with their lines, apply refused.
	r := br.upload("devices", "serial,name,user\nSN-1,,nobody\nSN-9,,\nSN-1,,\n")
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "user nobody does not exist") ||
		!strings.Contains(r.body, "name is required to create a device") || !strings.Contains(r.body, "also appears on line 2") {
		t.Errorf("line errors: %d %s", r.status, pageText(r.body))
	}
	if strings.Contains(r.body, "import-apply-form") {
		t.Error("a preview with errors offers to apply")
	}
	before := w.dump(t)
	// A good file: the preview says exactly what changes; apply does it.
	good := "serial,name,platform,location,user\nSN-1,,Windows,Munich,-\nSN-NEW,TABLET-2,iOS,Paris,ulla\nSN-NOP,,,,\n"
	good = strings.Replace(good, "SN-NOP,,,,\n", "", 1)
	r = br.upload("devices", good)
	if r.status != 200 || !strings.Contains(r.body, "1 to create, 1 to change, 0 unchanged, 0 with errors") ||
		!strings.Contains(r.body, "platform: Linux → Windows") || !strings.Contains(r.body, "location: Berlin → Munich") || !strings.Contains(r.body, "user: ulla → -") {
		t.Fatalf("preview: %d %s", r.status, pageText(r.body))
	}
	if w.dump(t) != before {
		t.Fatal("the preview changed the database")
	}
	id := previewIDRE.FindStringSubmatch(r.body)
	if id == nil {
		t.Fatal("no apply form")
	}
	// Something changes meanwhile: "preview again", nothing applied.
	if err := e.st.AssignDevice(ctx, w.device, w.user); err != nil {
		t.Fatal(err)
	}
	d, _ := e.st.GetDevice(ctx, w.device)
	d.Platform = "Plan 9"
	if err := e.st.UpdateDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	mid := w.dump(t)
	r = br.post("/import/apply", map[string][]string{"_csrf": {br.csrf()}, "preview": {id[1]}})
	if r.status != http.StatusConflict && r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "preview again") {
		t.Errorf("apply of a stale preview: %d %s", r.status, pageText(r.body))
	}
	if w.dump(t) != mid {
		t.Error("a stale apply changed the database")
	}
	r = br.upload("devices", good)
	id = previewIDRE.FindStringSubmatch(r.body)
	if id == nil {
		t.Fatalf("second preview: %s", pageText(r.body))
	}
	r = br.post("/import/apply", map[string][]string{"_csrf": {br.csrf()}, "preview": {id[1]}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("apply: %d %s", r.status, pageText(r.body))
	}
	d, _ = e.st.GetDevice(ctx, w.device)
	if d.Platform != "Windows" || d.Attributes["location"] != "Munich" || d.UserID != 0 {
		t.Errorf("after apply: %+v", d)
	}
	devs, _ := e.st.DevicesBySerials(ctx, []string{"SN-NEW"})
	if n := devs["sn-new"]; n == nil || n.UserID != w.user || n.Attributes["location"] != "Paris" {
		t.Errorf("created device: %+v", n)
	}
	// The same preview cannot be applied twice.
	r = br.post("/import/apply", map[string][]string{"_csrf": {br.csrf()}, "preview": {id[1]}})
	if r.status != http.StatusUnprocessableEntity {
		t.Errorf("second apply of one preview: %d", r.status)
	}
	// Users: update, create, service group by name.
	r = br.upload("users", "username,email,location,service_group\nulla,,Rome,Sales\nnina,nina@example.com,Oslo,\n")
	id = previewIDRE.FindStringSubmatch(r.body)
	if r.status != 200 || id == nil || !strings.Contains(r.body, "service_group: (empty) → Sales") {
		t.Fatalf("users preview: %d %s", r.status, pageText(r.body))
	}
	if r = br.post("/import/apply", map[string][]string{"_csrf": {br.csrf()}, "preview": {id[1]}}); r.status != http.StatusSeeOther {
		t.Fatalf("users apply: %d %s", r.status, pageText(r.body))
	}
	u, _ := e.st.GetUser(ctx, w.user)
	gs, _, _ := e.st.UserServiceGroups(ctx, w.user)
	if u.Attributes["location"] != "Rome" || len(gs) != 1 || gs[0].Name != "Sales" {
		t.Errorf("ulla after import: %v %v", u.Attributes, gs)
	}
	if us, _ := e.st.UsersByUsernames(ctx, []string{"nina"}); us["nina"] == nil {
		t.Error("nina was not created")
	}
	// An auditor may not import.
	e.createAdmin("audra", model.RoleAuditor)
	ab := e.client()
	ab.login("audra")
	if r := ab.upload("users", "username\nzed\n"); r.status != http.StatusForbidden {
		t.Errorf("auditor import: %d", r.status)
	}
}

// TestCSVExport: the users export holds every user, escaped against CSV
// injection; devices, memberships and the audit log export too.
func TestCSVExport(t *testing.T) {
	w := newParityWorld(t, "sqlite")
	ctx := context.Background()
	evil := &model.User{Username: "mallory", Email: "m@example.com", DisplayName: "=HYPERLINK(\"x\")"}
	if err := w.e.st.CreateUser(ctx, evil); err != nil {
		t.Fatal(err)
	}
	r := w.browser.get("/users/export.csv")
	recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if r.status != 200 || err != nil || len(recs) != 3 {
		t.Fatalf("users export: %d %v %d records", r.status, err, len(recs))
	}
	if recs[0][1] != "username" || recs[2][3] != "'=HYPERLINK(\"x\")" {
		t.Errorf("users export rows: %q", recs)
	}
	for _, p := range []string{"/devices/export.csv", "/memberships/export.csv", "/audit/export.csv"} {
		r := w.browser.get(p)
		recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
		if r.status != 200 || err != nil || len(recs) < 1 {
			t.Errorf("%s: %d %v", p, r.status, err)
		}
	}
	if r := w.browser.get("/devices/export.csv"); !strings.Contains(r.body, "LAPTOP-1,SN-1,Linux") {
		t.Errorf("devices export: %s", r.body)
	}
}

var tagRE = regexp.MustCompile(`<[^>]+>`)

func pageText(html string) string {
	s := tagRE.ReplaceAllString(html, " ")
	if i := strings.Index(s, "Import and export"); i > 0 {
		s = s[i:]
	}
	if len(s) > 1500 {
		s = s[:1500]
	}
	return strings.Join(strings.Fields(s), " ")
}
