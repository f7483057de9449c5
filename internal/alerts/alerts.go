// Package alerts tells the admins when something needs them (SPEC §13): a
// held, failed or interrupted run, and a product whose deliveries have been
// failing for longer than a set time. Alerts go by e-mail (SMTP) and/or to
// a chat incoming webhook (Slack- and Teams-compatible {"text": …}).
//
// The Notifier polls the database: runs and delivery failures are already
// recorded there durably, so an alert survives a restart, and every alert is
// claimed in the database per channel before it is sent, so several
// replicas send it once.
package alerts

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/products"
	"github.com/idsync/idsync/internal/store"
)

// Store is what the Notifier reads and writes (internal/store).
type Store interface {
	GetAlertConfig(ctx context.Context) (model.AlertConfig, model.AlertSecrets, error)
	AlertRunCandidates(ctx context.Context, since time.Time, statuses []model.RunStatus, channels []string, unattendedOnly bool, limit int) ([]model.Run, error)
	FailingProducts(ctx context.Context, failingSince time.Time) ([]store.ProductFailure, error)
	ClaimAlert(ctx context.Context, key, subject string) (bool, error)
	FinishAlert(ctx context.Context, key string, sendErr error, retryAfter time.Duration) error
	ListSources(ctx context.Context) ([]model.Source, error)
}

// The channels, as they appear in alert keys.
const (
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"
)

// runInterrupted is the status of a run whose process or database went
// away; older versions record such runs as failed, which is alerted too.
const runInterrupted model.RunStatus = "interrupted"

// lookBack bounds how old a run may be and still be reported, so a server
// that was down for a week does not send a week of history at start.
const lookBack = 48 * time.Hour

// Options configures a Notifier.
type Options struct {
	// WebhookPolicy decides which chat webhook addresses may be contacted
	// (the product URL policy: no metadata, link-local or, unless allowed,
	// loopback addresses), checked again at connect time.
	WebhookPolicy products.URLPolicy
	// PublicURL is the console's address as admins reach it
	// (--public-url); links in alerts are relative without it.
	PublicURL string
	// Interval between two checks; default 30 s.
	Interval time.Duration
	// Timeout of one send; default 15 s.
	Timeout time.Duration
	Logger  *slog.Logger
	Now     func() time.Time
}

// Notifier checks for what to report and sends it. Create it with New.
type Notifier struct {
	st   Store
	opt  Options
	log  *slog.Logger
	now  func() time.Time
	mail mailer
	hook webhook
}

