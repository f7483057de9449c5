package store

import (
	"context"
	"fmt"

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
