package store

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

// keptGroupID is the stable id an updated mapping keeps: the one given,
// else the stored one while the DN is unchanged. A new DN names another
// group, whose id the next sync records.
func keptGroupID(oldDN, oldID, newDN, newID string) string {
	if id := strings.TrimSpace(newID); id != "" {
		return id
	}
	if model.NormalizeDN(oldDN) == model.NormalizeDN(newDN) {
		return oldID
	}
	return ""
}

// MappingKind names the two mapping tables for LinkMappingGroup.
type MappingKind string

// The mapping kinds: a group mapping or a provisioning mapping.
const (
	GroupMappingKind        MappingKind = "group_mapping"
	ProvisioningMappingKind MappingKind = "provisioning_mapping"
)

// LinkMappingGroup records what a sync found for a mapping's directory
// group: its stable id and its current DN. A changed DN (the group was
// renamed or moved) is audited as "relink" with the old and the new DN.
// It returns whether anything changed.
func (s *Store) LinkMappingGroup(ctx context.Context, kind MappingKind, id int64, dn, groupID string) (bool, error) {
	dn, groupID = strings.TrimSpace(dn), strings.TrimSpace(groupID)
	if dn == "" || groupID == "" || len(dn) > 1000 || len(groupID) > 200 {
		return false, model.Errorf(model.EINVALID, "A mapping needs a group DN and a stable id.")
	}
	table := string(kind) + "s"
	if kind != GroupMappingKind && kind != ProvisioningMappingKind {
		return false, fmt.Errorf("store: link mapping group: unknown kind %q", kind)
	}
	changed := false
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var old struct {
			GroupDN string
			GroupID string
		}
		res := tx.Table(table).Select("group_dn, group_id").Where("id = ?", id).Take(&old)
		if res.Error != nil {
			return dbErrNotFound("store: link mapping group", res.Error, "Mapping", id)
		}
		if old.GroupDN == dn && old.GroupID == groupID {
			return nil
		}
		changed = true
		err := tx.Table(table).Where("id = ?", id).Updates(map[string]any{"group_dn": dn, "group_dn_key": model.NormalizeDN(dn), "group_id": groupID}).Error
		if err != nil {
			return dbErr("store: link mapping group", err)
		}
		type link struct {
			GroupDN string `json:"group_dn"`
			GroupID string `json:"group_id"`
		}
		before, after := &link{old.GroupDN, old.GroupID}, &link{dn, groupID}
		if model.NormalizeDN(old.GroupDN) != model.NormalizeDN(dn) {
			return audit(ctx, tx, "relink", string(kind), id, fmt.Sprintf("directory group %s was renamed or moved to %s (stable id %s); the mapping follows it", old.GroupDN, dn, groupID), before, after)
		}
		return audit(ctx, tx, "link", string(kind), id, fmt.Sprintf("recorded the stable id %s of directory group %s", groupID, dn), before, after)
	})
	return changed, err
}
