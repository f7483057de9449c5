package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

type groupMappingRow struct {
	ID               int64 `gorm:"primaryKey"`
	SourceID         int64
	GroupDN          string `gorm:"column:group_dn"`
	GroupDNKey       string `gorm:"column:group_dn_key"`
	GroupID          string `gorm:"column:group_id"`
	ServiceGroupID   int64
	ServiceGroupName string `gorm:"->"`
	Nested           bool
	ForceSync        bool
	Priority         int
	CreatedAt        time.Time
}

func (groupMappingRow) TableName() string { return "group_mappings" }

func (r *groupMappingRow) model() model.GroupMapping {
	return model.GroupMapping{ID: r.ID, SourceID: r.SourceID, GroupDN: r.GroupDN, GroupID: r.GroupID, ServiceGroupID: r.ServiceGroupID,
		ServiceGroupName: r.ServiceGroupName, Nested: r.Nested, Force: r.ForceSync, Priority: r.Priority, CreatedAt: r.CreatedAt.UTC()}
}

type provMappingRow struct {
	ID          int64 `gorm:"primaryKey"`
	SourceID    int64
	GroupDN     string `gorm:"column:group_dn"`
	GroupDNKey  string `gorm:"column:group_dn_key"`
	GroupID     string `gorm:"column:group_id"`
	AccountType string
	Nested      bool
	Priority    int
	CreatedAt   time.Time
}

func (provMappingRow) TableName() string { return "provisioning_mappings" }

func (r *provMappingRow) model() model.ProvisioningMapping {
	return model.ProvisioningMapping{ID: r.ID, SourceID: r.SourceID, GroupDN: r.GroupDN, GroupID: r.GroupID, AccountType: model.AccountType(r.AccountType),
		Nested: r.Nested, Priority: r.Priority, CreatedAt: r.CreatedAt.UTC()}
}

// validateMapping checks the fields both mapping kinds share.
func validateMapping(tx *gorm.DB, f fields, sourceID int64, dn *string, priority int) error {
	*dn = strings.TrimSpace(*dn)
	f.text("group_dn", *dn, true, 1000)
	if *dn != "" && !strings.Contains(*dn, "=") {
		f.add("group_dn", "must be a distinguished name such as cn=staff,ou=groups,dc=example,dc=com")
	}
	if priority < 0 || priority > 1_000_000 {
		f.add("priority", "must be between 0 and 1000000")
	}
	var n int64
	if err := tx.Model(&sourceRow{}).Where("id = ?", sourceID).Count(&n).Error; err != nil {
		return fmt.Errorf("store: check source: %w", err)
	}
	if n == 0 {
		f.add("source_id", "does not exist")
	}
	return nil
}

func validateGroupMapping(tx *gorm.DB, m *model.GroupMapping) error {
	f := fields{}
	if err := validateMapping(tx, f, m.SourceID, &m.GroupDN, m.Priority); err != nil {
		return err
	}
	var name string
	if err := tx.Table("service_groups").Select("name").Where("id = ?", m.ServiceGroupID).Scan(&name).Error; err != nil {
		return fmt.Errorf("store: check service group: %w", err)
	}
	if name == "" {
		f.add("service_group_id", "does not exist")
	}
	m.ServiceGroupName = name
	return f.err()
}

func validateProvMapping(tx *gorm.DB, m *model.ProvisioningMapping) error {
	f := fields{}
	if err := validateMapping(tx, f, m.SourceID, &m.GroupDN, m.Priority); err != nil {
		return err
	}
	oneOf(f, "account_type", m.AccountType, model.AccountDeviceEnabled, model.AccountAdministrator)
	return f.err()
}

