package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

func (r *groupRow) serviceGroup(rules []model.Rule) model.ServiceGroup {
	return model.ServiceGroup{ID: r.ID, Name: r.Name, Description: r.Description, Rules: rules,
		MemberCount: r.MemberCount, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

func (s *Store) serviceGroupsByID(db *gorm.DB, ids []int64) ([]model.ServiceGroup, error) {
	rows, rules, err := serviceGroupKind().byIDs(db, ids)
	if err != nil {
		return nil, err
	}
	out := make([]model.ServiceGroup, len(rows))
	for i := range rows {
		out[i] = rows[i].serviceGroup(rules[rows[i].ID])
	}
	return out, nil
}

// ListServiceGroups returns a page of service groups with member counts and
// rules. Sort accepts name, created_at and member_count.
func (s *Store) ListServiceGroups(ctx context.Context, q model.ListQuery) ([]model.ServiceGroup, int, error) {
	rows, rules, total, err := serviceGroupKind().list(s.db.WithContext(ctx), q)
	if err != nil {
		return nil, 0, err
	}
	out := make([]model.ServiceGroup, len(rows))
	for i := range rows {
		out[i] = rows[i].serviceGroup(rules[rows[i].ID])
	}
	return out, total, nil
}

// GetServiceGroup returns one service group, or ENOTFOUND.
func (s *Store) GetServiceGroup(ctx context.Context, id int64) (*model.ServiceGroup, error) {
	r, rules, err := serviceGroupKind().get(s.db.WithContext(ctx), id)
	if err != nil {
		return nil, err
	}
	g := r.serviceGroup(rules)
	return &g, nil
}

// CreateServiceGroup validates and inserts g, setting g.ID. A taken name is
// ECONFLICT; bad input (incl. rules on unknown attributes) EINVALID.
func (s *Store) CreateServiceGroup(ctx context.Context, g *model.ServiceGroup) error {
	k := serviceGroupKind()
	return s.tx(ctx, func(tx *gorm.DB) error {
		attrs, err := loadAttrs(tx)
		if err != nil {
			return err
		}
		ng := *g
		if ng.Rules, err = k.validate(&ng.Name, &ng.Description, ng.Rules, attrs); err != nil {
			return err
		}
		id, t, err := k.create(tx, ng.Name, ng.Description, false, ng.Rules, attrs)
		if err != nil {
			return err
		}
		ng.ID, ng.CreatedAt, ng.UpdatedAt, ng.MemberCount = id, t, t, 0
		if err := audit(ctx, tx, "create", k.object, id, "created service group "+ng.Name, nil, &ng); err != nil {
			return err
		}
		*g = ng
		return nil
	})
}

// UpdateServiceGroup stores g's name, description and rules. Changed rules
// do not touch existing members (SPEC §4).
func (s *Store) UpdateServiceGroup(ctx context.Context, g *model.ServiceGroup) error {
	k := serviceGroupKind()
	return s.tx(ctx, func(tx *gorm.DB) error {
		attrs, err := loadAttrs(tx)
		if err != nil {
			return err
		}
		oldRow, oldRules, err := k.get(tx, g.ID)
		if err != nil {
			return err
		}
		old := oldRow.serviceGroup(oldRules)
		ng := *g
		if ng.Rules, err = k.validate(&ng.Name, &ng.Description, ng.Rules, attrs); err != nil {
			return err
		}
		t, err := k.update(tx, ng.ID, ng.Name, ng.Description, false, ng.Rules, attrs)
		if err != nil {
			return err
		}
		ng.CreatedAt, ng.UpdatedAt, ng.MemberCount = old.CreatedAt, t, old.MemberCount
		if err := audit(ctx, tx, "update", k.object, ng.ID, "updated service group "+ng.Name, &old, &ng); err != nil {
			return err
		}
		*g = ng
		return nil
	})
}

// DeleteServiceGroup removes a service group, its memberships and the group
// mappings that target it.
func (s *Store) DeleteServiceGroup(ctx context.Context, id int64) error {
	k := serviceGroupKind()
	return s.tx(ctx, func(tx *gorm.DB) error {
		r, rules, err := k.get(tx, id)
		if err != nil {
			return err
		}
		g := r.serviceGroup(rules)
		return k.remove(ctx, tx, id, &g, g.Name)
	})
}

// ListServiceGroupMembers returns a page of the group's members with their
// memberships (manual or synced). Sort accepts username, email,
// display_name and manual.
func (s *Store) ListServiceGroupMembers(ctx context.Context, groupID int64, q model.ListQuery) ([]model.User, []model.Membership, int, error) {
	return serviceGroupKind().listMembers(s, s.db.WithContext(ctx), groupID, q)
}

// AddServiceGroupMember adds the user as a manual member. In single
// membership mode a user already in another service group is ECONFLICT.
// A synced member added again becomes manual.
func (s *Store) AddServiceGroupMember(ctx context.Context, groupID, userID int64) error {
	return s.addServiceGroupMember(ctx, groupID, userID, true)
}

// AddSyncedServiceGroupMember adds the user as a synced member (the sync
// engine's add; sync may remove it later). An existing membership, manual or
// not, is left as it is. Single membership is checked as for a manual add.
func (s *Store) AddSyncedServiceGroupMember(ctx context.Context, groupID, userID int64) error {
	return s.addServiceGroupMember(ctx, groupID, userID, false)
}

func (s *Store) addServiceGroupMember(ctx context.Context, groupID, userID int64, manual bool) error {
	return s.tx(ctx, func(tx *gorm.DB) error { return addServiceGroupMember(ctx, tx, groupID, userID, manual) })
}

// addServiceGroupMember is AddServiceGroupMember (manual) or
// AddSyncedServiceGroupMember inside tx.
func addServiceGroupMember(ctx context.Context, tx *gorm.DB, groupID, userID int64, manual bool) error {
	k := serviceGroupKind()
	g, _, err := k.get(tx, groupID)
	if err != nil {
		return err
	}
	st, err := loadSettings(tx)
	if err != nil {
		return err
	}
	if st.ServiceGroupMembership != model.MembershipMultiple {
		var other []string
		if err := tx.Raw(`SELECT g.name FROM service_group_members m JOIN service_groups g ON g.id = m.service_group_id
			WHERE m.user_id = ? AND m.service_group_id <> ?`, userID, groupID).Scan(&other).Error; err != nil {
			return fmt.Errorf("store: add service group member: %w", err)
		}
		if len(other) > 0 {
			return model.Errorf(model.ECONFLICT,
				"This user is already in service group %q; with single membership a user is in one service group. Remove them there first.", other[0])
		}
	}
	return k.addMember(ctx, tx, groupID, userID, manual, g.Name)
}

// RemoveServiceGroupMember removes the user from the group; ENOTFOUND when
// they are not a member.
func (s *Store) RemoveServiceGroupMember(ctx context.Context, groupID, userID int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error { return removeServiceGroupMember(ctx, tx, groupID, userID) })
}

func removeServiceGroupMember(ctx context.Context, tx *gorm.DB, groupID, userID int64) error {
	k := serviceGroupKind()
	g, _, err := k.get(tx, groupID)
	if err != nil {
		return err
	}
	return k.removeMember(ctx, tx, groupID, userID, g.Name)
}

// SetUserServiceGroup places the user in service group groupID (0: none)
// as a manual member, leaving every other service group, in one
// transaction with its audit entries and product notifications: a refusal
// changes nothing. A user whose membership is set by directory sync is
// ECONFLICT (change the mapping instead); an unknown user ENOTFOUND, an
// unknown group EINVALID (field service_group_id). The console's user page
// and the API both change service groups here.
func (s *Store) SetUserServiceGroup(ctx context.Context, userID, groupID int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error { return setUserServiceGroup(ctx, tx, userID, groupID) })
}

