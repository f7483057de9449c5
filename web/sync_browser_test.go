package web

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/idsync/idsync/internal/auth"
	"github.com/idsync/idsync/internal/directory/memldap"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

// The browser sync test's directory: a few people, a nested provisioning
// group and a team group.
const (
	acmeBase   = "dc=acme,dc=test"
	acmePeople = "ou=people," + acmeBase
	acmeGroups = "ou=groups," + acmeBase
	acmeBindDN = "cn=reader,ou=system," + acmeBase
	acmeBindPW = "reader-pw"
	acmeAll    = "cn=all-staff," + acmeGroups   // field-staff + office
	acmeField  = "cn=field-staff," + acmeGroups // alice, bob, erin (+ grace later)
)

// acmePerson is one person of the test directory; team is "field",
// "office" or "" (only in the contractors group).
type acmePerson struct {
	n              int
	uid, name      string
	team           string
	disabled       bool
	addedLater     bool   // in version 1 on
	renamedLater   string // display name from version 1 on
	disabledLatest bool   // locked in version 2
}

var acmeStaff = []acmePerson{
	{n: 1, uid: "alice", name: "Alice Archer", team: "field", renamedLater: "Alice Archer-Smith"},
	{n: 2, uid: "bob", name: "Bob Baker", team: "field"},
	{n: 3, uid: "carol", name: "Carol Cook", team: "office"},
	{n: 4, uid: "dave", name: "Dave Dyer", team: "office"},
	{n: 5, uid: "erin", name: "Erin East", team: "field", disabled: true},
	{n: 6, uid: "frank", name: "Frank Ford"},
	{n: 7, uid: "grace", name: "Grace Green", team: "field", addedLater: true, disabledLatest: true},
}

// acmeEntries is the directory at version v: 0 at the start; 1 after
// alice was renamed and grace joined the field staff; 2 when grace's
// account was locked too.
// stableNum is a number derived from s alone.
func stableNum(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64() & 0xffffffffffff
}

func acmeEntries(v int) []memldap.Entry {
	es := []memldap.Entry{
		{DN: acmeBase, Attrs: map[string][]string{"objectClass": {"top", "dcObject", "organization"}, "dc": {"acme"}, "o": {"Acme"}}},
		{DN: acmePeople, Attrs: map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"people"}}},
		{DN: acmeGroups, Attrs: map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"groups"}}},
		{DN: acmeBindDN, Attrs: map[string][]string{"objectClass": {"person"}, "cn": {"reader"}, "sn": {"reader"}}},
	}
	members := map[string][]string{}
	for _, p := range acmeStaff {
		if p.addedLater && v < 1 {
			continue
		}
		name := p.name
		if p.renamedLater != "" && v >= 1 {
			name = p.renamedLater
		}
		dn := "uid=" + p.uid + "," + acmePeople
		attrs := map[string][]string{
			"objectClass": {"top", "person", "organizationalPerson", "inetOrgPerson"},
			"uid":         {p.uid}, "cn": {name}, "sn": {p.uid}, "displayName": {name}, // sn (family name) stays on a rename
			"mail":      {p.uid + "@acme.test"},
			"entryUUID": {fmt.Sprintf("00000000-0000-4000-8000-%012d", p.n)},
		}
		if p.disabled || (p.disabledLatest && v >= 2) {
			attrs["pwdAccountLockedTime"] = []string{"20260101000000Z"}
		}
		es = append(es, memldap.Entry{DN: dn, Attrs: attrs})
		team := p.team
		if team == "" {
			team = "contractors"
		}
		members[team] = append(members[team], dn)
	}
	group := func(cn string, member []string) {
		es = append(es, memldap.Entry{DN: "cn=" + cn + "," + acmeGroups, Attrs: map[string][]string{
			"objectClass": {"top", "groupOfNames"}, "cn": {cn}, "member": member,
			// Stable per group (as in a real directory): a mapping keeps
			// its group's entryUUID from one version to the next.
			"entryUUID": {"10000000-0000-4000-8000-" + fmt.Sprintf("%012x", stableNum(cn))}}})
	}
	group("field-staff", members["field"])
	group("office", members["office"])
	group("contractors", members["contractors"])
	group("all-staff", []string{acmeField, "cn=office," + acmeGroups})
	return es
}

