package web

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/idsync/idsync/internal/auth"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/scheduler"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

// schedChromium is Debian's chromium, which the browser tests drive.
const schedChromium = "/usr/bin/chromium"

// progressRunner records a real run in the store and advances its progress
// step by step, as the sync engine does.
type progressRunner struct {
	st    *store.Store
	steps int
	pause time.Duration
}

func (r progressRunner) RunScheduled(ctx context.Context, trig model.RunTrigger) ([]*model.Run, error) {
	run := &model.Run{Kind: model.RunApply, Trigger: trig, Actor: model.ActorFrom(ctx), Status: model.RunRunning, Phase: model.PhaseAttributes, Total: r.steps}
	if err := r.st.CreateRun(ctx, run); err != nil {
		return nil, err
	}
	for i := 1; i <= r.steps; i++ {
		select {
		case <-time.After(r.pause):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if err := r.st.UpdateRunProgress(ctx, run.ID, model.PhaseAttributes, i, r.steps); err != nil {
			return nil, err
		}
	}
	run.Status, run.Done = model.RunSucceeded, r.steps
	run.Counts = map[string]int{"actions": r.steps}
	run.FinishedAt = time.Now()
	if err := r.st.SaveRun(ctx, run); err != nil {
		return nil, err
	}
	return []*model.Run{run}, nil
}

// TestBrowserRunNow: an admin clicks "Run now" on the dashboard and sees
// the run's progress advance and its outcome appear without reloading.
func TestBrowserRunNow(t *testing.T) {
	if _, err := os.Stat(schedChromium); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("skipping browser test: %s not found", schedChromium)
		}
		t.Fatalf("browser test: %s not found and CI is set: %v", schedChromium, err)
	}
	st := storetest.Open(t, store.DialectSQLite)
	bg := context.Background()
	hash, err := auth.HashPasswordParams(schedPassword, schedTestParams)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAdmin(bg, &model.Admin{Username: "ada", PasswordHash: hash, Role: model.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	sched := scheduler.New(st, progressRunner{st: st, steps: 4, pause: 1500 * time.Millisecond}, nil, scheduler.Options{Tick: 100 * time.Millisecond})
	srv, err := New(Deps{Store: st, Config: objTestConfig(), Logger: slog.New(slog.DiscardHandler), Scheduler: sched})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(bg)
	served := make(chan error, 1)
	schedDone := make(chan struct{})
	go func() { served <- srv.Serve(sctx, ln) }()
	go func() { defer close(schedDone); _ = sched.Run(sctx) }()
	t.Cleanup(func() {
		stop()
		<-schedDone
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	base := "http://" + ln.Addr().String()

	actx, cancelAlloc := chromedp.NewExecAllocator(bg,
		chromedp.ExecPath(schedChromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()

	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	waitJS := func(what, js string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for eval(js) != "true" {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	step("sign in",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "ada"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), schedPassword),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="schedule-panel"]`)),
	)
	eval(`window.__stay = "yes"; ""`)
	step("run now",
		chromedp.Click(chromedp.CSS(`[data-testid="run-now"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="flash-success"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="schedule-progressbar"]`)),
	)
	first := eval(`document.querySelector('[data-testid="schedule-progressbar"]').getAttribute("value")`)
	waitJS("the progress bar to advance", `(function(){
		var p = document.querySelector('[data-testid="schedule-progressbar"]');
		return String(p !== null && Number(p.getAttribute("value")) > `+first+`);
	})()`)
	waitJS("the outcome", `(function(){
		var s = document.querySelector('[data-testid="last-refresh-status"]');
		return String(s !== null && s.textContent.trim() === "succeeded" && document.querySelector('[data-testid="schedule-running"]') === null);
	})()`)
	if got := eval(`String(window.__stay)`); got != "yes" {
		t.Errorf("the page reloaded (window.__stay = %q)", got)
	}
	if n, _ := strconv.Atoi(eval(`String(document.querySelectorAll('[data-testid="chart-bar"]').length)`)); n != 1 {
		t.Errorf("chart bars after the run = %d, want 1", n)
	}
	if polls := eval(`String(document.querySelector('#schedule-panel').hasAttribute("hx-trigger"))`); strings.TrimSpace(polls) != "false" {
		t.Errorf("the card still polls after the run ended")
	}
}
