package store

import (
	"context"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

type alertConfigRow struct {
	ID                    int64 `gorm:"primaryKey"`
	EmailEnabled          bool
	SMTPHost              string `gorm:"column:smtp_host"`
	SMTPPort              int    `gorm:"column:smtp_port"`
	SMTPSecurity          string `gorm:"column:smtp_security"`
	SMTPUsername          string `gorm:"column:smtp_username"`
	SMTPPasswordSealed    string `gorm:"column:smtp_password_sealed"`
	EmailFrom             string
	EmailTo               string
	WebhookEnabled        bool
	WebhookURLSealed      string `gorm:"column:webhook_url_sealed"`
	WebhookHost           string
	OnHeld                bool
	OnFailed              bool
	OnlyUnattended        bool
	ProductFailingMinutes int
	EnabledAt             *time.Time
	UpdatedAt             *time.Time
}

func (alertConfigRow) TableName() string { return "alert_config" }

type alertSentRow struct {
	Key          string `gorm:"primaryKey"`
	Subject      string
	CreatedAt    time.Time
	SentAt       *time.Time
	Attempts     int
	ClaimedUntil int64
	LastError    string
}

func (alertSentRow) TableName() string { return "alerts_sent" }

// Alert delivery limits: an alert is tried at most maxAlertAttempts times,
// each claim lasting alertClaim, so a replica that dies mid-send leaves it
// to another one.
const (
	maxAlertAttempts = 5
	alertClaim       = 2 * time.Minute
)

func (r *alertConfigRow) model() model.AlertConfig {
	c := model.AlertConfig{
		EmailEnabled: r.EmailEnabled, SMTPHost: r.SMTPHost, SMTPPort: r.SMTPPort,
		SMTPSecurity: model.SMTPSecurity(r.SMTPSecurity), SMTPUsername: r.SMTPUsername,
		EmailFrom: r.EmailFrom, WebhookEnabled: r.WebhookEnabled,
		OnHeld: r.OnHeld, OnFailed: r.OnFailed, OnlyUnattended: r.OnlyUnattended,
		ProductFailingMinutes: r.ProductFailingMinutes,
	}
	for _, to := range strings.Split(r.EmailTo, "\n") {
		if to = strings.TrimSpace(to); to != "" {
			c.EmailTo = append(c.EmailTo, to)
		}
	}
	if r.EnabledAt != nil {
		c.EnabledAt = r.EnabledAt.UTC()
	}
	if r.UpdatedAt != nil {
		c.UpdatedAt = r.UpdatedAt.UTC()
	}
	return c
}

func (s *Store) loadAlertRow(tx *gorm.DB) (alertConfigRow, bool, error) {
	var rows []alertConfigRow
	if err := tx.Where("id = 1").Find(&rows).Error; err != nil {
		return alertConfigRow{}, false, fmt.Errorf("store: alert config: %w", err)
	}
	if len(rows) == 0 {
		d := model.DefaultAlertConfig()
		return alertConfigRow{ID: 1, SMTPPort: d.SMTPPort, SMTPSecurity: string(d.SMTPSecurity), OnHeld: d.OnHeld,
			OnFailed: d.OnFailed, OnlyUnattended: d.OnlyUnattended, ProductFailingMinutes: d.ProductFailingMinutes}, false, nil
	}
	return rows[0], true, nil
}

// GetAlertConfig returns the Alerts configuration with its secrets opened
// (for sending; pages must show only AlertSecrets) and what is stored. It
// fails when the database does or a secret cannot be opened with the
// current key.
func (s *Store) GetAlertConfig(ctx context.Context) (model.AlertConfig, model.AlertSecrets, error) {
	r, _, err := s.loadAlertRow(s.db.WithContext(ctx))
	if err != nil {
		return model.AlertConfig{}, model.AlertSecrets{}, err
	}
	c := r.model()
	if c.SMTPPassword, err = s.box.Open(r.SMTPPasswordSealed); err != nil {
		return model.AlertConfig{}, model.AlertSecrets{}, fmt.Errorf("store: alert config: smtp password: %w", err)
	}
	if c.WebhookURL, err = s.box.Open(r.WebhookURLSealed); err != nil {
		return model.AlertConfig{}, model.AlertSecrets{}, fmt.Errorf("store: alert config: webhook url: %w", err)
	}
	return c, model.AlertSecrets{HasSMTPPassword: r.SMTPPasswordSealed != "", HasWebhookURL: r.WebhookURLSealed != "", WebhookHost: r.WebhookHost}, nil
}

// ValidateAlertConfig returns EINVALID with a message per field (keys are
// the form's field names) when c cannot be saved as it is. hasPassword and
// hasWebhook say whether a secret is stored that an empty field keeps.
func ValidateAlertConfig(c model.AlertConfig, hasPassword, hasWebhook bool) error {
	f := fields{}
	f.text("smtp_host", c.SMTPHost, c.EmailEnabled, 253)
	if strings.ContainsAny(c.SMTPHost, " /:@") {
		f.add("smtp_host", "must be a host name or address, without a port or scheme")
	}
	if c.SMTPPort < 1 || c.SMTPPort > 65535 {
		f.add("smtp_port", "must be between 1 and 65535")
	}
	oneOf(f, "smtp_security", c.SMTPSecurity, model.SMTPStartTLS, model.SMTPTLS, model.SMTPNone)
	f.text("smtp_username", c.SMTPUsername, false, 256)
	if c.EmailEnabled || c.EmailFrom != "" {
		if _, err := mail.ParseAddress(c.EmailFrom); err != nil {
			f.add("email_from", "must be an e-mail address")
		}
	}
	if c.EmailEnabled && len(c.EmailTo) == 0 {
		f.add("email_to", "is required: at least one address")
	}
	if len(c.EmailTo) > 50 {
		f.add("email_to", "must be at most 50 addresses")
	}
	for _, to := range c.EmailTo {
		if a, err := mail.ParseAddress(to); err != nil || a.Name != "" {
			f.add("email_to", "%q is not an e-mail address", to)
		}
	}
	if c.WebhookURL != "" {
		if u, err := url.Parse(c.WebhookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			f.add("webhook_url", "must be an http:// or https:// URL")
		} else if u.User != nil {
			f.add("webhook_url", "must not hold a user name or password")
		}
		f.text("webhook_url", c.WebhookURL, false, 2000)
	}
	if c.WebhookEnabled && c.WebhookURL == "" && !hasWebhook {
		f.add("webhook_url", "is required to send chat alerts")
	}
	if c.ProductFailingMinutes < 0 || c.ProductFailingMinutes > 7*24*60 {
		f.add("product_failing_minutes", "must be between 0 and 10080")
	}
	return f.err()
}

// UpdateAlertConfig validates and stores the Alerts configuration. An empty
// SMTPPassword or WebhookURL keeps the stored secret, except that a stored
// password is never kept for another mail server: changing the host, port
// or user name requires the password again (EINVALID), so it cannot be sent
// to a host it was not entered for. An empty user name drops the password.
// Saving with a channel newly enabled moves EnabledAt to now, so runs that
// ended before are not reported. The audit entry holds no secret.
func (s *Store) UpdateAlertConfig(ctx context.Context, c model.AlertConfig) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		old, exists, err := s.loadAlertRow(tx)
		if err != nil {
			return err
		}
		c.SMTPHost = strings.TrimSpace(c.SMTPHost)
		c.SMTPUsername = strings.TrimSpace(c.SMTPUsername)
		c.EmailFrom = strings.TrimSpace(c.EmailFrom)
		c.WebhookURL = strings.TrimSpace(c.WebhookURL)
		serverChanged := c.SMTPHost != old.SMTPHost || c.SMTPPort != old.SMTPPort || c.SMTPUsername != old.SMTPUsername
		if err := ValidateAlertConfig(c, old.SMTPPasswordSealed != "", old.WebhookURLSealed != ""); err != nil {
			return err
		}
		if c.SMTPPassword == "" && old.SMTPPasswordSealed != "" && c.SMTPUsername != "" && serverChanged {
			return model.Invalid(map[string]string{"smtp_password": "Enter the password again: the mail server or user name changed."})
		}
		sealedPass := old.SMTPPasswordSealed
		switch {
		case c.SMTPUsername == "":
			sealedPass = ""
		case c.SMTPPassword != "":
			if sealedPass, err = s.box.Seal(c.SMTPPassword); err != nil {
				return fmt.Errorf("store: alert config: %w", err)
			}
		}
		sealedHook, hookHost := old.WebhookURLSealed, old.WebhookHost
		if c.WebhookURL != "" {
			if sealedHook, err = s.box.Seal(c.WebhookURL); err != nil {
				return fmt.Errorf("store: alert config: %w", err)
			}
			u, _ := url.Parse(c.WebhookURL) // validated above
			hookHost = u.Host
		}
		t := now()
		enabledAt := old.EnabledAt
		wasOn := exists && (old.EmailEnabled || old.WebhookEnabled)
		if (c.EmailEnabled || c.WebhookEnabled) && !wasOn {
			enabledAt = &t
		}
		r := alertConfigRow{
			ID: 1, EmailEnabled: c.EmailEnabled, SMTPHost: c.SMTPHost, SMTPPort: c.SMTPPort,
			SMTPSecurity: string(c.SMTPSecurity), SMTPUsername: c.SMTPUsername, SMTPPasswordSealed: sealedPass,
			EmailFrom: c.EmailFrom, EmailTo: strings.Join(c.EmailTo, "\n"), WebhookEnabled: c.WebhookEnabled,
			WebhookURLSealed: sealedHook, WebhookHost: hookHost, OnHeld: c.OnHeld, OnFailed: c.OnFailed,
			OnlyUnattended: c.OnlyUnattended, ProductFailingMinutes: c.ProductFailingMinutes,
			EnabledAt: enabledAt, UpdatedAt: &t,
		}
		if exists {
			err = tx.Model(&alertConfigRow{}).Where("id = 1").Select("*").Updates(&r).Error
		} else {
			err = tx.Create(&r).Error
		}
		if err != nil {
			return dbErr("store: alert config", err)
		}
		return audit(ctx, tx, "update", "alerts", 0, "updated the alert settings", auditAlerts(old), auditAlerts(r))
	})
}