// ldapSwitch is a TCP relay in front of the test directories: every new
// connection goes to the directory chosen last, so the test can change
// the directory under a registered source.
type ldapSwitch struct {
	ln     net.Listener
	target atomic.Value // host:port
}

func startLDAPSwitch(t *testing.T, target string) *ldapSwitch {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &ldapSwitch{ln: ln}
	s.use(target)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.relay(c)
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return s
}

// use sends the next connections to the directory at url (ldap://host:port).
func (s *ldapSwitch) use(url string) { s.target.Store(strings.TrimPrefix(url, "ldap://")) }

func (s *ldapSwitch) URL() string { return "ldap://" + s.ln.Addr().String() }

func (s *ldapSwitch) relay(c net.Conn) {
	defer c.Close()
	d, err := net.Dial("tcp", s.target.Load().(string))
	if err != nil {
		return
	}
	defer d.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(d, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, d); done <- struct{}{} }()
	<-done
}

// selectValue sets a select's value as a person picking an option does
// (with the change event htmx listens to).
func selectValue(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		b, _ := json.Marshal(sel)
		v, _ := json.Marshal(value)
		ok, err := chromedp.Evaluate[bool](`(function(){
			var el = document.querySelector(`+string(b)+`);
			if (el === null) return false;
			el.value = `+string(v)+`;
			el.dispatchEvent(new Event("change", {bubbles: true}));
			return el.value === `+string(v)+`;
		})()`)(ctx, tg)
		if err == nil && !ok {
			err = fmt.Errorf("select %s: no option %q", sel, value)
		}
		return err
	})
}

