-- Scheduler: leadership lease and the state of the scheduled refresh.
-- Keep in step with postgres/00004_scheduler.sql.
--
-- On PostgreSQL leadership is a session advisory lock; scheduler_lease is
-- used by SQLite only but exists on both so the schemas stay alike.
-- Lease times are Unix milliseconds: compared as numbers on both databases.

-- +goose Up
CREATE TABLE scheduler_lease (
    name          TEXT PRIMARY KEY,
    holder        TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
);

CREATE TABLE scheduler_state (
    id                    INTEGER PRIMARY KEY CHECK (id = 1),
    last_run_at           DATETIME NULL,
    last_run_finished_at  DATETIME NULL,
    last_run_ids          TEXT NOT NULL DEFAULT '',
    last_status           TEXT NOT NULL DEFAULT '',
    last_error            TEXT NOT NULL DEFAULT '',
    last_trigger          TEXT NOT NULL DEFAULT '',
    last_pruned_at        DATETIME NULL
);
INSERT INTO scheduler_state (id) VALUES (1);

-- +goose Down
DROP TABLE scheduler_state;
DROP TABLE scheduler_lease;
