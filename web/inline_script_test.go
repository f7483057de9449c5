package web

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/config"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store/storetest"
)

var (
	// templ escapes < > " in attribute values, so a tag ends at the first >.
	htmlTagRE  = regexp.MustCompile(`(?s)<([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)/?>`)
	htmlAttrRE = regexp.MustCompile(`(?s)\s([^\s=/>"']+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?`)
	scriptRE   = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
)

// inlineScriptProblems lists what the CSP would block or what would run
// script from the markup itself: on…= handlers, hx-on, javascript: URLs,
// inline <script> bodies; and password inputs without an autocomplete hint.
func inlineScriptProblems(body string) []string {
	var out []string
	for _, m := range scriptRE.FindAllStringSubmatch(body, -1) {
		if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
			out = append(out, "inline <script>: "+trim(m[0]))
		}
	}
	for _, tag := range htmlTagRE.FindAllStringSubmatch(body, -1) {
		attrs := map[string]string{}
		for _, a := range htmlAttrRE.FindAllStringSubmatch(tag[2], -1) {
			name := strings.ToLower(a[1])
			val := strings.Trim(a[2], `"'`)
			attrs[name] = val
			switch {
			case strings.HasPrefix(name, "on"), strings.HasPrefix(name, "hx-on"), strings.HasPrefix(name, "data-hx-on"):
				out = append(out, fmt.Sprintf("event handler %s= on <%s>", name, tag[1]))
			case (name == "href" || name == "src" || name == "action" || name == "formaction") &&
				strings.HasPrefix(strings.ToLower(strings.TrimSpace(val)), "javascript:"):
				out = append(out, fmt.Sprintf("javascript: URL in %s on <%s>", name, tag[1]))
			}
		}
		if strings.EqualFold(tag[1], "input") && attrs["type"] == "password" && attrs["autocomplete"] == "" {
			out = append(out, "password input without autocomplete: "+trim(tag[0]))
		}
	}
	return out
}

func trim(s string) string {
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}

func TestInlineScriptScanner(t *testing.T) {
	for in, want := range map[string]int{
		`<button onclick="x()">`:                              1,
		`<div hx-on:click="x()">`:                             1,
		`<a href="javascript:alert(1)">`:                      1,
		`<script>alert(1)</script>`:                           1,
		`<script src="/static/js/app.js" defer></script>`:     0,
		`<input type="password" name="p">`:                    1,
		`<input type="password" autocomplete="new-password">`: 0,
		`<p>turn on="later" in text</p>`:                      0,
		`<input data-select-all="user_id" type="checkbox"/>`:  0,
	} {
		if got := len(inlineScriptProblems(in)); got != want {
			t.Errorf("%s: %d problems, want %d", in, got, want)
		}
	}
}

