-- Plan lines and reports are written hundreds of thousands at a time (a
-- first sync of 100k users stores ~280k lines). The foreign key to runs
-- doubled the cost of that write: PostgreSQL checks it with a trigger per
-- row. Items are only ever deleted together with their run (PruneRuns
-- deletes both in one transaction), so the key guarded nothing in practice.

-- +goose Up
ALTER TABLE run_items DROP CONSTRAINT IF EXISTS run_items_run_id_fkey;

-- +goose Down
DELETE FROM run_items WHERE run_id NOT IN (SELECT id FROM runs);
ALTER TABLE run_items ADD CONSTRAINT run_items_run_id_fkey FOREIGN KEY (run_id) REFERENCES runs (id) ON DELETE CASCADE;
