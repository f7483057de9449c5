package web

import (
	"context"
	"log/slog"
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
	requireChromium(t)
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
	base := serveForBrowser(t, srv)
	// Registered after the server, so it stops first.
	schedCtx, stopSched := context.WithCancel(bg)
	schedDone := make(chan struct{})
	go func() { defer close(schedDone); _ = sched.Run(schedCtx) }()
	t.Cleanup(func() { stopSched(); <-schedDone })

	b := newBrowserTab(t, 2*time.Minute)
	step, eval, waitJS := b.step, b.eval, b.waitJS
	b.signIn(base, "ada", schedPassword, `[data-testid="schedule-panel"]`)
	b.markPage()
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
	if !b.stayed() {
		t.Errorf("the page reloaded")
	}
	if n, _ := strconv.Atoi(eval(`String(document.querySelectorAll('[data-testid="chart-bar"]').length)`)); n != 1 {
		t.Errorf("chart bars after the run = %d, want 1", n)
	}
	if polls := eval(`String(document.querySelector('#schedule-panel').hasAttribute("hx-trigger"))`); strings.TrimSpace(polls) != "false" {
		t.Errorf("the card still polls after the run ended")
	}
}
