-- Same version as postgres/00005_list_indexes.sql. SQLite's indexes already
-- carry the rowid (id), so the sort indexes of 00001 serve deep pages as
-- covering indexes; only the updated_at sorts need an index.

-- +goose Up
CREATE INDEX users_updated_sort ON users (updated_at, id);
CREATE INDEX devices_updated_sort ON devices (updated_at, id);

-- +goose Down
DROP INDEX IF EXISTS devices_updated_sort;
DROP INDEX IF EXISTS users_updated_sort;
