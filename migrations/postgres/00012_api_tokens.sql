-- API tokens (issue 10): each belongs to a console account, carries a role
-- no higher than the account's, expires, and is stored as the SHA-256 of
-- its secret (the secret is 256 random bits, so a fast hash is enough and a
-- per-request argon2id check is not needed). audit_log.token_id attributes
-- every change made with a token to it; it is not a foreign key so that the
-- audit log outlives deleted tokens.

-- +goose Up
CREATE TABLE api_tokens (
    id           BIGSERIAL PRIMARY KEY,
    admin_id     BIGINT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    role         TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ NULL,
    revoked_by   TEXT NOT NULL DEFAULT '',
    last_used_at TIMESTAMPTZ NULL,
    last_used_ip TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX api_tokens_secret ON api_tokens (secret_hash);
CREATE INDEX api_tokens_admin ON api_tokens (admin_id, id);
ALTER TABLE audit_log ADD COLUMN token_id BIGINT NULL;
CREATE INDEX audit_log_token ON audit_log (token_id) WHERE token_id IS NOT NULL;

-- +goose Down
DROP INDEX IF EXISTS audit_log_token;
ALTER TABLE audit_log DROP COLUMN token_id;
DROP TABLE api_tokens;
