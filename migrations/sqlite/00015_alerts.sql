-- Alerts (SPEC §13): one configuration row (e-mail through SMTP and a
-- chat webhook; secrets sealed with the secret key), and one row per alert
-- sent or being sent, keyed by what it reports, so that every held, failed
-- or interrupted run and every product failure episode is reported once
-- across replicas. Keep in step with postgres/00015_alerts.sql.

-- +goose Up
CREATE TABLE alert_config (
    id                      INTEGER PRIMARY KEY CHECK (id = 1),
    email_enabled           BOOLEAN NOT NULL DEFAULT FALSE,
    smtp_host               TEXT NOT NULL DEFAULT '',
    smtp_port               INTEGER NOT NULL DEFAULT 587,
    smtp_security           TEXT NOT NULL DEFAULT 'starttls',
    smtp_username           TEXT NOT NULL DEFAULT '',
    smtp_password_sealed    TEXT NOT NULL DEFAULT '',
    email_from              TEXT NOT NULL DEFAULT '',
    email_to                TEXT NOT NULL DEFAULT '',
    webhook_enabled         BOOLEAN NOT NULL DEFAULT FALSE,
    webhook_url_sealed      TEXT NOT NULL DEFAULT '',
    webhook_host            TEXT NOT NULL DEFAULT '',
    on_held                 BOOLEAN NOT NULL DEFAULT TRUE,
    on_failed               BOOLEAN NOT NULL DEFAULT TRUE,
    only_unattended         BOOLEAN NOT NULL DEFAULT TRUE,
    product_failing_minutes INTEGER NOT NULL DEFAULT 30,
    enabled_at              DATETIME NULL,
    updated_at              DATETIME NULL
);

CREATE TABLE alerts_sent (
    key           TEXT PRIMARY KEY,
    subject       TEXT NOT NULL DEFAULT '',
    created_at    DATETIME NOT NULL,
    sent_at       DATETIME NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    last_error    TEXT NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE IF EXISTS alerts_sent;
DROP TABLE IF EXISTS alert_config;
