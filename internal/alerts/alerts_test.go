package alerts_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/alerts"
	"github.com/idsync/idsync/internal/alerts/smtptest"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/products"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

// chat is a chat webhook on loopback that records what it is sent.
type chat struct {
	mu     sync.Mutex
	texts  []string
	status int
	srv    *httptest.Server
}

func newChat(t *testing.T) *chat {
	c := &chat{status: http.StatusOK}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m struct{ Text string }
		if err := json.Unmarshal(b, &m); err != nil || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad payload", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.status != http.StatusOK {
			http.Error(w, "no_service", c.status)
			return
		}
		c.texts = append(c.texts, m.Text)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *chat) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.texts...)
}

func (c *chat) setStatus(s int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status = s
}

func notifier(st *store.Store, now func() time.Time) *alerts.Notifier {
	return alerts.New(st, alerts.Options{
		WebhookPolicy: products.URLPolicy{AllowLoopback: true},
		PublicURL:     "http://127.0.0.1:8080/",
		Timeout:       10 * time.Second,
		Now:           now,
	})
}

func configure(t *testing.T, st *store.Store, smtp *smtptest.Server, hook string) {
	t.Helper()
	c := model.DefaultAlertConfig()
	if smtp != nil {
		c.EmailEnabled, c.SMTPHost, c.SMTPPort, c.SMTPSecurity = true, smtp.Host, smtp.Port, model.SMTPNone
		c.EmailFrom, c.EmailTo = "idsync@localhost", []string{"ops@localhost", "oncall@localhost"}
	}
	if hook != "" {
		c.WebhookEnabled, c.WebhookURL = true, hook
	}
	storetest.Must(t, st.UpdateAlertConfig(storetest.Ctx(), c))
}

// finishedRun records a run that ended with status at end.
func finishedRun(t *testing.T, st *store.Store, kind model.RunKind, trig model.RunTrigger, status model.RunStatus, end time.Time, mod func(*model.Run)) *model.Run {
	t.Helper()
	r := &model.Run{Kind: kind, Trigger: trig, Actor: "alice", Status: model.RunRunning, StartedAt: end.Add(-time.Minute)}
	storetest.Must(t, st.CreateRun(storetest.Ctx(), r))
	r.Status, r.FinishedAt = status, end
	if mod != nil {
		mod(r)
	}
	storetest.Must(t, st.SaveRun(storetest.Ctx(), r))
	return r
}

func TestRunAlertsByEmailAndWebhook(t *testing.T) {
	smtp := smtptest.Start(t)
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := storetest.Ctx()
		hook := newChat(t)
		// A run that ended before alerting was configured is history: never sent.
		old := finishedRun(t, st, model.RunApply, model.TriggerSchedule, model.RunFailed, time.Now().Add(-time.Hour), nil)
		configure(t, st, smtp, hook.srv.URL+"/hooks/T000/B000/secretpart")
		time.Sleep(5 * time.Millisecond)
		end := time.Now().UTC()
		held := finishedRun(t, st, model.RunApply, model.TriggerSchedule, model.RunHeld, end, func(r *model.Run) {
			r.Holds = []model.Hold{{Code: "delete_threshold", Message: "The plan would delete 600 users, more than the threshold of 500"}}
		})
		failed := finishedRun(t, st, model.RunRefresh, model.TriggerCLI, model.RunFailed, end, func(r *model.Run) {
			r.Error = "The directory could not be reached"
		})
		// Runs an admin started in the console are not alerted (unattended only),
		// nor successful ones.
		finishedRun(t, st, model.RunApply, model.TriggerAdmin, model.RunFailed, end, nil)
		finishedRun(t, st, model.RunApply, model.TriggerSchedule, model.RunSucceeded, end, nil)

		n := notifier(st, time.Now)
		sent, err := n.Check(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if sent != 4 {
			t.Errorf("first check sent %d, want 4 (2 runs × e-mail + webhook)", sent)
		}
		texts := hook.got()
		if len(texts) != 2 {
			t.Fatalf("webhook got %d messages, want 2: %q", len(texts), texts)
		}
		all := strings.Join(texts, "\n")
		for _, want := range []string{
			"sync run #" + itoa(held.ID) + " was held", "more than the threshold of 500.",
			"single-user refresh run #" + itoa(failed.ID) + " failed", "The directory could not be reached.",
			"http://127.0.0.1:8080/runs/" + itoa(held.ID), "started by the schedule", "started by the command line",
		} {
			if !strings.Contains(all, want) {
				t.Errorf("webhook messages lack %q:\n%s", want, all)
			}
		}
		if strings.Contains(all, "#"+itoa(old.ID)+" ") {
			t.Errorf("a run that ended before alerting was configured was reported:\n%s", all)
		}
		smtp.WaitFor(t, "Subject: idsync: sync run #"+itoa(held.ID)+" was held", 10*time.Second)
		smtp.WaitFor(t, "Subject: idsync: single-user refresh run #"+itoa(failed.ID)+" failed", 10*time.Second)
		smtp.WaitFor(t, "oncall@localhost", time.Second)

		// Once only: a second check, and a second replica, send nothing more.
		for _, nn := range []*alerts.Notifier{n, notifier(st, time.Now)} {
			if sent, err := nn.Check(ctx); err != nil || sent != 0 {
				t.Errorf("repeat check sent %d (err %v), want 0", sent, err)
			}
		}
		if got := len(hook.got()); got != 2 {
			t.Errorf("webhook got %d messages after repeats, want 2", got)
		}
	})
}

