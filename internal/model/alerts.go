package model

import "time"

// SMTPSecurity is how the alert e-mail connection is protected.
type SMTPSecurity string

// The SMTP security modes of the Alerts page.
const (
	SMTPStartTLS SMTPSecurity = "starttls" // plain connection upgraded with STARTTLS (port 587); refused without it
	SMTPTLS      SMTPSecurity = "tls"      // TLS from the first byte (port 465)
	SMTPNone     SMTPSecurity = "none"     // no encryption: a relay on the same host or network only
)

// AlertConfig is the Alerts page (SPEC §13): where held, failed or
// interrupted runs and long-failing products are reported.
type AlertConfig struct {
	EmailEnabled bool
	SMTPHost     string
	SMTPPort     int
	SMTPSecurity SMTPSecurity
	SMTPUsername string
	// SMTPPassword is plaintext in memory only, encrypted at rest, never
	// rendered back. On update, "" keeps the stored one.
	SMTPPassword string
	EmailFrom    string
	EmailTo      []string

	WebhookEnabled bool
	// WebhookURL is a chat incoming-webhook URL (Slack or Teams compatible
	// {"text": …}). Such URLs are credentials: encrypted at rest, shown
	// masked. On update, "" keeps the stored one.
	WebhookURL string

	OnHeld   bool // a run stopped by a guard
	OnFailed bool // a run that failed or was interrupted
	// OnlyUnattended limits run alerts to runs nobody watched start:
	// scheduled, API and command-line runs (on by default).
	OnlyUnattended bool
	// ProductFailingMinutes: alert when a product's deliveries have failed
	// for this long with changes still waiting; 0 = never.
	ProductFailingMinutes int

	// EnabledAt is when alerting was last switched on or changed: runs
	// that ended before it are never reported (no flood of history).
	EnabledAt time.Time
	UpdatedAt time.Time
}

// AlertSecrets says which alert secrets are stored, for the page ("stored;
// leave empty to keep"), without the secrets themselves.
type AlertSecrets struct {
	HasSMTPPassword bool
	HasWebhookURL   bool
	// WebhookHost is the stored webhook URL's host, the only part shown.
	WebhookHost string
}

// DefaultAlertConfig is a fresh install's configuration: nothing is sent.
func DefaultAlertConfig() AlertConfig {
	return AlertConfig{
		SMTPPort: 587, SMTPSecurity: SMTPStartTLS,
		OnHeld: true, OnFailed: true, OnlyUnattended: true,
		ProductFailingMinutes: 30,
	}
}

// Alert is one notification, as sent by e-mail and to the chat webhook.
type Alert struct {
	// Key identifies what is reported, so each is sent once across
	// replicas: "run:42", "product:3:1733000000".
	Key     string
	Subject string
	Body    string
	// Link is the console page that shows it ("/runs/42"), made absolute
	// with --public-url when set.
	Link string
}

// AlertRecord is one alert as the Alerts page lists it.
type AlertRecord struct {
	Key       string
	Subject   string
	CreatedAt time.Time
	SentAt    time.Time // zero: not sent (yet)
	Attempts  int
	LastError string
	GaveUp    bool // tried the maximum number of times without success
}
