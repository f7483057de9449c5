-- Same version as postgres/00006_run_items_no_fk.sql. SQLite checks the
-- foreign key of run_items with an index lookup in the same process, which
-- costs little; dropping it would mean rebuilding the table. Nothing to do.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
