package web

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/idsync/idsync/internal/store/storetest"
)

const chromiumPath = "/usr/bin/chromium"

// TestBrowserAdminFlow drives Debian's chromium through the flow an admin
// uses first: setup, sign out, sign in, create a service group, a user and
// a device, assign the device, toggle a setting, sign out.
func TestBrowserAdminFlow(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("skipping browser test: %s not found (install the chromium package; required when CI is set)", chromiumPath)
		}
		t.Fatalf("browser test: %s not found and CI is set: %v", chromiumPath, err)
	}
	st := storetest.Open(t, "sqlite")
	token, err := NewSetupToken()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Deps{Store: st, Config: objTestConfig(), Logger: slog.New(slog.DiscardHandler), SetupToken: token})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	base := "http://" + ln.Addr().String()

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 3*time.Minute)
	defer cancel()

	const pw = "a long enough password 1"
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("%s: %v (at %s)", name, err, loc)
		}
	}
	value := func(name string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return v
	}
	truth := func(name, js string) bool {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return v
	}

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
	step("sign in",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "root"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), pw),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="whoami"]`)),
	)
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

	step("live search swaps the table without a reload",
		chromedp.Navigate(base+"/users"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="user-link"]`)),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`window.__stay = true`)(ctx, tg)
			return err
		}),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="search"]`), "zzz"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="users-table"] [data-testid="empty"]`)),
	)
	if !truth("search kept the page", `window.__stay === true`) {
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

	step("toggle a setting in place",
		chromedp.Navigate(base+"/settings"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="setting-auto_product_sync"]`)),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`window.__stay = true`)(ctx, tg)
			return err
		}),
		chromedp.Click(chromedp.CSS(`[data-testid="setting-auto_product_sync"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="saved-auto_product_sync"]`)),
	)
	if !truth("no full reload", `window.__stay === true`) {
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
	if truth("checkbox state", `document.querySelector('[data-testid="setting-auto_product_sync"]').checked`) {
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
	if err := ctx.Err(); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("browser context: %v", err)
	}
}