// auditAlerts is what the audit log keeps of the configuration: whether a
// secret is stored, never the secret.
func auditAlerts(r alertConfigRow) map[string]any {
	return map[string]any{
		"email_enabled": r.EmailEnabled, "smtp_host": r.SMTPHost, "smtp_port": r.SMTPPort,
		"smtp_security": r.SMTPSecurity, "smtp_username": r.SMTPUsername,
		"smtp_password_stored": r.SMTPPasswordSealed != "", "email_from": r.EmailFrom,
		"email_to": r.EmailTo, "webhook_enabled": r.WebhookEnabled, "webhook_host": r.WebhookHost,
		"on_held": r.OnHeld, "on_failed": r.OnFailed, "only_unattended": r.OnlyUnattended,
		"product_failing_minutes": r.ProductFailingMinutes,
	}
}

// AlertRunCandidates returns runs that ended at or after since with one of
// statuses and that are not yet reported on every one of channels (alert
// keys are "run:ID:CHANNEL"; a key tried maxAlertAttempts times counts as
// done), oldest first, at most limit. unattendedOnly leaves out runs an
// admin started in the console.
func (s *Store) AlertRunCandidates(ctx context.Context, since time.Time, statuses []model.RunStatus, channels []string, unattendedOnly bool, limit int) ([]model.Run, error) {
	if len(statuses) == 0 || len(channels) == 0 {
		return nil, nil
	}
	st := make([]string, len(statuses))
	for i, v := range statuses {
		st[i] = string(v)
	}
	since = since.UTC()
	// started_at bounds the scan through its index; a run longer than a
	// day that ended after since is still found.
	q := s.db.WithContext(ctx).Model(&runRow{}).
		Where("started_at >= ? AND finished_at IS NOT NULL AND finished_at >= ? AND status IN ?", since.Add(-24*time.Hour), since, st)
	var done []string
	var args []any
	for _, ch := range channels {
		done = append(done, `EXISTS (SELECT 1 FROM alerts_sent a WHERE a.key = 'run:' || CAST(runs.id AS TEXT) || ?
			AND (a.sent_at IS NOT NULL OR a.attempts >= ?))`)
		args = append(args, ":"+ch, maxAlertAttempts)
	}
	q = q.Where("NOT ("+strings.Join(done, " AND ")+")", args...)
	if unattendedOnly {
		q = q.Where("trigger <> ?", string(model.TriggerAdmin))
	}
	var rows []runRow
	if err := q.Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: alert runs: %w", err)
	}
	out := make([]model.Run, 0, len(rows))
	for i := range rows {
		out = append(out, rows[i].toModel())
	}
	return out, nil
}

