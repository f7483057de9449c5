-- API tokens; see postgres/00012_api_tokens.sql.

-- +goose Up
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    admin_id     INTEGER NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    role         TEXT NOT NULL,
    created_at   DATETIME NOT NULL,
    expires_at   DATETIME NOT NULL,
    revoked_at   DATETIME NULL,
    revoked_by   TEXT NOT NULL DEFAULT '',
    last_used_at DATETIME NULL,
    last_used_ip TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX api_tokens_secret ON api_tokens (secret_hash);
CREATE INDEX api_tokens_admin ON api_tokens (admin_id, id);
ALTER TABLE audit_log ADD COLUMN token_id INTEGER NULL;
CREATE INDEX audit_log_token ON audit_log (token_id) WHERE token_id IS NOT NULL;

-- +goose Down
DROP INDEX IF EXISTS audit_log_token;
ALTER TABLE audit_log DROP COLUMN token_id;
DROP TABLE api_tokens;
