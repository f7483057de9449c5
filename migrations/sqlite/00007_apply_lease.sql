-- Apply survives interruptions (issue 15). Keep in step with
-- postgres/00007_apply_lease.sql.
--
-- apply_lease: the one row that lets one apply run at a time, on both
-- databases. Its holder renews expires_at_ms; every apply batch checks,
-- inside its own transaction, that generation is still the one its run
-- took (a fencing token) and renews the row in that transaction, so a run
-- that lost the lease can never commit another batch.
-- runs.heartbeat_at_ms: a running run's process touches it while it runs,
-- so clean-up marks a run interrupted only when nobody has touched it.
-- runs.plan_hash / runs.read_marker: what "stale" compares (the plan
-- itself, not its inputs) and the directory's change marker at the read.
-- run_deliveries: users an apply changed whose product delivery waits for
-- the run's last change to them (one delivery per user per run).
-- Times are Unix milliseconds, compared as numbers on both databases.

-- +goose Up
CREATE TABLE apply_lease (
    name          TEXT PRIMARY KEY,
    holder        TEXT NOT NULL DEFAULT '',
    generation    INTEGER NOT NULL DEFAULT 0,
    run_id        INTEGER NOT NULL DEFAULT 0,
    expires_at_ms INTEGER NOT NULL DEFAULT 0
);
INSERT INTO apply_lease (name) VALUES ('apply');

ALTER TABLE runs ADD COLUMN heartbeat_at_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN plan_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN read_marker TEXT NOT NULL DEFAULT '';

CREATE TABLE run_deliveries (
    run_id  INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    PRIMARY KEY (run_id, user_id)
);

-- +goose Down
DROP TABLE run_deliveries;
ALTER TABLE runs DROP COLUMN read_marker;
ALTER TABLE runs DROP COLUMN plan_hash;
ALTER TABLE runs DROP COLUMN heartbeat_at_ms;
DROP TABLE apply_lease;