// TestNoInlineScriptOnAnyPage renders every GET page (seeded so that the
// :id pages show real objects), as an admin and as an htmx fragment, plus
// the anonymous pages, and fails on anything the CSP would block.
func TestNoInlineScriptOnAnyPage(t *testing.T) {
	e := newPlatEnv(t, func(_ *config.Config, d *Deps) { d.SetupToken = "setup-token-for-test" })
	ctx := model.WithActor(context.Background(), "test")
	anon := e.client()
	pages := 0
	check := func(who, path string, r platResp) {
		t.Helper()
		if !strings.Contains(r.header.Get("Content-Type"), "text/html") {
			return
		}
		pages++
		for _, p := range inlineScriptProblems(r.body) {
			t.Errorf("%s %s (%d): %s", who, path, r.status, p)
		}
	}
	check("anonymous", "/login", anon.get("/login"))
	check("anonymous", "/setup", anon.get("/setup?token=setup-token-for-test"))

	storetest.Seed(t, e.st, 3, 2)
	e.createAdmin("root", model.RoleAdmin)
	src := model.DefaultSource(model.SourceOpenLDAP)
	src.Name, src.URLs, src.BindDN, src.BindPassword = "corp", []string{"ldap://127.0.0.1:1"}, "cn=sync,dc=example,dc=org", "pw"
	src.UserBaseDN, src.GroupBaseDN = "ou=people,dc=example,dc=org", "ou=groups,dc=example,dc=org"
	p := &model.Product{Name: "Portal", Kind: model.ProductSCIM, BaseURL: "http://127.0.0.1:1/scim/v2", Secret: "tok", AllUsers: true,
		Enabled: true, MaxConcurrency: 1, AttributeMap: map[string]string{}}
	run := &model.Run{Kind: model.RunPreview, Trigger: model.TriggerAdmin, Status: model.RunPlanned, StartedAt: time.Now().UTC()}
	for what, err := range map[string]error{
		"source":        e.st.CreateSource(ctx, &src),
		"product":       e.st.CreateProduct(ctx, p),
		"service group": e.st.CreateServiceGroup(ctx, &model.ServiceGroup{Name: "Sales"}),
		"profile":       e.st.CreateProfile(ctx, &model.Profile{Name: "Laptops"}),
		"run":           e.st.CreateRun(ctx, run),
	} {
		if err != nil {
			t.Fatalf("seed %s: %v", what, err)
		}
	}
	admin := e.client()
	admin.login("root")
	ok := 0
	for _, r := range e.srv.Echo().Routes() {
		if r.Method != http.MethodGet || r.Path == "/static/*" || r.Path == "/metrics" || r.Method == echo.RouteNotFound {
			continue
		}
		path := concretePath(r.Path)
		if strings.HasSuffix(r.Path, "/new") && strings.HasPrefix(r.Path, "/sources") {
			path += "?kind=ad"
		}
		res := admin.get(path)
		if res.status == http.StatusOK {
			ok++
		}
		check("admin", path, res)
		check("admin htmx", path, admin.do(http.MethodGet, path, nil, map[string]string{"HX-Request": "true"}))
	}
	if ok < 20 || pages < 40 {
		t.Fatalf("only %d pages rendered with 200 (%d HTML responses checked): the walk is not seeing the pages", ok, pages)
	}
	t.Logf("%d HTML responses checked, %d GET routes answered 200", pages, ok)
	// Secrets are never offered the console password by the browser.
	for path, field := range map[string]string{"/products/1/edit": "secret", "/sources/1": "bind_password"} {
		body := admin.get(path).body
		tag := regexp.MustCompile(`<input[^>]*name="` + field + `"[^>]*>`).FindString(body)
		if !strings.Contains(tag, `autocomplete="new-password"`) {
			t.Errorf("%s: the %s field %q lacks autocomplete=\"new-password\"", path, field, tag)
		}
	}
}

// TestBrowserSelectAll: the users list's "Select all" box, wired by
// static/js/app.js, checks every user of the page in Chromium (the CSP
// blocks inline handlers), and unchecking one leaves it indeterminate.
func TestBrowserSelectAll(t *testing.T) {
	requireChromium(t)
	e := newPlatEnv(t, nil)
	storetest.Seed(t, e.st, 5, 0)
	e.createAdmin("root", model.RoleAdmin)
	base := serveForBrowser(t, e.srv)
	b := newBrowserTab(t, 90*time.Second)
	b.signIn(base, "root", platPassword, `[data-testid="whoami"]`)
	const checked = `String(document.querySelectorAll('input[name="user_id"]:checked').length)`
	const total = `String(document.querySelectorAll('input[name="user_id"]').length)`
	b.step("users page", chromedp.Navigate(base+"/users"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="select-all"]`)))
	if n := b.eval(total); n != "5" {
		t.Fatalf("%s user checkboxes, want 5", n)
	}
	b.step("select all", chromedp.Click(chromedp.CSS(`[data-testid="select-all"]`)))
	if n := b.eval(checked); n != "5" {
		t.Fatalf("after Select all: %s of 5 users checked", n)
	}
	b.step("uncheck one", chromedp.Click(chromedp.CSS(`input[name="user_id"]`)))
	if !b.truth("indeterminate", `document.querySelector('[data-testid="select-all"]').indeterminate`) {
		t.Error("Select all is not indeterminate with 4 of 5 checked")
	}
	b.step("select none", chromedp.Click(chromedp.CSS(`[data-testid="select-all"]`)), chromedp.Click(chromedp.CSS(`[data-testid="select-all"]`)))
	if n := b.eval(checked); n != "0" {
		t.Errorf("after unchecking Select all: %s users still checked", n)
	}
	// After an htmx swap (sorting) the box still works.
	b.step("sort", chromedp.Click(chromedp.CSS(`th a`)), chromedp.Sleep(500*time.Millisecond),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="select-all"]`)), chromedp.Click(chromedp.CSS(`[data-testid="select-all"]`)))
	if n := b.eval(checked); n != "5" {
		t.Errorf("after an htmx swap: %s of 5 users checked by Select all", n)
	}
}