func TestAlertSentOnceAcrossReplicas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		hook := newChat(t)
		configure(t, st, nil, hook.srv.URL+"/hook")
		time.Sleep(5 * time.Millisecond)
		for range 5 {
			finishedRun(t, st, model.RunApply, model.TriggerSchedule, model.RunFailed, time.Now().UTC(), nil)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := notifier(st, time.Now).Check(storetest.Ctx()); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if got := len(hook.got()); got != 5 {
			t.Errorf("4 replicas checking at once sent %d messages for 5 runs, want 5", got)
		}
	})
}

func TestFailedSendIsRetriedThenGivenUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := storetest.Ctx()
		hook := newChat(t)
		hook.setStatus(http.StatusServiceUnavailable)
		configure(t, st, nil, hook.srv.URL+"/hook")
		time.Sleep(5 * time.Millisecond)
		r := finishedRun(t, st, model.RunApply, model.TriggerSchedule, model.RunHeld, time.Now().UTC(), nil)
		clock := time.Now()
		now := func() time.Time { return clock }
		if sent, _ := notifier(st, now).Check(ctx); sent != 0 {
			t.Fatalf("sent %d while the webhook answers 503", sent)
		}
		recs, err := st.RecentAlerts(ctx, 10)
		if err != nil || len(recs) != 1 {
			t.Fatalf("recent alerts %v, %v; want one", recs, err)
		}
		if !strings.Contains(recs[0].LastError, "answered 503") || strings.Contains(recs[0].LastError, "/hook") {
			t.Errorf("last error %q: want the status, never the URL", recs[0].LastError)
		}
		// Claimed for two minutes: an immediate check does not resend.
		if sent, _ := notifier(st, now).Check(ctx); sent != 0 || len(hook.got()) != 0 {
			t.Fatalf("resent within the claim")
		}
		hook.setStatus(http.StatusOK)
		// The claim's end is kept in the database's clock; wait it out by
		// releasing it as a restarted replica would after the lease.
		storetest.Must(t, st.FinishAlert(ctx, "run:"+itoa(r.ID)+":webhook", errors.New("again"), -time.Second))
		if sent, _ := notifier(st, now).Check(ctx); sent != 1 || len(hook.got()) != 1 {
			t.Fatalf("retry sent %d, webhook has %d; want 1", sent, len(hook.got()))
		}
	})
}

