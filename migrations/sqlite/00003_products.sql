-- Products (SPEC §9): downstream applications, their instance assignment,
-- the level-triggered outbox (one row per product × user) and the delivery
-- log. Keep in step with postgres/00003_products.sql.
--
-- Times the dispatcher compares (next_attempt_at, locked_until) are Unix
-- milliseconds so that both dialects compare them the same way.
-- product_user_state.user_id has no foreign key on purpose: a deleted user
-- keeps its row until the product has been told about the deletion.

-- +goose Up
CREATE TABLE products (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    base_url        TEXT NOT NULL,
    secret_sealed   TEXT NOT NULL DEFAULT '',
    attribute_map   TEXT NOT NULL DEFAULT '{}',
    all_users       BOOLEAN NOT NULL DEFAULT TRUE,
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    max_concurrency INTEGER NOT NULL DEFAULT 4,
    rate_per_second INTEGER NOT NULL DEFAULT 0,
    created_at      DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL
);
CREATE UNIQUE INDEX products_name ON products (lower(name));

CREATE TABLE product_service_groups (
    product_id       BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    service_group_id BIGINT NOT NULL REFERENCES service_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (product_id, service_group_id)
);
CREATE INDEX product_service_groups_group ON product_service_groups (service_group_id);

CREATE TABLE product_user_state (
    product_id        BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    user_id           BIGINT NOT NULL,
    username          TEXT NOT NULL DEFAULT '',
    wanted_version    BIGINT NOT NULL DEFAULT 0,
    delivered_version BIGINT NOT NULL DEFAULT 0,
    assigned          BOOLEAN NOT NULL DEFAULT TRUE,
    deleted           BOOLEAN NOT NULL DEFAULT FALSE,
    remote_id         TEXT NOT NULL DEFAULT '',
    remote_version    TEXT NOT NULL DEFAULT '',
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT NOT NULL DEFAULT 0,
    locked_until      BIGINT NOT NULL DEFAULT 0,
    lock_owner        TEXT NOT NULL DEFAULT '',
    last_error        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (product_id, user_id)
);
CREATE INDEX product_user_state_pending ON product_user_state (product_id, next_attempt_at)
    WHERE wanted_version > delivered_version;
CREATE INDEX product_user_state_user ON product_user_state (user_id);

CREATE TABLE product_deliveries (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL DEFAULT 0,
    username   TEXT NOT NULL DEFAULT '',
    method     TEXT NOT NULL DEFAULT '',
    url        TEXT NOT NULL DEFAULT '',
    status     INTEGER NOT NULL DEFAULT 0,
    error      TEXT NOT NULL DEFAULT '',
    latency_ms INTEGER NOT NULL DEFAULT 0,
    request    TEXT NOT NULL DEFAULT '',
    response   TEXT NOT NULL DEFAULT '',
    at         DATETIME NOT NULL
);
CREATE INDEX product_deliveries_product ON product_deliveries (product_id, id);

-- +goose Down
DROP TABLE IF EXISTS product_deliveries;
DROP TABLE IF EXISTS product_user_state;
DROP TABLE IF EXISTS product_service_groups;
DROP TABLE IF EXISTS products;
