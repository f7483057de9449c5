package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/config"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/scheduler"
)

// slowRunner is a real Runner that takes its time, so a second "Run now"
// finds the first still running.
type slowRunner struct {
	mu    sync.Mutex
	calls int
	delay time.Duration
}

func (r *slowRunner) RunScheduled(ctx context.Context, trig model.RunTrigger) ([]*model.Run, error) {
	r.mu.Lock()
	r.calls++
	r.mu.Unlock()
	select {
	case <-time.After(r.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return nil, nil
}

func (r *slowRunner) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// schedEnv is a console with a running scheduler on the test's store.
func schedEnv(t *testing.T, r scheduler.Runner, tz string) (*platEnv, *scheduler.Scheduler) {
	t.Helper()
	var sched *scheduler.Scheduler
	e := newPlatEnv(t, func(cfg *config.Config, d *Deps) {
		d.Now = time.Now
		if r != nil {
			sched = scheduler.New(d.Store, r, nil, scheduler.Options{Tick: 20 * time.Millisecond, RunNowWait: 100 * time.Millisecond})
			d.Scheduler = sched
		}
	})
	ctx := context.Background()
	set, err := e.st.GetSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	set.TimeZone = tz
	if err := e.st.UpdateSettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	if sched != nil {
		rctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = sched.Run(rctx) }()
		t.Cleanup(func() { cancel(); <-done })
		deadline := time.Now().Add(5 * time.Second)
		for !sched.Leader() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return e, sched
}

func TestDashboardScheduleCard(t *testing.T) {
	e, _ := schedEnv(t, &slowRunner{}, "Europe/Berlin")
	ctx := context.Background()
	set, err := e.st.GetSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	next := scheduler.Next(set.InstalledAt, time.Time{}, time.Now(), 48, "02:00", berlin)
	wantNext := next.In(berlin).Format("Mon 2 Jan 2006, 15:04 MST") + " (Europe/Berlin)"

	// Two finished applies in the chart period, one preview (not charted)
	// and one too old to chart.
	now := time.Now().UTC()
	for _, r := range []model.Run{
		{Kind: model.RunApply, Trigger: model.TriggerSchedule, Status: model.RunSucceeded, StartedAt: now.Add(-48 * time.Hour), Done: 12, Total: 12, Counts: map[string]int{"actions": 12}},
		{Kind: model.RunApply, Trigger: model.TriggerAdmin, Status: model.RunFailed, StartedAt: now.Add(-24 * time.Hour), Done: 3, Total: 9},
		{Kind: model.RunPreview, Trigger: model.TriggerAdmin, Status: model.RunPlanned, StartedAt: now.Add(-2 * time.Hour)},
		{Kind: model.RunApply, Trigger: model.TriggerSchedule, Status: model.RunSucceeded, StartedAt: now.AddDate(0, 0, -40)},
	} {
		r := r
		if err := e.st.CreateRun(ctx, &r); err != nil {
			t.Fatal(err)
		}
		r.FinishedAt = r.StartedAt.Add(time.Minute)
		if err := e.st.SaveRun(ctx, &r); err != nil {
			t.Fatal(err)
		}
	}

	e.createAdmin("audra", model.RoleAuditor)
	c := e.client()
	c.login("audra")
	r := c.get("/")
	if r.status != http.StatusOK {
		t.Fatalf("GET /: status %d", r.status)
	}
	for _, want := range []string{`data-testid="schedule-panel"`, wantNext, `data-testid="last-refresh">none yet`, `data-testid="run-chart-svg"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if got := strings.Count(r.body, `data-testid="chart-bar"`); got != 2 {
		t.Errorf("chart bars = %d, want 2", got)
	}
	if strings.Contains(r.body, `data-testid="run-now"`) {
		t.Error("an auditor sees the Run now button")
	}
	if strings.Contains(r.body, `hx-trigger="every 2s"`) {
		t.Error("the card polls with no run in progress")
	}

	// The settings page shows the same next refresh in its marked spot.
	r = c.get("/settings")
	if !strings.Contains(r.body, wantNext) {
		t.Errorf("settings page lacks next refresh %q", wantNext)
	}

	// The htmx fragment is the card alone.
	r = c.do(http.MethodGet, "/schedule/panel", nil, map[string]string{"HX-Request": "true"})
	if r.status != http.StatusOK || !strings.HasPrefix(strings.TrimSpace(r.body), `<section id="schedule-panel"`) {
		t.Errorf("panel fragment: status %d body %.200s", r.status, r.body)
	}
}

func TestRunNowButton(t *testing.T) {
	runner := &slowRunner{delay: 700 * time.Millisecond}
	e, _ := schedEnv(t, runner, "UTC")
	e.createAdmin("ada", model.RoleAdmin)
	c := e.client()
	c.login("ada")
	r := c.get("/")
	if !strings.Contains(r.body, `data-testid="run-now"`) {
		t.Fatal("admin dashboard lacks the Run now button")
	}
	tok := c.csrf()
	hx := map[string]string{"HX-Request": "true"}

	r = c.do(http.MethodPost, "/schedule/run", url.Values{"_csrf": {tok}}, hx)
	if r.status != http.StatusOK || !strings.Contains(r.body, "Refresh started.") {
		t.Fatalf("run now: status %d body %.300s", r.status, r.body)
	}
	if !strings.Contains(r.body, `hx-trigger="every 2s"`) {
		t.Error("the card does not poll while the refresh runs")
	}
	r = c.do(http.MethodPost, "/schedule/run", url.Values{"_csrf": {tok}}, hx)
	if r.status != http.StatusOK || !strings.Contains(r.body, "A sync run is in progress.") {
		t.Fatalf("second run now: status %d body %.300s", r.status, r.body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := e.st.ScheduleState(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.LastStatus == model.RunSucceeded {
			if st.LastTrigger != model.TriggerAdmin {
				t.Errorf("trigger = %q, want admin", st.LastTrigger)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refresh did not finish: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := runner.count(); got != 1 {
		t.Errorf("refreshes = %d, want 1", got)
	}
	audit, _, err := e.st.ListAudit(context.Background(), model.ListQuery{Search: "run_now"})
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 1 || audit[0].Actor != "ada" {
		t.Errorf("audit entries for run now = %+v, want one by ada", audit)
	}

	// Without htmx: redirect to the dashboard with the message as flash.
	r = c.post("/schedule/run", url.Values{"_csrf": {tok}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("plain run now: status %d Location %q", r.status, r.header.Get("Location"))
	}
	r = c.get("/")
	if !strings.Contains(r.body, "Refresh started.") {
		t.Error("flash missing after plain run now")
	}
	r = c.get("/")
	if !strings.Contains(r.body, `data-testid="last-refresh-status"`) {
		t.Error("dashboard lacks the last refresh outcome")
	}
}

func TestRunNowWithoutScheduler(t *testing.T) {
	e, _ := schedEnv(t, nil, "")
	e.createAdmin("ada", model.RoleAdmin)
	c := e.client()
	c.login("ada")
	r := c.do(http.MethodPost, "/schedule/run", url.Values{"_csrf": {c.csrf()}}, map[string]string{"HX-Request": "true"})
	if r.status != http.StatusOK || !strings.Contains(r.body, "The scheduler is not running in this server.") {
		t.Fatalf("status %d body %.300s", r.status, r.body)
	}
	// The schedule is still shown, computed from the database.
	if r := c.get("/"); !strings.Contains(r.body, `data-testid="next-refresh-time"`) {
		t.Error("dashboard lacks the next refresh without a scheduler")
	}
}
