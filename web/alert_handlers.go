package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/alerts"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/products"
	"github.com/idsync/idsync/templates/pages"
)

// Alerts is what the console asks of the alert notifier (internal/alerts).
type Alerts interface {
	// SendTest sends a test alert on every enabled channel ("Send test").
	SendTest(ctx context.Context, actor string) ([]alerts.TestResult, error)
}

var _ Alerts = (*alerts.Notifier)(nil)

// alertValues is the Alerts form as text, by field name.
func alertValues(c model.AlertConfig) map[string]string {
	on := func(b bool) string {
		if b {
			return "on"
		}
		return ""
	}
	return map[string]string{
		"email_enabled": on(c.EmailEnabled), "smtp_host": c.SMTPHost, "smtp_port": strconv.Itoa(c.SMTPPort),
		"smtp_security": string(c.SMTPSecurity), "smtp_username": c.SMTPUsername, "email_from": c.EmailFrom,
		"email_to": strings.Join(c.EmailTo, "\n"), "webhook_enabled": on(c.WebhookEnabled),
		"on_held": on(c.OnHeld), "on_failed": on(c.OnFailed), "only_unattended": on(c.OnlyUnattended),
		"product_failing_minutes": strconv.Itoa(c.ProductFailingMinutes),
	}
}

func (s *Server) alertsView(c echo.Context) (pages.AlertsView, error) {
	ctx := c.Request().Context()
	cfg, sec, err := s.store.GetAlertConfig(ctx)
	if err != nil {
		return pages.AlertsView{}, err
	}
	recent, err := s.store.RecentAlerts(ctx, 20)
	if err != nil {
		return pages.AlertsView{}, err
	}
	return pages.AlertsView{Values: alertValues(cfg), Secrets: sec, Recent: recent, CSRF: s.csrfToken(c), CanEdit: isAdmin(c)}, nil
}

// showAlertsPage shows Settings → Alerts.
func (s *Server) showAlertsPage(c echo.Context) error {
	v, err := s.alertsView(c)
	if err != nil {
		return err
	}
	return s.renderTitled(c, http.StatusOK, "Alerts", pages.AlertsPage(v))
}

// splitAddresses reads the "To" field: one address per line or separated
// by commas or semicolons.
func splitAddresses(v string) []string {
	var out []string
	for _, a := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ';' }) {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// updateAlerts saves the Alerts form. A rejected form comes back as typed
// with a message at each bad field, and nothing is saved; typed secrets
// are never rendered back.
func (s *Server) updateAlerts(c echo.Context) error {
	ctx := c.Request().Context()
	cfg, _, err := s.store.GetAlertConfig(ctx)
	if err != nil {
		return err
	}
	typed := map[string]string{}
	bad := map[string]string{}
	text := func(key string) string {
		v := strings.TrimSpace(c.FormValue(key))
		typed[key] = v
		return v
	}
	check := func(key string) bool {
		on := c.FormValue(key) == "on"
		typed[key] = map[bool]string{true: "on"}[on]
		return on
	}
	num := func(key string, dst *int) {
		v := text(key)
		n, err := strconv.Atoi(v)
		if err != nil {
			bad[key] = "must be a whole number"
			return
		}
		*dst = n
	}
	cfg.EmailEnabled = check("email_enabled")
	cfg.SMTPHost = text("smtp_host")
	num("smtp_port", &cfg.SMTPPort)
	cfg.SMTPSecurity = model.SMTPSecurity(text("smtp_security"))
	cfg.SMTPUsername = text("smtp_username")
	cfg.SMTPPassword = c.FormValue("smtp_password")
	cfg.EmailFrom = text("email_from")
	cfg.EmailTo = splitAddresses(text("email_to"))
	cfg.WebhookEnabled = check("webhook_enabled")
	cfg.WebhookURL = strings.TrimSpace(c.FormValue("webhook_url"))
	cfg.OnHeld = check("on_held")
	cfg.OnFailed = check("on_failed")
	cfg.OnlyUnattended = check("only_unattended")
	num("product_failing_minutes", &cfg.ProductFailingMinutes)
	if cfg.WebhookURL != "" && bad["webhook_url"] == "" {
		if msg := s.checkWebhookURL(ctx, cfg.WebhookURL); msg != "" {
			bad["webhook_url"] = msg
		}
	}
	err = model.Invalid(bad)
	if err == nil {
		err = s.store.UpdateAlertConfig(ctx, cfg)
	}
	if err != nil {
		fields, msg, err := objFormError(err)
		if err != nil {
			return err
		}
		v, verr := s.alertsView(c)
		if verr != nil {
			return verr
		}
		for k, val := range typed {
			v.Values[k] = val
		}
		v.Errors, v.Message = fields, msg
		return s.renderTitled(c, http.StatusUnprocessableEntity, "Alerts", pages.AlertsPage(v))
	}
	if err := s.flash(c, "Alert settings saved."); err != nil {
		return err
	}
	return redirect(c, "/settings/alerts")
}

// checkWebhookURL applies the product URL policy to a chat webhook URL
// (its query string, which some services use for a signature, aside);
// it returns the message to show, or "".
func (s *Server) checkWebhookURL(ctx context.Context, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "must be a valid URL"
	}
	u.RawQuery, u.Fragment = "", ""
	err = products.URLPolicy{AllowLoopback: s.cfg.AllowLoopbackProducts}.CheckURL(ctx, u.String())
	if err == nil {
		return ""
	}
	if f := model.ErrorFields(err); f["base_url"] != "" {
		return f["base_url"]
	}
	return "is not allowed"
}

// testAlerts sends a test alert on every enabled channel of the saved
// settings and shows each outcome.
func (s *Server) testAlerts(c echo.Context) error {
	if s.alerts == nil {
		return model.Errorf(model.EUNAVAILABLE, "Alerts are not available on this server.")
	}
	ctx := c.Request().Context()
	res, err := s.alerts.SendTest(ctx, currentAdmin(c).Username)
	if err != nil {
		return err
	}
	v, err := s.alertsView(c)
	if err != nil {
		return err
	}
	if len(res) == 0 {
		v.Message = "No channel is enabled: tick “Send alerts by e-mail” or “Send alerts to a chat channel” and save first."
	}
	for _, r := range res {
		line := pages.AlertTestLine{Channel: "E-mail", OK: r.Err == nil, Message: "sent"}
		if r.Channel == alerts.ChannelWebhook {
			line.Channel = "Chat webhook"
		}
		if r.Err != nil {
			line.Message = "not sent: " + r.Err.Error()
		}
		v.TestResults = append(v.TestResults, line)
	}
	return s.renderTitled(c, http.StatusOK, "Alerts", pages.AlertsPage(v))
}
