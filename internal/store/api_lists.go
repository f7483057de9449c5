package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

// Keyset pages for the API: rows in id order after a given id, so that any
// page costs the same however deep it is (no OFFSET), and rows added or
// removed meanwhile never shift a page.

// UsersAfter returns up to limit users matching f (Search and the filters;
// Sort and Page are ignored) with id > afterID, in id order, with their
// attributes, and whether more follow.
func (s *Store) UsersAfter(ctx context.Context, f model.UserFilter, afterID int64, limit int) ([]model.User, bool, error) {
	db := s.db.WithContext(ctx)
	var rows []userRow
	if err := s.userWhere(db, f).Where("id > ?", afterID).Order("id").Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, false, fmt.Errorf("store: users after %d: %w", afterID, err)
	}
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	users, err := s.usersWithAttrs(db, rows)
	return users, more, err
}

// DevicesAfter is UsersAfter for devices.
func (s *Store) DevicesAfter(ctx context.Context, f model.DeviceFilter, afterID int64, limit int) ([]model.Device, bool, error) {
	db := s.db.WithContext(ctx)
	var rows []deviceRow
	if err := s.deviceWhere(db, f).Where("id > ?", afterID).Order("id").Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, false, fmt.Errorf("store: devices after %d: %w", afterID, err)
	}
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	devs, err := devicesWithAttrs(db, rows)
	return devs, more, err
}

func devicesWithAttrs(db *gorm.DB, rows []deviceRow) ([]model.Device, error) {
	devs := make([]model.Device, len(rows))
	ptrs := make([]*model.Device, len(rows))
	for i := range rows {
		devs[i] = rows[i].model()
		ptrs[i] = &devs[i]
	}
	attrs, err := loadAttrs(db)
	if err != nil {
		return nil, err
	}
	if err := fillDeviceAttrs(db, attrs, ptrs); err != nil {
		return nil, err
	}
	return devs, nil
}

// AuditFilter narrows the audit log for the API.
type AuditFilter struct {
	Search     string
	ObjectType string
	ObjectID   int64
	TokenID    int64
}

// AuditBefore returns up to limit audit entries with id < beforeID (0: the
// newest), newest first, and whether more follow.
func (s *Store) AuditBefore(ctx context.Context, f AuditFilter, beforeID int64, limit int) ([]model.AuditEntry, bool, error) {
	db := s.db.WithContext(ctx).Model(&auditRow{})
	if p := likePattern(f.Search); p != "" {
		db = db.Where(`search LIKE ? ESCAPE '\'`, p)
	}
	if f.ObjectType != "" {
		db = db.Where("object_type = ?", f.ObjectType)
	}
	if f.ObjectID != 0 {
		db = db.Where("object_id = ?", f.ObjectID)
	}
	if f.TokenID != 0 {
		db = db.Where("token_id = ?", f.TokenID)
	}
	if beforeID > 0 {
		db = db.Where("id < ?", beforeID)
	}
	var rows []auditRow
	if err := db.Order("id DESC").Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, false, fmt.Errorf("store: audit before %d: %w", beforeID, err)
	}
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	out := make([]model.AuditEntry, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, more, nil
}

// MembershipRow is one service group or profile membership for an export.
type MembershipRow struct {
	Kind      string // service_group or profile
	GroupID   int64
	GroupName string
	UserID    int64
	Username  string
	Manual    bool
}

// EachMembership calls fn for every service group and then every profile
// membership, in group and user order, streaming the rows (constant
// memory). fn's error stops it and is returned.
func (s *Store) EachMembership(ctx context.Context, fn func(MembershipRow) error) error {
	for _, k := range []groupKind{serviceGroupKind(), profileKind()} {
		rows, err := s.db.WithContext(ctx).Raw(`SELECT m.` + k.fk + `, g.name, m.user_id, u.username, m.manual FROM ` + k.members + ` m
			JOIN ` + k.table + ` g ON g.id = m.` + k.fk + ` JOIN users u ON u.id = m.user_id ORDER BY m.` + k.fk + `, m.user_id`).Rows()
		if err != nil {
			return fmt.Errorf("store: memberships: %w", err)
		}
		for rows.Next() {
			r := MembershipRow{Kind: k.object}
			if err := rows.Scan(&r.GroupID, &r.GroupName, &r.UserID, &r.Username, &r.Manual); err != nil {
				_ = rows.Close()
				return fmt.Errorf("store: memberships: %w", err)
			}
			if err := fn(r); err != nil {
				_ = rows.Close()
				return err
			}
		}
		err = rows.Err()
		_ = rows.Close() // rows.Err above is the error that counts
		if err != nil {
			return fmt.Errorf("store: memberships: %w", err)
		}
	}
	return nil
}

// UsersByUsernames returns the users with the given usernames (compared
// case-insensitively; unknown names are left out), with attributes, keyed
// by lower-cased username. For imports: a few queries for thousands of rows.
func (s *Store) UsersByUsernames(ctx context.Context, names []string) (map[string]*model.User, error) {
	db := s.db.WithContext(ctx)
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = strings.ToLower(strings.TrimSpace(n))
	}
	out := make(map[string]*model.User, len(names))
	for chunk := range slices.Chunk(keys, 5000) {
		var rows []userRow
		if err := db.Where("username_key IN ?", chunk).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("store: users by username: %w", err)
		}
		users, err := s.usersWithAttrs(db, rows)
		if err != nil {
			return nil, err
		}
		for i := range users {
			out[strings.ToLower(users[i].Username)] = &users[i]
		}
	}
	return out, nil
}

// DevicesBySerials returns the devices with the given serials (compared
// case-insensitively), with attributes, keyed by lower-cased serial.
func (s *Store) DevicesBySerials(ctx context.Context, serials []string) (map[string]*model.Device, error) {
	db := s.db.WithContext(ctx)
	keys := make([]string, len(serials))
	for i, n := range serials {
		keys[i] = strings.ToLower(strings.TrimSpace(n))
	}
	out := make(map[string]*model.Device, len(serials))
	for chunk := range slices.Chunk(keys, 5000) {
		var rows []deviceRow
		if err := db.Where("lower(serial) IN ?", chunk).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("store: devices by serial: %w", err)
		}
		devs, err := devicesWithAttrs(db, rows)
		if err != nil {
			return nil, err
		}
		for i := range devs {
			out[strings.ToLower(devs[i].Serial)] = &devs[i]
		}
	}
	return out, nil
}

// ServiceGroupsOfUsers returns each given user's service group ids, with
// whether each membership is manual (same order).
func (s *Store) ServiceGroupsOfUsers(ctx context.Context, userIDs []int64) (map[int64][]model.Membership, error) {
	out := map[int64][]model.Membership{}
	for chunk := range slices.Chunk(userIDs, 5000) {
		var ms []memberRow
		if err := s.db.WithContext(ctx).Raw("SELECT service_group_id AS group_id, user_id, manual FROM service_group_members WHERE user_id IN ? ORDER BY service_group_id", chunk).
			Scan(&ms).Error; err != nil {
			return nil, fmt.Errorf("store: service groups of users: %w", err)
		}
		for _, m := range ms {
			out[m.UserID] = append(out[m.UserID], model.Membership{GroupID: m.GroupID, UserID: m.UserID, Manual: m.Manual})
		}
	}
	return out, nil
}