func listGroupMappings(db *gorm.DB) ([]model.GroupMapping, error) {
	var rows []groupMappingRow
	err := db.Table("group_mappings m").Select("m.*, g.name AS service_group_name").
		Joins("JOIN service_groups g ON g.id = m.service_group_id").
		Order("m.priority, m.group_dn_key, m.id").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: list group mappings: %w", err)
	}
	out := make([]model.GroupMapping, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// ListGroupMappings returns every group mapping by priority, then DN.
func (s *Store) ListGroupMappings(ctx context.Context) ([]model.GroupMapping, error) {
	return listGroupMappings(s.db.WithContext(ctx))
}

// GetGroupMapping returns one group mapping, or ENOTFOUND.
func (s *Store) GetGroupMapping(ctx context.Context, id int64) (*model.GroupMapping, error) {
	var rows []groupMappingRow
	err := s.db.WithContext(ctx).Table("group_mappings m").Select("m.*, g.name AS service_group_name").
		Joins("JOIN service_groups g ON g.id = m.service_group_id").Where("m.id = ?", id).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: get group mapping: %w", err)
	}
	if len(rows) == 0 {
		return nil, notFound("Group mapping", id)
	}
	m := rows[0].model()
	return &m, nil
}

// CreateGroupMapping validates and inserts m, setting m.ID. A directory
// group already mapped for the source is ECONFLICT (field group_dn).
func (s *Store) CreateGroupMapping(ctx context.Context, m *model.GroupMapping) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		nm := *m
		if err := validateGroupMapping(tx, &nm); err != nil {
			return err
		}
		r := groupMappingRow{SourceID: nm.SourceID, GroupDN: nm.GroupDN, GroupDNKey: model.NormalizeDN(nm.GroupDN), GroupID: strings.TrimSpace(nm.GroupID),
			ServiceGroupID: nm.ServiceGroupID, Nested: nm.Nested, ForceSync: nm.Force, Priority: nm.Priority, CreatedAt: now()}
		if err := tx.Omit("service_group_name").Create(&r).Error; err != nil {
			return dbErr("store: create group mapping", err)
		}
		nm.ID, nm.CreatedAt = r.ID, r.CreatedAt
		if err := audit(ctx, tx, "create", "group_mapping", nm.ID, fmt.Sprintf("mapped %s to service group %s", nm.GroupDN, nm.ServiceGroupName), nil, &nm); err != nil {
			return err
		}
		*m = nm
		return nil
	})
}

// UpdateGroupMapping stores m.
func (s *Store) UpdateGroupMapping(ctx context.Context, m *model.GroupMapping) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		old, err := (&Store{db: tx}).GetGroupMapping(ctx, m.ID)
		if err != nil {
			return err
		}
		nm := *m
		if err := validateGroupMapping(tx, &nm); err != nil {
			return err
		}
		err = tx.Model(&groupMappingRow{}).Where("id = ?", nm.ID).Updates(map[string]any{
			"source_id": nm.SourceID, "group_dn": nm.GroupDN, "group_dn_key": model.NormalizeDN(nm.GroupDN), "group_id": keptGroupID(old.GroupDN, old.GroupID, nm.GroupDN, nm.GroupID),
			"service_group_id": nm.ServiceGroupID, "nested": nm.Nested, "force_sync": nm.Force, "priority": nm.Priority}).Error
		if err != nil {
			return dbErr("store: update group mapping", err)
		}
		nm.CreatedAt = old.CreatedAt
		if err := audit(ctx, tx, "update", "group_mapping", nm.ID, "updated mapping of "+nm.GroupDN, old, &nm); err != nil {
			return err
		}
		*m = nm
		return nil
	})
}

// DeleteGroupMapping removes a group mapping (members it brought stay until
// the next sync removes them).
func (s *Store) DeleteGroupMapping(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		old, err := (&Store{db: tx}).GetGroupMapping(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.Delete(&groupMappingRow{}, id).Error; err != nil {
			return dbErr("store: delete group mapping", err)
		}
		return audit(ctx, tx, "delete", "group_mapping", id, "deleted mapping of "+old.GroupDN, old, nil)
	})
}

