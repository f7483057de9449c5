-- Products against real SCIM providers (issue 14). Keep in step with
-- postgres/00011_products_scim.sql.
--
-- * Given and family name are enterprise attributes read from the
--   directory (givenName / sn by default, per source in its attribute map).
-- * Per product: update by PATCH or PUT, optional push of service groups,
--   tries before a permanent failure needs attention, failing state (401 /
--   403) with its reason.
-- * Per (product, user) pair: needs attention, the representation last
--   delivered (so PATCH sends only what changed and removes only what idsync
--   set), and the last failed request and answer.
-- * product_group_state: the outbox of service groups pushed as SCIM
--   Groups, level-triggered like product_user_state.

-- +goose Up
INSERT INTO attribute_defs (key, name, enterprise_group, position)
SELECT 'given_name', 'Given name', FALSE, COALESCE(MAX(position), 0) + 1 FROM attribute_defs
WHERE NOT EXISTS (SELECT 1 FROM attribute_defs WHERE key = 'given_name' OR lower(name) = 'given name');
INSERT INTO attribute_defs (key, name, enterprise_group, position)
SELECT 'family_name', 'Family name', FALSE, COALESCE(MAX(position), 0) + 1 FROM attribute_defs
WHERE NOT EXISTS (SELECT 1 FROM attribute_defs WHERE key = 'family_name' OR lower(name) = 'family name');

-- Existing sources read givenName / sn unless they map the keys already.
UPDATE sources SET attribute_map = json_set(attribute_map, '$.Enterprise', json_patch(
    '{"given_name": "givenName", "family_name": "sn"}',
    CASE WHEN json_type(attribute_map, '$.Enterprise') = 'object'
         THEN json_extract(attribute_map, '$.Enterprise') ELSE '{}' END))
WHERE attribute_map <> '' AND json_valid(attribute_map) AND json_type(attribute_map) = 'object';

ALTER TABLE products ADD COLUMN update_mode TEXT NOT NULL DEFAULT 'patch';
ALTER TABLE products ADD COLUMN push_groups BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE products ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 5;
ALTER TABLE products ADD COLUMN failing_since BIGINT NOT NULL DEFAULT 0;
ALTER TABLE products ADD COLUMN failing_reason TEXT NOT NULL DEFAULT '';

ALTER TABLE product_user_state ADD COLUMN attention BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE product_user_state ADD COLUMN delivered_doc TEXT NOT NULL DEFAULT '';
ALTER TABLE product_user_state ADD COLUMN last_status INTEGER NOT NULL DEFAULT 0;
ALTER TABLE product_user_state ADD COLUMN last_request TEXT NOT NULL DEFAULT '';
ALTER TABLE product_user_state ADD COLUMN last_response TEXT NOT NULL DEFAULT '';
CREATE INDEX product_user_state_attention ON product_user_state (product_id) WHERE attention;

CREATE TABLE product_group_state (
    product_id        BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    group_id          BIGINT NOT NULL,
    name              TEXT NOT NULL DEFAULT '',
    wanted_version    BIGINT NOT NULL DEFAULT 0,
    delivered_version BIGINT NOT NULL DEFAULT 0,
    deleted           BOOLEAN NOT NULL DEFAULT FALSE,
    remote_id         TEXT NOT NULL DEFAULT '',
    remote_version    TEXT NOT NULL DEFAULT '',
    delivered_doc     TEXT NOT NULL DEFAULT '',
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT NOT NULL DEFAULT 0,
    locked_until      BIGINT NOT NULL DEFAULT 0,
    lock_owner        TEXT NOT NULL DEFAULT '',
    last_error        TEXT NOT NULL DEFAULT '',
    attention         BOOLEAN NOT NULL DEFAULT FALSE,
    last_status       INTEGER NOT NULL DEFAULT 0,
    last_request      TEXT NOT NULL DEFAULT '',
    last_response     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (product_id, group_id)
);
CREATE INDEX product_group_state_pending ON product_group_state (product_id, next_attempt_at)
    WHERE wanted_version > delivered_version;

-- +goose Down
DROP TABLE IF EXISTS product_group_state;
DROP INDEX IF EXISTS product_user_state_attention;
ALTER TABLE product_user_state DROP COLUMN last_response;
ALTER TABLE product_user_state DROP COLUMN last_request;
ALTER TABLE product_user_state DROP COLUMN last_status;
ALTER TABLE product_user_state DROP COLUMN delivered_doc;
ALTER TABLE product_user_state DROP COLUMN attention;
ALTER TABLE products DROP COLUMN failing_reason;
ALTER TABLE products DROP COLUMN failing_since;
ALTER TABLE products DROP COLUMN max_attempts;
ALTER TABLE products DROP COLUMN push_groups;
ALTER TABLE products DROP COLUMN update_mode;
DELETE FROM attribute_defs WHERE key IN ('given_name', 'family_name')
    AND id NOT IN (SELECT attribute_id FROM service_group_rules UNION SELECT attribute_id FROM profile_rules);