// ProductFailure is a product whose deliveries have been failing since
// Since with Pending users still waiting.
type ProductFailure struct {
	ProductID int64
	Name      string
	Since     time.Time
	Pending   int
	LastError string
}

// FailingProducts returns the enabled products with users waiting for a
// delivery whose delivery log shows only failures since a time at or
// before failingSince (the oldest failure after the last success).
func (s *Store) FailingProducts(ctx context.Context, failingSince time.Time) ([]ProductFailure, error) {
	db := s.db.WithContext(ctx)
	type pending struct {
		ProductID int64
		Name      string
		N         int
	}
	var ps []pending
	err := db.Raw(`SELECT p.id AS product_id, p.name AS name, COUNT(*) AS n
		FROM products p JOIN product_user_state u ON u.product_id = p.id
		WHERE p.enabled AND u.wanted_version > u.delivered_version AND u.attempts > 0
		GROUP BY p.id, p.name ORDER BY p.id`).Scan(&ps).Error
	if err != nil {
		return nil, fmt.Errorf("store: failing products: %w", err)
	}
	var out []ProductFailure
	for _, p := range ps {
		var lastOK []int64
		if err := db.Raw(`SELECT COALESCE(MAX(id), 0) FROM product_deliveries WHERE product_id = ? AND error = ''`, p.ProductID).
			Scan(&lastOK).Error; err != nil {
			return nil, fmt.Errorf("store: failing products: %w", err)
		}
		var first []deliveryRow
		if err := db.Where("product_id = ? AND id > ? AND error <> ''", p.ProductID, lastOK[0]).Order("id").Limit(1).
			Find(&first).Error; err != nil {
			return nil, fmt.Errorf("store: failing products: %w", err)
		}
		if len(first) == 0 || first[0].At.After(failingSince) {
			continue
		}
		var last []deliveryRow
		if err := db.Where("product_id = ? AND error <> ''", p.ProductID).Order("id DESC").Limit(1).Find(&last).Error; err != nil {
			return nil, fmt.Errorf("store: failing products: %w", err)
		}
		f := ProductFailure{ProductID: p.ProductID, Name: p.Name, Since: first[0].At.UTC(), Pending: p.N}
		if len(last) > 0 {
			f.LastError = last[0].Error
		}
		out = append(out, f)
	}
	return out, nil
}