// TestBrowserSyncFlow drives chromium through a sync as an administrator
// does it: map directory groups with the picker, preview and filter the
// plan, apply it and follow it to the end, download the reports, refresh
// one user and ask why, and be refused a preview the directory outdated.
func TestBrowserSyncFlow(t *testing.T) {
	requireChromium(t)
	bg := context.Background()
	st := storetest.Open(t, store.DialectSQLite)
	dctx, stopDirs := context.WithCancel(bg)
	t.Cleanup(stopDirs)
	var dirs []*memldap.Server
	for v := range 3 {
		d, err := memldap.Start(dctx, acmeEntries(v), memldap.Options{BindDN: acmeBindDN, Password: acmeBindPW,
			Operational: []string{"entryUUID", "pwdAccountLockedTime"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.Close() })
		dirs = append(dirs, d)
	}
	sw := startLDAPSwitch(t, dirs[0].URL())

	ctx := model.WithActor(bg, "test")
	src := model.DefaultSource(model.SourceOpenLDAP)
	src.Name, src.URLs = "Acme directory", []string{sw.URL()}
	src.BindDN, src.BindPassword = acmeBindDN, acmeBindPW
	src.UserBaseDN, src.GroupBaseDN = acmePeople, acmeGroups
	src.Timeout = 10 * time.Second
	src.Attributes.Disabled = "pwdAccountLockedTime"
	if err := st.CreateSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	sg := &model.ServiceGroup{Name: "Field staff"}
	if err := st.CreateServiceGroup(ctx, sg); err != nil {
		t.Fatal(err)
	}
	hash, err := auth.HashPasswordParams(schedPassword, schedTestParams)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAdmin(ctx, &model.Admin{Username: "ada", PasswordHash: hash, Role: model.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	srv, _ := newSyncServer(t, st)
	base := serveForBrowser(t, srv)

	b := newBrowserTab(t, 4*time.Minute)
	step, eval, waitJS := b.step, b.eval, b.waitJS
	text := func(sel string) string {
		t.Helper()
		return strings.TrimSpace(b.value("text of "+sel, chromedp.TextContent(chromedp.CSS(sel))))
	}
	// texts lists the trimmed text of every element sel matches.
	texts := func(sel string) string {
		t.Helper()
		q, _ := json.Marshal(sel)
		return eval(`Array.from(document.querySelectorAll(` + string(q) + `)).map(function(e){ return e.textContent.trim().replace(/\s+/g, " "); }).join("\n")`)
	}
	// cells lists, per row sel matches, its cells' text joined by " | ".
	cells := func(sel string) string {
		t.Helper()
		q, _ := json.Marshal(sel)
		return eval(`Array.from(document.querySelectorAll(` + string(q) + `)).map(function(r){
			return Array.from(r.children).map(function(c){ return c.textContent.trim().replace(/\s+/g, " "); }).join(" | ");
		}).join("\n")`)
	}
	count := func(sel string) string {
		t.Helper()
		q, _ := json.Marshal(sel)
		return eval(`String(document.querySelectorAll(` + string(q) + `).length)`)
	}
	users := func() []string {
		t.Helper()
		us, _, err := st.ListUsers(bg, model.UserFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, u := range us {
			names = append(names, u.Username)
		}
		slices.Sort(names)
		return names
	}

	b.signIn(base, "ada", schedPassword, `[data-testid="whoami"]`)

	// 2. Mappings, with the directory group picked through the search.
	step("open the mappings page",
		chromedp.Navigate(base+"/mappings"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="mappings-page"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="provisioning-mapping-form"] [data-testid="group-search"]`), "staff"),
		chromedp.WaitVisible(chromedp.CSS(`#p-picker-results [data-testid="picker-choice"]`)),
	)
	if got := texts(`#p-picker-results [data-testid="picker-choice"] strong`); got != "all-staff\nfield-staff" {
		t.Errorf("picker offers %q, want all-staff and field-staff", got)
	}
	step("add the provisioning mapping",
		chromedp.Click(chromedp.CSS(`#p-picker-results input[value="`+acmeAll+`"]`)),
		selectValue(`[data-testid="provisioning-mapping-form"] [data-testid="field-account_type"]`, string(model.AccountDeviceEnabled)),
		chromedp.Click(chromedp.CSS(`[data-testid="provisioning-mapping-save"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="provisioning-mapping-row"]`)),
	)
	if got := text(`[data-testid="flash"]`); got != "Provisioning mapping added." {
		t.Errorf("flash after the provisioning mapping = %q", got)
	}
	step("add the group mapping",
		chromedp.SendKeys(chromedp.CSS(`[data-testid="group-mapping-form"] [data-testid="group-search"]`), "field"),
		chromedp.WaitVisible(chromedp.CSS(`#g-picker-results input[value="`+acmeField+`"]`)),
		chromedp.Click(chromedp.CSS(`#g-picker-results input[value="`+acmeField+`"]`)),
		selectValue(`[data-testid="group-mapping-form"] [data-testid="field-service_group_id"]`, objIDStr(sg.ID)),
		chromedp.Click(chromedp.CSS(`[data-testid="group-mapping-save"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="group-mapping-row"]`)),
	)
	if got := texts(`[data-testid="provisioning-mapping-row"] td`); !strings.HasPrefix(got, "100\n"+acmeAll+"\nProvision user as device-enabled\nyes") {
		t.Errorf("provisioning mappings list:\n%s", got)
	}
	if got := texts(`[data-testid="group-mapping-row"] td`); !strings.HasPrefix(got, "100\n"+acmeField+"\nField staff\nyes\nno") {
		t.Errorf("group mappings list:\n%s", got)
	}

	// 3. Preview: the plan by phase, filters, the changes not made.
	step("preview",
		chromedp.Navigate(base+"/sync"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="preview-form"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="preview"]`)),
		// The preview plans in the background: the page shows its progress,
		// then reloads with the plan.
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="plan-summary"]`)),
	)
	previewURL := b.value("preview location", chromedp.Location())
	if got := text(`[data-testid="preview-status"]`); got != "planned" {
		t.Fatalf("preview status = %q, want planned", got)
	}
	if got := cells(`[data-testid="summary-row"]`); got != "Provisioning | create user | 4 | 2\nService groups | add to service group | 2 | 0" {
		t.Errorf("plan summary:\n%s", got)
	}
	if a, s := text(`[data-testid="preview-actions"]`), text(`[data-testid="preview-skipped"]`); a != "6" || s != "2" {
		t.Errorf("preview counts: %s changes, %s not performed; want 6 and 2", a, s)
	}
	if got := texts(`[data-testid="item-user"]`); got != "alice\nbob\ncarol\ndave\nalice\nbob\nerin\nfrank" {
		t.Errorf("plan users:\n%s", got)
	}
	b.markPage()
	step("show only what is not performed",
		selectValue(`#plan-items [data-testid="filter-shown"]`, "no"),
	)
	waitJS("the skipped changes", `String(document.querySelectorAll('#plan-items [data-testid="item-row"]').length === 2 &&
		document.querySelectorAll('#plan-items [data-testid="item-row"].skipped').length === 2)`)
	if got := texts(`#plan-items [data-testid="item-user"]`) + "\n" + texts(`#plan-items [data-testid="item-reason"]`); got !=
		"erin\nfrank\ndisabled in the directory: not added\nno matching account and not in any provisioning-mapped directory group: not added" {
		t.Errorf("skipped changes:\n%s", got)
	}
	eval(`document.querySelector('#plan-items [data-testid="filter-shown"]').value = ""; ""`)
	step("and only service group changes",
		selectValue(`#plan-items [data-testid="filter-kind"]`, string(model.ActAddServiceGroup)),
	)
	waitJS("the service group changes", `String(document.querySelectorAll('#plan-items [data-testid="item-row"]').length === 2 &&
		document.querySelectorAll('#plan-items [data-testid="item-row"].skipped').length === 0)`)
	if got := texts(`#plan-items [data-testid="item-kind"]`); got != "add to service group\nadd to service group" {
		t.Errorf("kind filter rows:\n%s", got)
	}
	if !b.stayed() {
		t.Errorf("filtering the plan reloaded the page")
	}
	if loc := b.value("filtered location", chromedp.Location()); !strings.Contains(loc, "kind=add_service_group") {
		t.Errorf("filtered plan URL = %s, want the kind kept", loc)
	}
	if u := users(); len(u) != 0 {
		t.Fatalf("the preview created users: %v", u)
	}

	// 4. Apply and follow the run to its end; both runs listed; reports.
	step("apply",
		chromedp.Click(chromedp.CSS(`[data-testid="apply"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="run-page"]`)),
	)
	applyURL := b.value("run location", chromedp.Location())
	waitJS("the run to succeed", `String(document.querySelector('[data-testid="run-status"]') !== null &&
		document.querySelector('[data-testid="run-status"]').textContent.trim() === "succeeded")`)
	if got := text(`[data-testid="run-done"]`); got != "6 of 6 actions" {
		t.Errorf("run progress = %q, want 6 of 6 actions", got)
	}
	if got := text(`[data-testid="run-users-changed"]`); !strings.HasPrefix(got, "4 ") {
		t.Errorf("users changed = %q, want 4", got)
	}
	if got := strings.Join(users(), ","); got != "alice,bob,carol,dave" {
		t.Errorf("users after apply = %s, want alice,bob,carol,dave", got)
	}
	applyID := applyURL[strings.LastIndex(applyURL, "/")+1:]
	step("the runs list",
		chromedp.Navigate(base+"/runs"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="runs-table"]`)),
	)
	if got := texts(`[data-testid="run-kind"]`) + "\n" + texts(`[data-testid="run-row"] [data-testid="run-status"]`); got != "apply\npreview\nsucceeded\napplied" {
		t.Errorf("runs list (kinds, statuses):\n%s", got)
	}
	fetch := func(path string) (int, string, string) {
		t.Helper()
		q, _ := json.Marshal(path)
		v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`fetch(`+string(q)+`).then(function(r){
			return r.text().then(function(t){ return r.status + "\n" + r.headers.get("Content-Type") + "\n" + t; });
		})`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("fetch %s: %v", path, err)
		}
		parts := strings.SplitN(v, "\n", 3)
		if len(parts) != 3 {
			t.Fatalf("fetch %s: %q", path, v)
		}
		code, _ := strconv.Atoi(parts[0])
		return code, parts[1], parts[2]
	}
	code, ctype, body := fetch("/runs/" + applyID + "/report.csv")
	if code != 200 || !strings.HasPrefix(ctype, "text/csv") || !strings.HasPrefix(body, strings.Join(reportColumns, ",")+"\n") ||
		!strings.Contains(body, ",provisioning,create_user,true,") || !strings.Contains(body, ",alice,") {
		t.Errorf("report.csv: %d %s\n%s", code, ctype, body)
	}
	code, ctype, body = fetch("/runs/" + applyID + "/report.json")
	var rep struct {
		Run   map[string]any `json:"run"`
		Items []reportItem   `json:"items"`
	}
	if err := json.Unmarshal([]byte(body), &rep); err != nil || code != 200 || ctype != "application/json" {
		t.Fatalf("report.json: %d %s %v\n%s", code, ctype, err, body)
	}
	created := map[string]bool{}
	for _, it := range rep.Items {
		if it.Kind == string(model.ActCreateUser) && it.Performed {
			created[it.Username] = true
		}
	}
	if rep.Run["status"] != "succeeded" || len(rep.Items) != 8 || !created["alice"] || len(created) != 4 {
		t.Errorf("report.json: status %v, %d items, created %v", rep.Run["status"], len(rep.Items), created)
	}

	// 5. One user: refresh after the directory changed, then "Why?".
	sw.use(dirs[1].URL()) // alice renamed, grace joined the field staff
	step("open alice from the run",
		chromedp.Navigate(applyURL+"?kind=create_user&q=alice"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="item-user"] a`)),
		chromedp.Click(chromedp.CSS(`[data-testid="item-user"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-page"]`)),
	)
	if got := text(`[data-testid="user-title"]`); got != "alice" {
		t.Fatalf("user page of %q, want alice", got)
	}
	b.markPage()
	step("refresh alice",
		chromedp.Click(chromedp.CSS(`[data-testid="user-refresh"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="refresh-report"]`)),
	)
	if s, sum := text(`[data-testid="refresh-status"]`), text(`[data-testid="refresh-summary"]`); s != "succeeded" || sum != "1 change applied." {
		t.Errorf("refresh report: %q %q\n%s", s, sum, texts(`[data-testid="refresh-item"]`))
	}
	if got := texts(`[data-testid="refresh-item"]`); !strings.Contains(got, "update user") || !strings.Contains(got, `"Alice Archer" → "Alice Archer-Smith"`) {
		t.Errorf("refresh items:\n%s", got)
	}
	step("why?",
		chromedp.Click(chromedp.CSS(`[data-testid="user-why"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="why-panel"]`)),
	)
	if got := texts(`[data-testid="why-provisioning"]`); got != "Provision user as device-enabled via "+acmeAll+" → "+acmeField {
		t.Errorf("why provisioning:\n%s", got)
	}
	if got := texts(`[data-testid="why-group"]`); !strings.HasPrefix(got, "Field staff (priority 100) via "+acmeField) {
		t.Errorf("why service groups:\n%s", got)
	}
	if got := text(`[data-testid="why-in-step"]`); got != "The next sync changes nothing for this user." {
		t.Errorf("why next sync = %q", got)
	}
	if !b.stayed() {
		t.Errorf("refresh or why reloaded the user page")
	}

	// 6. A preview the directory outdated is refused, and nothing applied.
	step("preview again",
		chromedp.Navigate(base+"/sync"),
		chromedp.Click(chromedp.CSS(`[data-testid="preview"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="apply-form"]`)),
	)
	if loc := b.value("second preview", chromedp.Location()); loc == previewURL {
		t.Fatalf("the second preview shows the first one (%s)", loc)
	}
	if got := cells(`[data-testid="summary-row"]`); !strings.HasPrefix(got, "Provisioning | create user | 1 | 2\nService groups | add to service group | 1 | 0") {
		t.Errorf("second plan summary:\n%s", got)
	}
	sw.use(dirs[2].URL()) // grace's account locked since
	step("apply the outdated preview",
		chromedp.Click(chromedp.CSS(`[data-testid="apply"]`)),
		// The refusal, or (wrongly) the started run's page.
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="flash"], [data-testid="run-page"]`)),
	)
	if loc := b.value("after the refused apply", chromedp.Location()); !strings.Contains(loc, "/sync?run=") {
		t.Fatalf("applying the outdated preview went to %s, want back to the preview", loc)
	}
	if got := text(`[data-testid="flash"]`); !strings.HasPrefix(got, "The plan would differ from this preview (") || !strings.HasSuffix(got, ") — preview again.") {
		t.Errorf("stale apply message = %q", got)
	}
	if n := count(`.flash-error[data-testid="flash"]`); n != "1" {
		t.Errorf("the stale apply message is not shown as an error (%s .flash-error)", n)
	}
	if got := text(`[data-testid="preview-status"]`); got != "stale" {
		t.Errorf("outdated preview status = %q, want stale", got)
	}
	if n := count(`[data-testid="apply-form"]`); n != "0" {
		t.Errorf("the outdated preview still offers apply")
	}
	if got := strings.Join(users(), ","); got != "alice,bob,carol,dave" {
		t.Errorf("users after the refused apply = %s, want alice,bob,carol,dave", got)
	}
	if _, _, n, err := st.ListServiceGroupMembers(bg, sg.ID, model.ListQuery{}); err != nil || n != 2 {
		t.Errorf("Field staff members after the refused apply: %d (%v), want 2", n, err)
	}
}
