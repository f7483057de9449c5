package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/alerts"
	"github.com/idsync/idsync/internal/alerts/smtptest"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/products"
	"github.com/idsync/idsync/internal/store/storetest"
)

func TestAlertsPage(t *testing.T) {
	smtp := smtptest.Start(t)
	var hookCalls atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hookCalls.Add(1)
	}))
	defer hook.Close()
	hookURL := hook.URL + "/services/T0/B0/very-secret-token"

	h := newObjHarness(t, storetest.Open(t, "sqlite"))
	h.srv.cfg.AllowLoopbackProducts = true
	h.srv.alerts = alerts.New(h.st, alerts.Options{WebhookPolicy: products.URLPolicy{AllowLoopback: true}, Timeout: 10 * time.Second})
	ctx := context.Background()

	valid := url.Values{
		"email_enabled": {"on"}, "smtp_host": {smtp.Host}, "smtp_port": {strconv.Itoa(smtp.Port)}, "smtp_security": {"none"},
		"smtp_username": {""}, "email_from": {"idsync@localhost"}, "email_to": {"ops@localhost, oncall@localhost"},
		"webhook_enabled": {"on"}, "webhook_url": {hookURL},
		"on_held": {"on"}, "on_failed": {"on"}, "only_unattended": {"on"}, "product_failing_minutes": {"30"},
	}
	with := func(kv ...string) url.Values {
		f := url.Values{}
		for k, v := range valid {
			f[k] = append([]string(nil), v...)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}

	t.Run("page", func(t *testing.T) {
		code, body := h.get("/settings/alerts", false)
		if code != http.StatusOK || countTestID(body, "alerts-form") != 1 {
			t.Fatalf("status %d, form %d", code, countTestID(body, "alerts-form"))
		}
		if _, body := h.get("/settings", false); !strings.Contains(body, `href="/settings/alerts"`) {
			t.Errorf("System settings do not link to the Alerts page")
		}
	})

	t.Run("bad input changes nothing", func(t *testing.T) {
		for name, tc := range map[string]struct {
			form  url.Values
			field string
		}{
			"no recipients":      {with("email_to", ""), "email_to"},
			"bad recipient":      {with("email_to", "ops@localhost, not an address"), "email_to"},
			"port":               {with("smtp_port", "99999"), "smtp_port"},
			"port not a number":  {with("smtp_port", "smtp"), "smtp_port"},
			"host with a scheme": {with("smtp_host", "smtp://127.0.0.1"), "smtp_host"},
			"security":           {with("smtp_security", "ssl3"), "smtp_security"},
			"webhook scheme":     {with("webhook_url", "ftp://127.0.0.1/hook"), "webhook_url"},
			"webhook metadata":   {with("webhook_url", "http://169.254.169.254/latest"), "webhook_url"},
			"minutes":            {with("product_failing_minutes", "-1"), "product_failing_minutes"},
		} {
			code, body, _ := h.post("/settings/alerts", tc.form)
			if code != http.StatusUnprocessableEntity || countTestID(body, "error-"+tc.field) != 1 {
				t.Errorf("%s: status %d, error-%s shown %d times", name, code, tc.field, countTestID(body, "error-"+tc.field))
			}
			if cfg, _, err := h.st.GetAlertConfig(ctx); err != nil || cfg.EmailEnabled || cfg.WebhookEnabled {
				t.Fatalf("%s: something was saved: %+v, %v", name, cfg, err)
			}
		}
	})

	t.Run("save keeps secrets off the page and out of the audit log", func(t *testing.T) {
		code, body, _ := h.post("/settings/alerts", valid)
		if code != http.StatusSeeOther {
			t.Fatalf("save: status %d: %s", code, body)
		}
		cfg, sec, err := h.st.GetAlertConfig(ctx)
		if err != nil || !cfg.EmailEnabled || cfg.WebhookURL != hookURL || len(cfg.EmailTo) != 2 || !sec.HasWebhookURL {
			t.Fatalf("saved %+v %+v, %v", cfg, sec, err)
		}
		_, page := h.get("/settings/alerts", false)
		if strings.Contains(page, "very-secret-token") {
			t.Errorf("the page shows the webhook URL")
		}
		entries, _, err := h.st.ListAudit(ctx, model.ListQuery{PerPage: 50})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range entries {
			if e.ObjectType == "alerts" {
				found = true
				if strings.Contains(e.Before+e.After, "very-secret-token") {
					t.Errorf("the audit log holds the webhook URL: %s", e.After)
				}
			}
		}
		if !found {
			t.Errorf("no audit entry for the alert settings")
		}
		// Saving again with the secret fields empty keeps them.
		if code, _, _ := h.post("/settings/alerts", with("webhook_url", "")); code != http.StatusSeeOther {
			t.Fatalf("resave: status %d", code)
		}
		if cfg, _, _ := h.st.GetAlertConfig(ctx); cfg.WebhookURL != hookURL {
			t.Errorf("an empty webhook field dropped the stored URL")
		}
	})

	t.Run("a new mail server needs the password again", func(t *testing.T) {
		if code, _, _ := h.post("/settings/alerts", with("smtp_username", "mailer", "smtp_password", "hunter2-smtp")); code != http.StatusSeeOther {
			t.Fatalf("save with password: %d", code)
		}
		code, body, _ := h.post("/settings/alerts", with("smtp_username", "mailer", "smtp_host", "localhost"))
		if code != http.StatusUnprocessableEntity || countTestID(body, "error-smtp_password") != 1 {
			t.Fatalf("changed host without the password: status %d", code)
		}
		if strings.Contains(body, "hunter2-smtp") {
			t.Errorf("the page shows the stored password")
		}
		if cfg, _, _ := h.st.GetAlertConfig(ctx); cfg.SMTPHost != smtp.Host || cfg.SMTPPassword != "hunter2-smtp" {
			t.Errorf("refused save changed the config: host %q", cfg.SMTPHost)
		}
		// Back to no sign-in: the stored password is dropped.
		if code, _, _ := h.post("/settings/alerts", valid); code != http.StatusSeeOther {
			t.Fatalf("save without user: %d", code)
		}
		if cfg, sec, _ := h.st.GetAlertConfig(ctx); cfg.SMTPPassword != "" || sec.HasSMTPPassword {
			t.Errorf("password kept without a user name")
		}
	})

	t.Run("send test", func(t *testing.T) {
		code, body, _ := h.post("/settings/alerts/test", url.Values{})
		if code != http.StatusOK || countTestID(body, "alert-test-results") != 1 {
			t.Fatalf("send test: status %d", code)
		}
		if strings.Count(body, ": sent") != 2 {
			t.Errorf("want two channels sent:\n%s", body)
		}
		smtp.WaitFor(t, "Subject: idsync: test alert", 10*time.Second)
		if hookCalls.Load() != 1 {
			t.Errorf("webhook called %d times, want 1", hookCalls.Load())
		}
	})
}

