-- Sync runs: every preview, apply, one-user refresh and device reconcile,
-- its stored plan (apply executes exactly the previewed plan), its items
-- with their outcome, and the lock row SQLite uses to let one apply run at
-- a time (PostgreSQL uses an advisory lock instead; the table exists on
-- both so the schemas match). Keep in step with sqlite/00002_runs.sql.

-- +goose Up
CREATE TABLE runs (
    id             BIGSERIAL PRIMARY KEY,
    kind           TEXT NOT NULL,
    trigger        TEXT NOT NULL,
    actor          TEXT NOT NULL DEFAULT '',
    source_id      BIGINT NOT NULL DEFAULT 0,
    user_id        BIGINT NOT NULL DEFAULT 0,
    preview_run_id BIGINT NOT NULL DEFAULT 0,
    status         TEXT NOT NULL,
    phase          TEXT NOT NULL DEFAULT '',
    done           INTEGER NOT NULL DEFAULT 0,
    total          INTEGER NOT NULL DEFAULT 0,
    counts         TEXT NOT NULL DEFAULT '{}',
    holds          TEXT NOT NULL DEFAULT '[]',
    snapshot_hash  TEXT NOT NULL DEFAULT '',
    state_hash     TEXT NOT NULL DEFAULT '',
    error          TEXT NOT NULL DEFAULT '',
    log            TEXT NOT NULL DEFAULT '',
    baseline       TEXT NOT NULL DEFAULT '',
    started_at     TIMESTAMPTZ NOT NULL,
    finished_at    TIMESTAMPTZ NULL
);
CREATE INDEX runs_started ON runs (started_at, id);
CREATE INDEX runs_kind_status ON runs (kind, status, id);

-- The plan of a preview, gzip-compressed JSON.
CREATE TABLE run_plans (
    run_id BIGINT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    plan   BYTEA NOT NULL
);

CREATE TABLE run_items (
    run_id    BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    phase     TEXT NOT NULL,
    kind      TEXT NOT NULL,
    performed BOOLEAN NOT NULL,
    user_id   BIGINT NOT NULL DEFAULT 0,
    username  TEXT NOT NULL DEFAULT '',
    object    TEXT NOT NULL DEFAULT '',
    old_value TEXT NOT NULL DEFAULT '',
    new_value TEXT NOT NULL DEFAULT '',
    reason    TEXT NOT NULL DEFAULT '',
    outcome   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE sync_lock (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE IF EXISTS sync_lock;
DROP TABLE IF EXISTS run_items;
DROP TABLE IF EXISTS run_plans;
DROP TABLE IF EXISTS runs;
