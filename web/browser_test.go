package web

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/idsync/idsync/internal/store/storetest"
)

// TestBrowserAdminFlow drives Debian's chromium through the flow an admin
// uses first: setup, sign out, sign in, create a service group, a user and
// a device, assign the device, toggle a setting, sign out.
func TestBrowserAdminFlow(t *testing.T) {
	requireChromium(t)
	st := storetest.Open(t, "sqlite")
	token, err := NewSetupToken()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Deps{Store: st, Config: objTestConfig(), Logger: slog.New(slog.DiscardHandler), SetupToken: token})
	if err != nil {
		t.Fatal(err)
	}
	base := serveForBrowser(t, srv)
	b := newBrowserTab(t, 3*time.Minute)
	step, value := b.step, b.value

	const pw = "a long enough password 1"
	step("first-admin setup",
		chromedp.Navigate(base+"/setup?token="+token),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="setup"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "root"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), pw),
		chromedp.SendKeys(chromedp.CSS(`input[name="password_confirm"]`), pw),
		chromedp.Click(chromedp.CSS(`[data-testid="setup-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="whoami"]`)),
	)
	step("sign out after setup",
		chromedp.Click(chromedp.CSS(`[data-testid="logout"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login"]`)),
	)
	b.signIn(base, "root", pw, `[data-testid="whoami"]`)
	step("create a service group",
		chromedp.Navigate(base+"/service-groups/new"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="field-name"]`), "Engineering"),
		chromedp.Click(chromedp.CSS(`[data-testid="service-group-save"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="service-group-page"]`)),
	)
	sgID := value("read the group id", chromedp.Evaluate[string](`location.pathname.split("/").pop()`))

	step("create a user in that group",
		chromedp.Navigate(base+"/users/new"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="field-username"]`), "frank"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="field-email"]`), "frank@example.com"),
		chromedp.Click(chromedp.CSS(`[data-testid="user-save"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-page"]`)),
	)
	title := value("user title", chromedp.Text(chromedp.CSS(`[data-testid="user-title"]`)))
	step("assign the service group",
		chromedp.SetValue(chromedp.CSS(`[data-testid="field-service_group_id"]`), sgID),
		chromedp.Click(chromedp.CSS(`[data-testid="assign-service-group"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-service-group-item"]`)),
	)
	if title != "frank" {
		t.Errorf("user page title = %q, want frank", title)
	}

	step("open the user list",
		chromedp.Navigate(base+"/users"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-link"]`)),
	)
	b.markPage()
	step("live search swaps the table without a reload",
		chromedp.SendKeys(chromedp.CSS(`[data-testid="search"]`), "zzz"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="users-table"] [data-testid="empty"]`)),
	)
	if !b.stayed() {
		t.Errorf("live search reloaded the page")
	}
	// htmx pushes the URL right after the swap; give it a moment.
	loc := ""
	for range 20 {
		if loc = value("search url", chromedp.Location()); strings.Contains(loc, "q=zzz") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(loc, "q=zzz") {
		t.Errorf("search URL = %s, want ?q=zzz kept", loc)
	}

	step("create a device and assign it",
		chromedp.Navigate(base+"/devices/new"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="field-name"]`), "frank-laptop"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="field-serial"]`), "FL-1"),
		chromedp.Click(chromedp.CSS(`[data-testid="device-save"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="device-page"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="field-username"]`), "frank"),
		chromedp.Click(chromedp.CSS(`[data-testid="device-assign"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="device-user"]`)),
	)
	owner := value("device user", chromedp.Text(chromedp.CSS(`[data-testid="device-user"]`)))
	if strings.TrimSpace(owner) != "frank" {
		t.Errorf("device user = %q, want frank", owner)
	}

	step("open the settings",
		chromedp.Navigate(base+"/settings"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="setting-auto_product_sync"]`)),
	)
	b.markPage()
	step("toggle a setting in place",
		chromedp.Click(chromedp.CSS(`[data-testid="setting-auto_product_sync"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="saved-auto_product_sync"]`)),
	)
	if !b.stayed() {
		t.Errorf("toggling a setting reloaded the page")
	}
	settings, err := st.GetSettings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if settings.AutoProductSync {
		t.Errorf("auto product sync still on in the store after the toggle")
	}
	step("setting survives a reload",
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="setting-auto_product_sync"]`)),
	)
	if b.truth("checkbox state", `document.querySelector('[data-testid="setting-auto_product_sync"]').checked`) {
		t.Errorf("checkbox is checked after reload, want unchecked")
	}

	step("sign out",
		chromedp.Click(chromedp.CSS(`[data-testid="logout"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login"]`)),
	)
	step("signed out: pages need sign-in again",
		chromedp.Navigate(base+"/users"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login"]`)),
	)
	if loc := value("location", chromedp.Location()); !strings.Contains(loc, "/login") {
		t.Errorf("after sign-out /users went to %s, want the sign-in page", loc)
	}
	if err := b.ctx.Err(); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("browser context: %v", err)
	}
}
