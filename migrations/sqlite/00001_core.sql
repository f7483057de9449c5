-- Core schema: users, enterprise attributes, devices, service groups,
-- profiles, settings, console admins, audit log, directory sources and the
-- group / provisioning mappings. Keep in step with postgres/00001_core.sql.
--
-- *_key columns hold a lower-cased copy (computed by the store) for
-- case-insensitive uniqueness and sorting that behave the same on both
-- databases; "search" holds the lower-cased text a list search matches.

-- +goose Up
CREATE TABLE attribute_defs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    key              TEXT NOT NULL,
    name             TEXT NOT NULL,
    enterprise_group BOOLEAN NOT NULL DEFAULT FALSE,
    position         INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX attribute_defs_key ON attribute_defs (key);
CREATE UNIQUE INDEX attribute_defs_name ON attribute_defs (lower(name));

INSERT INTO attribute_defs (key, name, enterprise_group, position) VALUES
    ('location',       'Location',       TRUE,  1),
    ('corporate_unit', 'Corporate unit', TRUE,  2),
    ('cost_center',    'Cost center',    TRUE,  3),
    ('department',     'Department',     FALSE, 4),
    ('title',          'Title',          FALSE, 5);

CREATE TABLE sources (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    name                 TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    urls                 TEXT NOT NULL DEFAULT '[]',
    start_tls            BOOLEAN NOT NULL DEFAULT FALSE,
    ca_cert              TEXT NOT NULL DEFAULT '',
    server_name          TEXT NOT NULL DEFAULT '',
    bind_dn              TEXT NOT NULL DEFAULT '',
    bind_password_sealed TEXT NOT NULL DEFAULT '',
    user_base_dn         TEXT NOT NULL DEFAULT '',
    user_filter          TEXT NOT NULL DEFAULT '',
    group_base_dn        TEXT NOT NULL DEFAULT '',
    group_filter         TEXT NOT NULL DEFAULT '',
    member_attr          TEXT NOT NULL DEFAULT '',
    page_size            INTEGER NOT NULL DEFAULT 500,
    timeout_ms           INTEGER NOT NULL DEFAULT 30000,
    attribute_map        TEXT NOT NULL DEFAULT '{}',
    demo                 BOOLEAN NOT NULL DEFAULT FALSE,
    enabled              BOOLEAN NOT NULL DEFAULT TRUE,
    created_at           DATETIME NOT NULL,
    updated_at           DATETIME NOT NULL,
    last_test_at         DATETIME NULL,
    last_test_error      TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX sources_name ON sources (lower(name));

CREATE TABLE users (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    username         TEXT NOT NULL,
    username_key     TEXT NOT NULL,
    email            TEXT NOT NULL DEFAULT '',
    email_key        TEXT NOT NULL DEFAULT '',
    display_name     TEXT NOT NULL DEFAULT '',
    search           TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL DEFAULT 'active',
    origin           TEXT NOT NULL DEFAULT 'local',
    account_type     TEXT NOT NULL DEFAULT 'device_enabled',
    source_id        INTEGER NULL REFERENCES sources (id) ON DELETE RESTRICT,
    external_id      TEXT NOT NULL DEFAULT '',
    dn               TEXT NOT NULL DEFAULT '',
    disabled_by_sync BOOLEAN NOT NULL DEFAULT FALSE,
    version          INTEGER NOT NULL DEFAULT 1,
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL
);
CREATE UNIQUE INDEX users_username_key ON users (username_key);
CREATE UNIQUE INDEX users_email_key ON users (email_key) WHERE email_key <> '';
CREATE UNIQUE INDEX users_external_id ON users (source_id, external_id) WHERE external_id <> '';
CREATE INDEX users_email_sort ON users (email_key, id);
CREATE INDEX users_display_name_sort ON users (lower(display_name), id);
CREATE INDEX users_status_sort ON users (status, id);
CREATE INDEX users_origin_sort ON users (origin, id);

CREATE TABLE user_attribute_values (
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    attribute_id INTEGER NOT NULL REFERENCES attribute_defs (id) ON DELETE CASCADE,
    value        TEXT NOT NULL,
    PRIMARY KEY (user_id, attribute_id)
);
CREATE INDEX user_attribute_values_attr ON user_attribute_values (attribute_id);

CREATE TABLE devices (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    serial     TEXT NOT NULL DEFAULT '',
    platform   TEXT NOT NULL DEFAULT '',
    search     TEXT NOT NULL DEFAULT '',
    user_id    INTEGER NULL REFERENCES users (id) ON DELETE SET NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX devices_serial_key ON devices (lower(serial)) WHERE serial <> '';
CREATE INDEX devices_user ON devices (user_id);
CREATE INDEX devices_name_sort ON devices (lower(name), id);
CREATE INDEX devices_serial_sort ON devices (lower(serial), id);
CREATE INDEX devices_platform_sort ON devices (lower(platform), id);

CREATE TABLE device_attribute_values (
    device_id    INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    attribute_id INTEGER NOT NULL REFERENCES attribute_defs (id) ON DELETE CASCADE,
    value        TEXT NOT NULL,
    PRIMARY KEY (device_id, attribute_id)
);
CREATE INDEX device_attribute_values_attr ON device_attribute_values (attribute_id);

CREATE TABLE service_groups (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL
);
CREATE UNIQUE INDEX service_groups_name ON service_groups (lower(name));

-- Rules reference attributes without cascade: dropping a condition silently
-- would widen who a rule set matches, so an attribute in use cannot go.
CREATE TABLE service_group_rules (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    service_group_id INTEGER NOT NULL REFERENCES service_groups (id) ON DELETE CASCADE,
    attribute_id     INTEGER NOT NULL REFERENCES attribute_defs (id) ON DELETE RESTRICT,
    value            TEXT NOT NULL,
    position         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX service_group_rules_group ON service_group_rules (service_group_id, position);
CREATE INDEX service_group_rules_attr ON service_group_rules (attribute_id);

CREATE TABLE service_group_members (
    service_group_id INTEGER NOT NULL REFERENCES service_groups (id) ON DELETE CASCADE,
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    manual           BOOLEAN NOT NULL DEFAULT FALSE,
    created_at       DATETIME NOT NULL,
    PRIMARY KEY (service_group_id, user_id)
);
CREATE INDEX service_group_members_user ON service_group_members (user_id);

CREATE TABLE profiles (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    sync_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   DATETIME NOT NULL,
    updated_at   DATETIME NOT NULL
);
CREATE UNIQUE INDEX profiles_name ON profiles (lower(name));

CREATE TABLE profile_rules (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    profile_id   INTEGER NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    attribute_id INTEGER NOT NULL REFERENCES attribute_defs (id) ON DELETE RESTRICT,
    value        TEXT NOT NULL,
    position     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX profile_rules_profile ON profile_rules (profile_id, position);
CREATE INDEX profile_rules_attr ON profile_rules (attribute_id);

CREATE TABLE profile_members (
    profile_id INTEGER NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    manual     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (profile_id, user_id)
);
CREATE INDEX profile_members_user ON profile_members (user_id);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO settings (key, value) VALUES
    ('sync_enterprise_groups_to_devices', 'false'),
    ('sync_devices_to_users', 'false'),
    ('auto_profile_sync', 'true'),
    ('refresh_interval_hours', '48'),
    ('refresh_start_time', '02:00'),
    ('time_zone', ''),
    ('provisioning_enabled', 'false'),
    ('deprovisioning_enabled', 'false'),
    ('deprovision_action', 'delete'),
    ('service_group_membership', 'single'),
    ('delete_threshold_count', '500'),
    ('delete_threshold_percent', '10'),
    ('shrink_threshold_percent', '20'),
    ('auto_product_sync', 'true'),
    ('run_retention_days', '90'),
    ('installed_at', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));

CREATE TABLE admins (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    created_at    DATETIME NOT NULL,
    last_login_at DATETIME NULL
);
CREATE UNIQUE INDEX admins_username ON admins (lower(username));

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          DATETIME NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id   INTEGER NOT NULL DEFAULT 0,
    summary     TEXT NOT NULL DEFAULT '',
    before_json TEXT NOT NULL DEFAULT '',
    after_json  TEXT NOT NULL DEFAULT '',
    search      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_object ON audit_log (object_type, object_id);

CREATE TABLE group_mappings (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id        INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    group_dn         TEXT NOT NULL,
    group_dn_key     TEXT NOT NULL,
    service_group_id INTEGER NOT NULL REFERENCES service_groups (id) ON DELETE CASCADE,
    nested           BOOLEAN NOT NULL DEFAULT TRUE,
    force_sync       BOOLEAN NOT NULL DEFAULT FALSE,
    priority         INTEGER NOT NULL DEFAULT 100,
    created_at       DATETIME NOT NULL
);
CREATE UNIQUE INDEX group_mappings_dn ON group_mappings (source_id, group_dn_key);
CREATE INDEX group_mappings_service_group ON group_mappings (service_group_id);

CREATE TABLE provisioning_mappings (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id    INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    group_dn     TEXT NOT NULL,
    group_dn_key TEXT NOT NULL,
    account_type TEXT NOT NULL,
    nested       BOOLEAN NOT NULL DEFAULT TRUE,
    priority     INTEGER NOT NULL DEFAULT 100,
    created_at   DATETIME NOT NULL
);
CREATE UNIQUE INDEX provisioning_mappings_dn ON provisioning_mappings (source_id, group_dn_key);

-- +goose Down
DROP TABLE IF EXISTS provisioning_mappings;
DROP TABLE IF EXISTS group_mappings;
DROP TABLE IF EXISTS audit_log;
DROP TABLE IF EXISTS admins;
DROP TABLE IF EXISTS settings;
DROP TABLE IF EXISTS profile_members;
DROP TABLE IF EXISTS profile_rules;
DROP TABLE IF EXISTS profiles;
DROP TABLE IF EXISTS service_group_members;
DROP TABLE IF EXISTS service_group_rules;
DROP TABLE IF EXISTS service_groups;
DROP TABLE IF EXISTS device_attribute_values;
DROP TABLE IF EXISTS devices;
DROP TABLE IF EXISTS user_attribute_values;
DROP TABLE IF EXISTS users;
DROP TABLE IF EXISTS sources;
DROP TABLE IF EXISTS attribute_defs;
