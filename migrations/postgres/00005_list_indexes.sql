-- Deep pages of the users and devices lists read the page's ids from an
-- index alone (an index-only scan), then fetch those 50 rows. PostgreSQL
-- does that with an expression index only when the expression's column is
-- in the index too, hence the INCLUDE columns. SQLite needs none of this:
-- its indexes always carry the rowid (see sqlite/00005_list_indexes.sql).

-- +goose Up
CREATE INDEX users_username_page ON users (username_key, id);
DROP INDEX users_display_name_sort;
CREATE INDEX users_display_name_sort ON users (lower(display_name), id) INCLUDE (display_name);
CREATE INDEX users_updated_sort ON users (updated_at, id);
DROP INDEX devices_name_sort;
CREATE INDEX devices_name_sort ON devices (lower(name), id) INCLUDE (name);
DROP INDEX devices_serial_sort;
CREATE INDEX devices_serial_sort ON devices (lower(serial), id) INCLUDE (serial);
DROP INDEX devices_platform_sort;
CREATE INDEX devices_platform_sort ON devices (lower(platform), id) INCLUDE (platform);
CREATE INDEX devices_updated_sort ON devices (updated_at, id);

-- +goose Down
DROP INDEX IF EXISTS devices_updated_sort;
DROP INDEX IF EXISTS devices_platform_sort;
CREATE INDEX devices_platform_sort ON devices (lower(platform), id);
DROP INDEX IF EXISTS devices_serial_sort;
CREATE INDEX devices_serial_sort ON devices (lower(serial), id);
DROP INDEX IF EXISTS devices_name_sort;
CREATE INDEX devices_name_sort ON devices (lower(name), id);
DROP INDEX IF EXISTS users_updated_sort;
DROP INDEX IF EXISTS users_display_name_sort;
CREATE INDEX users_display_name_sort ON users (lower(display_name), id);
DROP INDEX IF EXISTS users_username_page;