// AlertSent reports whether the alert with key was sent already.
func (s *Store) AlertSent(ctx context.Context, key string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&alertSentRow{}).Where("key = ? AND sent_at IS NOT NULL", key).Count(&n).Error
	return n > 0, dbErr("store: alert sent", err)
}

// ClaimAlert reserves the alert with key for this caller to send, once
// across replicas: it returns true when the caller should send it now
// (first try, or a retry whose earlier claim ran out), false when it was
// sent already, is being sent elsewhere, or was tried maxAlertAttempts
// times.
func (s *Store) ClaimAlert(ctx context.Context, key, subject string) (bool, error) {
	nowT := now()
	until := nowT.Add(alertClaim).UnixMilli()
	res := s.db.WithContext(ctx).Exec(`INSERT INTO alerts_sent (key, subject, created_at, attempts, claimed_until, last_error)
		VALUES (?, ?, ?, 1, ?, '')
		ON CONFLICT (key) DO UPDATE SET attempts = alerts_sent.attempts + 1, claimed_until = excluded.claimed_until
		WHERE alerts_sent.sent_at IS NULL AND alerts_sent.claimed_until < ? AND alerts_sent.attempts < ?`,
		key, truncateText(subject, 500), nowT, until, nowT.UnixMilli(), maxAlertAttempts)
	if res.Error != nil {
		return false, fmt.Errorf("store: claim alert %s: %w", key, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// FinishAlert records the outcome of a claimed alert: sent when sendErr is
// nil; otherwise the error is kept and the alert may be claimed again after
// retryAfter.
func (s *Store) FinishAlert(ctx context.Context, key string, sendErr error, retryAfter time.Duration) error {
	db := s.db.WithContext(ctx).Model(&alertSentRow{}).Where("key = ?", key)
	var err error
	if sendErr == nil {
		err = db.Updates(map[string]any{"sent_at": now(), "last_error": "", "claimed_until": 0}).Error
	} else {
		err = db.Updates(map[string]any{"last_error": truncateText(sendErr.Error(), 1000),
			"claimed_until": now().Add(retryAfter).UnixMilli()}).Error
	}
	return dbErr("store: finish alert", err)
}

// RecentAlerts returns the newest alerts (sent, failing or abandoned),
// newest first, for the Alerts page.
func (s *Store) RecentAlerts(ctx context.Context, limit int) ([]model.AlertRecord, error) {
	var rows []alertSentRow
	if err := s.db.WithContext(ctx).Order("created_at DESC, key").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: recent alerts: %w", err)
	}
	out := make([]model.AlertRecord, len(rows))
	for i, r := range rows {
		out[i] = model.AlertRecord{Key: r.Key, Subject: r.Subject, CreatedAt: r.CreatedAt.UTC(), Attempts: r.Attempts, LastError: r.LastError}
		if r.SentAt != nil {
			out[i].SentAt = r.SentAt.UTC()
		}
		out[i].GaveUp = r.SentAt == nil && r.Attempts >= maxAlertAttempts
	}
	return out, nil
}