func setUserServiceGroup(ctx context.Context, tx *gorm.DB, userID, groupID int64) error {
	if _, err := getUser(tx, userID); err != nil {
		return err
	}
	if groupID < 0 {
		return model.Invalid(map[string]string{"service_group_id": "does not exist"})
	}
	if groupID != 0 {
		var n int64
		if err := tx.Table("service_groups").Where("id = ?", groupID).Count(&n).Error; err != nil {
			return fmt.Errorf("store: set user service group: %w", err)
		}
		if n == 0 {
			return &model.Error{Code: model.EINVALID, Message: "Choose a service group.",
				Fields: map[string]string{"service_group_id": fmt.Sprintf("service group %d does not exist", groupID)}}
		}
	}
	var ms []memberRow
	if err := tx.Raw("SELECT service_group_id AS group_id, user_id, manual FROM service_group_members WHERE user_id = ? ORDER BY service_group_id", userID).
		Scan(&ms).Error; err != nil {
		return fmt.Errorf("store: set user service group: %w", err)
	}
	for _, m := range ms {
		if !m.Manual {
			return model.Errorf(model.ECONFLICT, "This user's service group is set by directory sync; change the group mapping instead.")
		}
	}
	already := false
	for _, m := range ms {
		if m.GroupID == groupID {
			already = true
			continue
		}
		if err := removeServiceGroupMember(ctx, tx, m.GroupID, userID); err != nil {
			return err
		}
	}
	if groupID != 0 && !already {
		return addServiceGroupMember(ctx, tx, groupID, userID, true)
	}
	return nil
}
