package web

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/idsync/idsync/internal/testenv"
)

// chromiumPath is Debian's chromium, which the browser tests drive.
const chromiumPath = "/usr/bin/chromium"

// requireChromium skips t when chromium is missing, unless CI is set:
// there a missing browser fails the test.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		testenv.Missing(t, "browser test: %s not found (Debian package chromium)", chromiumPath)
	}
}

// serveForBrowser serves srv on a free 127.0.0.1 port until the test ends
// and returns its base URL.
func serveForBrowser(t *testing.T, srv *Server) string {
	t.Helper()
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
	return "http://" + ln.Addr().String()
}

// browserTab is one headless chromium tab, closed when the test ends, with
// the helpers the browser tests share. Every helper fails the test.
type browserTab struct {
	t   *testing.T
	ctx context.Context
}

// newBrowserTab starts chromium with a private profile; the whole test
// must finish within timeout.
func newBrowserTab(t *testing.T, timeout time.Duration) *browserTab {
	t.Helper()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()))
	bctx, cancelBrowser := chromedp.NewContext(actx)
	ctx, cancel := context.WithTimeout(bctx, timeout)
	t.Cleanup(func() { cancel(); cancelBrowser(); cancelAlloc() })
	return &browserTab{t: t, ctx: ctx}
}

// step runs actions, failing the test with name and the page's location.
func (b *browserTab) step(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("%s: %v (at %s)", name, err, loc)
	}
}

// value runs a into a string.
func (b *browserTab) value(name string, a chromedp.Action[string]) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", name, err)
	}
	return v
}

// eval evaluates js, which must give a string.
func (b *browserTab) eval(js string) string {
	b.t.Helper()
	return b.value("evaluate "+js, chromedp.Evaluate[string](js))
}

// truth evaluates js, which must give a boolean.
func (b *browserTab) truth(name, js string) bool {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		b.t.Fatalf("%s: %v", name, err)
	}
	return v
}

// waitJS polls js (giving "true" or "false") until it says true.
func (b *browserTab) waitJS(what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for b.eval(js) != "true" {
		if time.Now().After(deadline) {
			loc, _ := chromedp.Run(b.ctx, chromedp.Location())
			b.t.Fatalf("timed out waiting for %s (at %s)", what, loc)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// markPage sets a marker on the page's window; stayed reports whether it
// is still there (no full reload since).
func (b *browserTab) markPage() { b.eval(`window.__stay = "yes"; ""`) }

func (b *browserTab) stayed() bool { return b.eval(`String(window.__stay)`) == "yes" }

// signIn signs user in through the sign-in form; wait is what the page
// after sign-in shows.
func (b *browserTab) signIn(base, user, password string, wait string) {
	b.t.Helper()
	b.step("sign in",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), user),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(wait)),
	)
}
