package store

import (
	"context"
	"database/sql"
	"fmt"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

// LoadUserState returns the State a one-user refresh plans against: the
// settings, attribute definitions, service groups, profiles and mappings,
// and of the users only user userID with their devices and memberships.
// It reads a handful of rows whatever the size of the database, so that a
// refresh stays fast. ENOTFOUND when the user does not exist.
func (s *Store) LoadUserState(ctx context.Context, userID int64) (*model.State, error) {
	u, err := s.GetUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	devs, _, err := s.ListDevices(ctx, model.DeviceFilter{UserID: userID, ListQuery: model.ListQuery{PerPage: 500}})
	if err != nil {
		return nil, err
	}
	st := &model.State{Users: []model.User{*u}, Devices: devs}
	load := func(tx *gorm.DB) error {
		var err error
		if st.Settings, err = loadSettings(tx); err != nil {
			return err
		}
		attrs, err := loadAttrs(tx)
		if err != nil {
			return err
		}
		st.AttributeDefs = attrs.defs
		if st.ServiceGroupMembers, err = loadUserMembers(tx, serviceGroupKind(), userID); err != nil {
			return err
		}
		if st.ProfileMembers, err = loadUserMembers(tx, profileKind(), userID); err != nil {
			return err
		}
		if st.ServiceGroups, err = loadAllServiceGroups(tx, attrs); err != nil {
			return err
		}
		if st.Profiles, err = loadAllProfiles(tx, attrs); err != nil {
			return err
		}
		if st.GroupMappings, err = listGroupMappings(tx); err != nil {
			return err
		}
		st.ProvisioningMappings, err = listProvMappings(tx)
		return err
	}
	if err := s.db.WithContext(ctx).Transaction(load, &sql.TxOptions{ReadOnly: true}); err != nil {
		return nil, fmt.Errorf("store: load user state %d: %w", userID, err)
	}
	return st, nil
}

// loadUserMembers reads one user's memberships of kind k.
func loadUserMembers(tx *gorm.DB, k groupKind, userID int64) ([]model.Membership, error) {
	rows, err := tx.Raw("SELECT "+k.fk+", user_id, manual FROM "+k.members+" WHERE user_id = ? ORDER BY "+k.fk, userID).Rows()
	if err != nil {
		return nil, fmt.Errorf("%s members: %w", k.object, err)
	}
	defer rows.Close()
	var out []model.Membership
	for rows.Next() {
		var m model.Membership
		if err := rows.Scan(&m.GroupID, &m.UserID, &m.Manual); err != nil {
			return nil, fmt.Errorf("%s members: %w", k.object, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