// A polled htmx fragment must not consume the flash message meant for the
// next full page (one render path for pages, one for fragments).
func TestFragmentKeepsFlash(t *testing.T) {
	h := newObjHarness(t, storetest.Open(t, "sqlite"))
	form := url.Values{"refresh_interval_hours": {"24"}, "refresh_start_time": {"03:30"}, "time_zone": {""},
		"deprovision_action": {"disable"}, "service_group_membership": {"single"}, "delete_threshold_count": {"100"},
		"delete_threshold_percent": {"5"}, "shrink_threshold_percent": {"20"}, "run_retention_days": {"30"}}
	if code, body, _ := h.post("/settings", form); code != http.StatusSeeOther {
		t.Fatalf("save settings: %d %s", code, body)
	}
	for _, p := range []string{"/schedule/panel", "/runs", "/users"} {
		if code, body := h.get(p, true); code != http.StatusOK || strings.Contains(body, "Settings saved.") {
			t.Fatalf("fragment %s: status %d, shows the flash: %v", p, code, strings.Contains(body, "Settings saved."))
		}
	}
	if _, body := h.get("/settings", false); !strings.Contains(body, "Settings saved.") {
		t.Errorf("the flash was swallowed by the polled fragments")
	}
	if _, body := h.get("/settings", false); strings.Contains(body, "Settings saved.") {
		t.Errorf("the flash was shown twice")
	}
}
