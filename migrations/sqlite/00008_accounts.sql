-- Console accounts (issue 16): status, directory sign-in, TOTP, revocable
-- sessions, one-time password-reset links, recovery codes and the console's
-- sign-in settings. Keep in step with postgres/00008_accounts.sql.

-- +goose Up
ALTER TABLE admins ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
-- auth_source_id: NULL = the local password; else the directory source
-- whose LDAP bind checks the password.
ALTER TABLE admins ADD COLUMN auth_source_id INTEGER NULL;
ALTER TABLE admins ADD COLUMN directory_dn TEXT NOT NULL DEFAULT '';
ALTER TABLE admins ADD COLUMN directory_checked_at DATETIME NULL;
ALTER TABLE admins ADD COLUMN password_changed_at DATETIME NULL;
-- totp_secret is sealed with the secret key; totp_enabled_at NULL = no MFA
-- (a secret without it is an enrolment not yet confirmed).
ALTER TABLE admins ADD COLUMN totp_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE admins ADD COLUMN totp_enabled_at DATETIME NULL;
-- totp_last_step: the last accepted RFC 6238 time step, so a code is used once.
ALTER TABLE admins ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;

-- The cookie carries a random id; only its SHA-256 is stored.
CREATE TABLE admin_sessions (
    id_hash      TEXT PRIMARY KEY,
    admin_id     INTEGER NULL REFERENCES admins (id) ON DELETE CASCADE,
    data         TEXT NOT NULL DEFAULT '',
    created_at   DATETIME NOT NULL,
    -- unix seconds: compared on every request, the same on both databases
    last_seen    INTEGER NOT NULL,
    expires      INTEGER NOT NULL,
    client_ip    TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX admin_sessions_admin ON admin_sessions (admin_id);
CREATE INDEX admin_sessions_expires ON admin_sessions (expires);
CREATE INDEX admin_sessions_last_seen ON admin_sessions (last_seen);

CREATE TABLE admin_recovery_codes (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    admin_id  INTEGER NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at   DATETIME NULL
);
CREATE INDEX admin_recovery_codes_admin ON admin_recovery_codes (admin_id);

CREATE TABLE admin_password_resets (
    token_hash TEXT PRIMARY KEY,
    admin_id   INTEGER NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    created_by TEXT NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL,
    expires    INTEGER NOT NULL, -- unix seconds
    used_at    DATETIME NULL
);
CREATE INDEX admin_password_resets_admin ON admin_password_resets (admin_id);

-- One row: how the console signs people in.
CREATE TABLE console_auth (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    require_admin_mfa   BOOLEAN NOT NULL DEFAULT FALSE,
    directory_source_id INTEGER NULL,
    admin_group_dn      TEXT NOT NULL DEFAULT '',
    auditor_group_dn    TEXT NOT NULL DEFAULT '',
    directory_recheck_s INTEGER NOT NULL DEFAULT 300
);
INSERT INTO console_auth (id) VALUES (1);

-- +goose Down
DROP TABLE IF EXISTS console_auth;
DROP TABLE IF EXISTS admin_password_resets;
DROP TABLE IF EXISTS admin_recovery_codes;
DROP TABLE IF EXISTS admin_sessions;
ALTER TABLE admins DROP COLUMN totp_last_step;
ALTER TABLE admins DROP COLUMN totp_enabled_at;
ALTER TABLE admins DROP COLUMN totp_secret;
ALTER TABLE admins DROP COLUMN password_changed_at;
ALTER TABLE admins DROP COLUMN directory_checked_at;
ALTER TABLE admins DROP COLUMN directory_dn;
ALTER TABLE admins DROP COLUMN auth_source_id;
ALTER TABLE admins DROP COLUMN status;