// New returns a Notifier over st.
func New(st Store, o Options) *Notifier {
	if o.Interval <= 0 {
		o.Interval = 30 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	return &Notifier{
		st: st, opt: o, log: o.Logger, now: o.Now,
		mail: mailer{timeout: o.Timeout},
		hook: webhook{client: products.NewHTTPClient(o.WebhookPolicy, o.Timeout)},
	}
}

// Run checks every Interval until ctx ends; it returns nil then. A failed
// check is logged and tried again at the next tick.
func (n *Notifier) Run(ctx context.Context) error {
	t := time.NewTicker(n.opt.Interval)
	defer t.Stop()
	for {
		if _, err := n.Check(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("alerts: check failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Check makes one pass: it sends every alert due now on every enabled
// channel and returns how many sends succeeded. Sends that fail are
// recorded and retried at a later pass (at most five times); the error
// returned is about reading the database, not about a channel.
func (n *Notifier) Check(ctx context.Context) (int, error) {
	cfg, _, err := n.st.GetAlertConfig(ctx)
	if err != nil {
		return 0, err
	}
	channels := enabledChannels(cfg)
	if len(channels) == 0 || cfg.EnabledAt.IsZero() {
		return 0, nil
	}
	now := n.now().UTC()
	var due []model.Alert
	var statuses []model.RunStatus
	if cfg.OnHeld {
		statuses = append(statuses, model.RunHeld)
	}
	if cfg.OnFailed {
		statuses = append(statuses, model.RunFailed, runInterrupted)
	}
	since := cfg.EnabledAt
	if lb := now.Add(-lookBack); since.Before(lb) {
		since = lb
	}
	runs, err := n.st.AlertRunCandidates(ctx, since, statuses, channels, cfg.OnlyUnattended, 100)
	if err != nil {
		return 0, err
	}
	if len(runs) > 0 {
		names := n.sourceNames(ctx)
		for i := range runs {
			due = append(due, n.runAlert(&runs[i], names[runs[i].SourceID]))
		}
	}
	if cfg.ProductFailingMinutes > 0 {
		fails, err := n.st.FailingProducts(ctx, now.Add(-time.Duration(cfg.ProductFailingMinutes)*time.Minute))
		if err != nil {
			return 0, err
		}
		for _, f := range fails {
			due = append(due, n.productAlert(f, now))
		}
	}
	sent := 0
	for _, a := range due {
		for _, ch := range channels {
			ok, err := n.deliver(ctx, cfg, ch, a)
			if err != nil {
				return sent, err
			}
			if ok {
				sent++
			}
		}
	}
	return sent, nil
}

// deliver claims a on channel ch and sends it; it reports whether it was
// sent by this call. Only a database failure is returned as an error.
func (n *Notifier) deliver(ctx context.Context, cfg model.AlertConfig, ch string, a model.Alert) (bool, error) {
	key := a.Key + ":" + ch
	ok, err := n.st.ClaimAlert(ctx, key, a.Subject)
	if err != nil || !ok {
		return false, err
	}
	sendErr := n.sendOn(ctx, cfg, ch, a)
	if sendErr != nil {
		n.log.Warn("alerts: send failed", "channel", ch, "alert", a.Key, "err", sendErr)
	} else {
		n.log.Info("alerts: sent", "channel", ch, "alert", a.Key)
	}
	// Recording the outcome must not be lost to a cancelled request.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := n.st.FinishAlert(fctx, key, sendErr, 2*time.Minute); err != nil {
		return false, err
	}
	return sendErr == nil, nil
}

func (n *Notifier) sendOn(ctx context.Context, cfg model.AlertConfig, ch string, a model.Alert) error {
	a.Link = n.link(a.Link)
	switch ch {
	case ChannelEmail:
		return n.mail.send(ctx, cfg, a)
	case ChannelWebhook:
		return n.hook.send(ctx, cfg.WebhookURL, a)
	}
	return fmt.Errorf("alerts: unknown channel %q", ch)
}

// TestResult is the outcome of "Send test" on one channel.
type TestResult struct {
	Channel string // ChannelEmail or ChannelWebhook
	Err     error  // nil: sent
}

// SendTest sends a test alert on every enabled channel of the stored
// configuration, bypassing the once-only bookkeeping. It returns one result
// per enabled channel (none when no channel is enabled) and an error only
// when the configuration cannot be read.
func (n *Notifier) SendTest(ctx context.Context, actor string) ([]TestResult, error) {
	cfg, _, err := n.st.GetAlertConfig(ctx)
	if err != nil {
		return nil, err
	}
	a := model.Alert{
		Key:     "test",
		Subject: "idsync: test alert",
		Body:    fmt.Sprintf("This is a test alert sent by %s from the Alerts page. Held, failed and interrupted runs and failing products will be reported like this.", actor),
		Link:    "/settings/alerts",
	}
	var out []TestResult
	for _, ch := range enabledChannels(cfg) {
		out = append(out, TestResult{Channel: ch, Err: n.sendOn(ctx, cfg, ch, a)})
	}
	return out, nil
}

func enabledChannels(cfg model.AlertConfig) []string {
	var chs []string
	if cfg.EmailEnabled && cfg.SMTPHost != "" && len(cfg.EmailTo) > 0 {
		chs = append(chs, ChannelEmail)
	}
	if cfg.WebhookEnabled && cfg.WebhookURL != "" {
		chs = append(chs, ChannelWebhook)
	}
	return chs
}

func (n *Notifier) link(path string) string {
	if path == "" || n.opt.PublicURL == "" {
		return path
	}
	return n.opt.PublicURL + path
}

func (n *Notifier) sourceNames(ctx context.Context) map[int64]string {
	out := map[int64]string{}
	srcs, err := n.st.ListSources(ctx)
	if err != nil {
		n.log.Warn("alerts: list sources", "err", err)
		return out
	}
	for _, s := range srcs {
		out[s.ID] = s.Name
	}
	return out
}

// kindLabels and triggerLabels are the words alerts use for a run.
var kindLabels = map[model.RunKind]string{
	model.RunPreview:    "sync preview",
	model.RunApply:      "sync",
	model.RunRefresh:    "single-user refresh",
	model.RunReconcile:  "device reconcile",
	model.RunProductAll: "product sync",
}

func triggerLabel(r *model.Run) string {
	switch r.Trigger {
	case model.TriggerSchedule:
		return "the schedule"
	case model.TriggerAPI:
		return "the API"
	case model.TriggerCLI:
		return "the command line"
	}
	if r.Actor != "" {
		return r.Actor
	}
	return "an admin"
}

func (n *Notifier) runAlert(r *model.Run, source string) model.Alert {
	kind := kindLabels[r.Kind]
	if kind == "" {
		kind = "run"
	}
	what := fmt.Sprintf("%s run #%d", kind, r.ID)
	if source != "" {
		what += fmt.Sprintf(" of source %q", source)
	}
	started := fmt.Sprintf("started by %s at %s", triggerLabel(r), r.StartedAt.UTC().Format("2 Jan 2006 15:04 MST"))
	var subject, body string
	switch r.Status {
	case model.RunHeld:
		subject = fmt.Sprintf("idsync: %s was held", what)
		var why []string
		for _, h := range r.Holds {
			why = append(why, "- "+sentence(h.Message))
		}
		if len(why) == 0 && r.Error != "" {
			why = append(why, "- "+sentence(r.Error))
		}
		body = fmt.Sprintf("The %s, %s, was held by a safety guard and changed nothing.\n\nWhy:\n%s\n\nReview the plan; if the changes are intended, apply it with an override.",
			what, started, strings.Join(why, "\n"))
	case runInterrupted:
		subject = fmt.Sprintf("idsync: %s was interrupted", what)
		body = fmt.Sprintf("The %s, %s, was interrupted: %s\n\nThe next run picks up where it stopped.", what, started, sentence(r.Error))
	default:
		verb := "failed"
		if strings.Contains(strings.ToLower(r.Error), "interrupted") {
			verb = "was interrupted"
		}
		subject = fmt.Sprintf("idsync: %s %s", what, verb)
		cause := sentence(r.Error)
		if cause == "" {
			cause = "No cause was recorded."
		}
		body = fmt.Sprintf("The %s, %s, %s.\n\nCause: %s", what, started, verb, cause)
		if r.Done > 0 && r.Total > 0 {
			body += fmt.Sprintf("\n\n%d of %d changes were applied before it stopped.", r.Done, r.Total)
		}
	}
	return model.Alert{Key: fmt.Sprintf("run:%d", r.ID), Subject: subject, Body: body, Link: fmt.Sprintf("/runs/%d", r.ID)}
}

func (n *Notifier) productAlert(f store.ProductFailure, now time.Time) model.Alert {
	users := "1 user is"
	if f.Pending != 1 {
		users = fmt.Sprintf("%d users are", f.Pending)
	}
	body := fmt.Sprintf("Deliveries to product %q have failed since %s (%s) and %s waiting for their changes. Nothing is lost: they are delivered once the product answers again.",
		f.Name, f.Since.UTC().Format("2 Jan 2006 15:04 MST"), ago(now.Sub(f.Since)), users)
	if f.LastError != "" {
		body += "\n\nLast error: " + sentence(f.LastError)
	}
	return model.Alert{
		Key:     fmt.Sprintf("product:%d:%d", f.ProductID, f.Since.Unix()),
		Subject: fmt.Sprintf("idsync: product %q has been failing for %s", f.Name, ago(now.Sub(f.Since))),
		Body:    body,
		Link:    fmt.Sprintf("/products/%d", f.ProductID),
	}
}

// ago renders a duration as people say it: "35 min", "3 h 10 min", "2 days".
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
	return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
}

// sentence trims s and ends it with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasSuffix(s, ".") || strings.HasSuffix(s, "!") || strings.HasSuffix(s, "?") {
		return s
	}
	return s + "."
}
