package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/auth"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/scheduler"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
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

// schedSite is a console with (optionally) a running scheduler on a fresh
// SQLite store, served on 127.0.0.1 and stopped when the test ends.
type schedSite struct {
	t     *testing.T
	st    *store.Store
	ts    *httptest.Server
	sched *scheduler.Scheduler
}

// schedTestParams are cheap argon2 parameters for test accounts.
var schedTestParams = auth.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

const schedPassword = "a long enough password 1"

func newSchedSite(t *testing.T, r scheduler.Runner, tz string) *schedSite {
	t.Helper()
	st := storetest.Open(t, store.DialectSQLite)
	changeSettings(t, st, func(set *model.Settings) { set.TimeZone = tz })
	site := &schedSite{t: t, st: st}
	d := Deps{Store: st, Config: objTestConfig(), Logger: slog.New(slog.DiscardHandler)}
	if r != nil {
		site.sched = scheduler.New(st, r, nil, scheduler.Options{Tick: 20 * time.Millisecond, RunNowWait: 100 * time.Millisecond})
		d.Scheduler = site.sched
	}
	srv, err := New(d)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	site.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(site.ts.Close)
	if site.sched != nil {
		rctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = site.sched.Run(rctx) }()
		t.Cleanup(func() { cancel(); <-done })
		deadline := time.Now().Add(5 * time.Second)
		for !site.sched.Leader() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return site
}

// schedClient is a signed-in browser: a cookie jar, no redirects followed.
type schedClient struct {
	site *schedSite
	hc   *http.Client
	csrf string
}

type schedResp struct {
	status int
	header http.Header
	body   string
}

// signIn creates a console account with role and signs it in.
func (site *schedSite) signIn(username string, role model.Role) *schedClient {
	t := site.t
	t.Helper()
	hash, err := auth.HashPasswordParams(schedPassword, schedTestParams)
	if err != nil {
		t.Fatal(err)
	}
	if err := site.st.CreateAdmin(context.Background(), &model.Admin{Username: username, PasswordHash: hash, Role: role}); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &schedClient{site: site, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	c.csrf = c.token(c.get("/login", false).body)
	if r := c.post("/login", url.Values{"username": {username}, "password": {schedPassword}}, false); r.status != http.StatusSeeOther {
		t.Fatalf("sign in %s: status %d", username, r.status)
	}
	c.csrf = c.token(c.get("/", false).body)
	return c
}

func (c *schedClient) token(body string) string {
	c.site.t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		c.site.t.Fatalf("no CSRF token in page: %.300s", body)
	}
	return m[1]
}

func (c *schedClient) do(method, path string, form url.Values, hx bool) schedResp {
	t := c.site.t
	t.Helper()
	var body io.Reader
	if form != nil {
		form.Set("_csrf", c.csrf)
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.site.ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if hx {
		req.Header.Set("HX-Request", "true")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return schedResp{status: res.StatusCode, header: res.Header, body: string(b)}
}

func (c *schedClient) get(path string, hx bool) schedResp {
	return c.do(http.MethodGet, path, nil, hx)
}

func (c *schedClient) post(path string, form url.Values, hx bool) schedResp {
	if form == nil {
		form = url.Values{}
	}
	return c.do(http.MethodPost, path, form, hx)
}

func TestDashboardScheduleCard(t *testing.T) {
	e := newSchedSite(t, &slowRunner{}, "Europe/Berlin")
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

	c := e.signIn("audra", model.RoleAuditor)
	r := c.get("/", false)
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
	r = c.get("/settings", false)
	if !strings.Contains(r.body, wantNext) {
		t.Errorf("settings page lacks next refresh %q", wantNext)
	}

	// The htmx fragment is the card alone.
	r = c.get("/schedule/panel", true)
	if r.status != http.StatusOK || !strings.HasPrefix(strings.TrimSpace(r.body), `<section id="schedule-panel"`) {
		t.Errorf("panel fragment: status %d body %.200s", r.status, r.body)
	}
}

func TestRunNowButton(t *testing.T) {
	runner := &slowRunner{delay: 700 * time.Millisecond}
	e := newSchedSite(t, runner, "UTC")
	c := e.signIn("ada", model.RoleAdmin)
	r := c.get("/", false)
	if !strings.Contains(r.body, `data-testid="run-now"`) {
		t.Fatal("admin dashboard lacks the Run now button")
	}

	r = c.post("/schedule/run", nil, true)
	if r.status != http.StatusOK || !strings.Contains(r.body, "Refresh started.") {
		t.Fatalf("run now: status %d body %.300s", r.status, r.body)
	}
	if !strings.Contains(r.body, `hx-trigger="every 2s"`) {
		t.Error("the card does not poll while the refresh runs")
	}
	r = c.post("/schedule/run", nil, true)
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
	r = c.post("/schedule/run", nil, false)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("plain run now: status %d Location %q", r.status, r.header.Get("Location"))
	}
	r = c.get("/", false)
	if !strings.Contains(r.body, "Refresh started.") {
		t.Error("flash missing after plain run now")
	}
	r = c.get("/", false)
	if !strings.Contains(r.body, `data-testid="last-refresh-status"`) {
		t.Error("dashboard lacks the last refresh outcome")
	}
}

func TestRunNowWithoutScheduler(t *testing.T) {
	e := newSchedSite(t, nil, "")
	c := e.signIn("ada", model.RoleAdmin)
	r := c.post("/schedule/run", nil, true)
	if r.status != http.StatusOK || !strings.Contains(r.body, "The scheduler is not running in this server.") {
		t.Fatalf("status %d body %.300s", r.status, r.body)
	}
	// The schedule is still shown, computed from the database.
	if r := c.get("/", false); !strings.Contains(r.body, `data-testid="next-refresh-time"`) {
		t.Error("dashboard lacks the next refresh without a scheduler")
	}
}