func TestProductFailingAlert(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := model.WithActor(storetest.Ctx(), "test")
		hook := newChat(t)
		configure(t, st, nil, hook.srv.URL+"/hook")
		p := &model.Product{Name: "Payroll", Kind: model.ProductWebhook, BaseURL: "http://127.0.0.1:1/", Secret: "s", AllUsers: true, Enabled: true}
		storetest.Must(t, st.CreateProduct(ctx, p))
		u := &model.User{Username: "jdoe", Email: "jdoe@corp.example", Status: model.StatusActive, Origin: model.OriginLocal, AccountType: model.AccountDeviceEnabled}
		storetest.Must(t, st.CreateUser(ctx, u))
		if _, err := st.MarkAllPending(ctx, []int64{p.ID}); err != nil {
			t.Fatal(err)
		}
		fail := func(at time.Time) {
			cl, err := st.ClaimDeliveries(ctx, p.ID, "w", 10, time.Minute)
			if err != nil || len(cl) != 1 {
				t.Fatalf("claim: %v, %d claims", err, len(cl))
			}
			storetest.Must(t, st.CompleteDeliveries(ctx, "w", []model.DeliveryOutcome{{
				ProductID: p.ID, UserID: u.ID, Version: cl[0].WantedVersion, Error: "connection refused",
				Log: model.Delivery{Username: "jdoe", Method: "POST", Error: "connection refused", At: at},
			}}))
		}
		start := time.Now().UTC()
		fail(start.Add(-40 * time.Minute))
		// 10 minutes of failures is not yet "longer than 30 minutes".
		early := func() time.Time { return start.Add(-25 * time.Minute) }
		if sent, err := notifier(st, early).Check(ctx); err != nil || sent != 0 {
			t.Fatalf("alerted after 15 min of failures: sent %d, %v", sent, err)
		}
		if sent, err := notifier(st, time.Now).Check(ctx); err != nil || sent != 1 {
			t.Fatalf("after 40 min: sent %d, %v; want 1", sent, err)
		}
		txt := strings.Join(hook.got(), "")
		for _, want := range []string{`product "Payroll" has been failing for 40 min`, "1 user is waiting", "Last error: connection refused.", "/products/" + itoa(p.ID)} {
			if !strings.Contains(txt, want) {
				t.Errorf("message lacks %q:\n%s", want, txt)
			}
		}
		// Still failing: the same episode is not reported again.
		fail(start.Add(-time.Minute))
		if sent, _ := notifier(st, time.Now).Check(ctx); sent != 0 {
			t.Errorf("the same failure episode was reported twice")
		}
	})
}

func TestSMTPErrorsAreClear(t *testing.T) {
	smtp := smtptest.Start(t)
	st := storetest.Open(t, store.DialectSQLite)
	c := model.DefaultAlertConfig()
	// aiosmtpd offers no STARTTLS: the default (STARTTLS required) must
	// refuse to send in clear text and say so.
	c.EmailEnabled, c.SMTPHost, c.SMTPPort, c.SMTPSecurity = true, smtp.Host, smtp.Port, model.SMTPStartTLS
	c.EmailFrom, c.EmailTo = "idsync@localhost", []string{"ops@localhost"}
	storetest.Must(t, st.UpdateAlertConfig(storetest.Ctx(), c))
	res, err := notifier(st, time.Now).SendTest(storetest.Ctx(), "alice")
	if err != nil || len(res) != 1 {
		t.Fatalf("send test: %v, %v", res, err)
	}
	if res[0].Err == nil || !strings.Contains(strings.ToLower(res[0].Err.Error()), "starttls") {
		t.Errorf("STARTTLS required against a server without it: err %v, want a STARTTLS error", res[0].Err)
	}
	c.SMTPSecurity = model.SMTPNone
	storetest.Must(t, st.UpdateAlertConfig(storetest.Ctx(), c))
	res, _ = notifier(st, time.Now).SendTest(storetest.Ctx(), "alice")
	if len(res) != 1 || res[0].Err != nil {
		t.Fatalf("send test without TLS: %v", res)
	}
	smtp.WaitFor(t, "Subject: idsync: test alert", 10*time.Second)
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
