-- Active Directory (issue 13): primary group membership per source (on for
-- existing AD sources, like the default for new ones), and the stable id
-- (objectGUID / entryUUID) of each mapped group beside its DN, so that a
-- renamed or moved group keeps its mapping. '' = not known yet: the next
-- sync that finds the group by DN fills it in.

-- +goose Up
ALTER TABLE sources ADD COLUMN primary_groups BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE sources SET primary_groups = TRUE WHERE kind = 'ad';
ALTER TABLE group_mappings ADD COLUMN group_id TEXT NOT NULL DEFAULT '';
ALTER TABLE provisioning_mappings ADD COLUMN group_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE provisioning_mappings DROP COLUMN group_id;
ALTER TABLE group_mappings DROP COLUMN group_id;
ALTER TABLE sources DROP COLUMN primary_groups;