func listProvMappings(db *gorm.DB) ([]model.ProvisioningMapping, error) {
	var rows []provMappingRow
	if err := db.Order("priority, group_dn_key, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: list provisioning mappings: %w", err)
	}
	out := make([]model.ProvisioningMapping, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// ListProvisioningMappings returns every provisioning mapping by priority,
// then DN.
func (s *Store) ListProvisioningMappings(ctx context.Context) ([]model.ProvisioningMapping, error) {
	return listProvMappings(s.db.WithContext(ctx))
}

// GetProvisioningMapping returns one provisioning mapping, or ENOTFOUND.
func (s *Store) GetProvisioningMapping(ctx context.Context, id int64) (*model.ProvisioningMapping, error) {
	var r provMappingRow
	if err := s.db.WithContext(ctx).Take(&r, id).Error; err != nil {
		return nil, dbErrNotFound("store: get provisioning mapping", err, "Provisioning mapping", id)
	}
	m := r.model()
	return &m, nil
}

// CreateProvisioningMapping validates and inserts m, setting m.ID.
func (s *Store) CreateProvisioningMapping(ctx context.Context, m *model.ProvisioningMapping) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		nm := *m
		if err := validateProvMapping(tx, &nm); err != nil {
			return err
		}
		r := provMappingRow{SourceID: nm.SourceID, GroupDN: nm.GroupDN, GroupDNKey: model.NormalizeDN(nm.GroupDN), GroupID: strings.TrimSpace(nm.GroupID),
			AccountType: string(nm.AccountType), Nested: nm.Nested, Priority: nm.Priority, CreatedAt: now()}
		if err := tx.Create(&r).Error; err != nil {
			return dbErr("store: create provisioning mapping", err)
		}
		nm.ID, nm.CreatedAt = r.ID, r.CreatedAt
		if err := audit(ctx, tx, "create", "provisioning_mapping", nm.ID, fmt.Sprintf("mapped %s to provisioning as %s", nm.GroupDN, nm.AccountType), nil, &nm); err != nil {
			return err
		}
		*m = nm
		return nil
	})
}

// UpdateProvisioningMapping stores m.
func (s *Store) UpdateProvisioningMapping(ctx context.Context, m *model.ProvisioningMapping) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var old provMappingRow
		if err := tx.Take(&old, m.ID).Error; err != nil {
			return dbErrNotFound("store: update provisioning mapping", err, "Provisioning mapping", m.ID)
		}
		nm := *m
		if err := validateProvMapping(tx, &nm); err != nil {
			return err
		}
		err := tx.Model(&provMappingRow{}).Where("id = ?", nm.ID).Updates(map[string]any{
			"source_id": nm.SourceID, "group_dn": nm.GroupDN, "group_dn_key": model.NormalizeDN(nm.GroupDN), "group_id": keptGroupID(old.GroupDN, old.GroupID, nm.GroupDN, nm.GroupID),
			"account_type": string(nm.AccountType), "nested": nm.Nested, "priority": nm.Priority}).Error
		if err != nil {
			return dbErr("store: update provisioning mapping", err)
		}
		before := old.model()
		nm.CreatedAt = before.CreatedAt
		if err := audit(ctx, tx, "update", "provisioning_mapping", nm.ID, "updated provisioning mapping of "+nm.GroupDN, &before, &nm); err != nil {
			return err
		}
		*m = nm
		return nil
	})
}

// DeleteProvisioningMapping removes a provisioning mapping.
func (s *Store) DeleteProvisioningMapping(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var old provMappingRow
		if err := tx.Take(&old, id).Error; err != nil {
			return dbErrNotFound("store: delete provisioning mapping", err, "Provisioning mapping", id)
		}
		if err := tx.Delete(&provMappingRow{}, id).Error; err != nil {
			return dbErr("store: delete provisioning mapping", err)
		}
		before := old.model()
		return audit(ctx, tx, "delete", "provisioning_mapping", id, "deleted provisioning mapping of "+old.GroupDN, &before, nil)
	})
}
