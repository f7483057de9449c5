package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

type adminRow struct {
	ID           int64 `gorm:"primaryKey"`
	Username     string
	PasswordHash string
	Role         string
	CreatedAt    time.Time
	LastLoginAt  *time.Time

	Status             string
	AuthSourceID       *int64
	DirectoryDN        string
	DirectoryCheckedAt *time.Time
	PasswordChangedAt  *time.Time
	TOTPSecret         string     `gorm:"column:totp_secret"`
	TOTPEnabledAt      *time.Time `gorm:"column:totp_enabled_at"`
	TOTPLastStep       int64      `gorm:"column:totp_last_step"`
}

func (adminRow) TableName() string { return "admins" }

func (r *adminRow) model() model.Admin {
	a := model.Admin{ID: r.ID, Username: r.Username, PasswordHash: r.PasswordHash, Role: model.Role(r.Role), CreatedAt: r.CreatedAt.UTC()}
	if r.LastLoginAt != nil {
		a.LastLoginAt = r.LastLoginAt.UTC()
	}
	a.Status = model.AccountStatus(r.Status)
	if a.Status == "" {
		a.Status = model.AccountActive
	}
	if r.AuthSourceID != nil {
		a.AuthSourceID = *r.AuthSourceID
	}
	a.DirectoryDN = r.DirectoryDN
	if r.DirectoryCheckedAt != nil {
		a.DirectoryCheckedAt = r.DirectoryCheckedAt.UTC()
	}
	if r.PasswordChangedAt != nil {
		a.PasswordChangedAt = r.PasswordChangedAt.UTC()
	}
	a.MFAEnabled = r.TOTPEnabledAt != nil
	return a
}

// auditAdmin is what the audit log records of an admin: never the hash.
func auditAdmin(a *model.Admin) any {
	return struct {
		ID           int64
		Username     string
		Role         model.Role
		Status       model.AccountStatus
		AuthSourceID int64 `json:",omitempty"`
		MFAEnabled   bool
	}{a.ID, a.Username, a.Role, a.Status, a.AuthSourceID, a.MFAEnabled}
}

func validateAdmin(a *model.Admin) error {
	a.Username = strings.TrimSpace(a.Username)
	f := fields{}
	f.text("username", a.Username, true, 100)
	if strings.ContainsAny(a.Username, " \t") {
		f.add("username", "must not contain spaces")
	}
	oneOf(f, "role", a.Role, model.RoleAdmin, model.RoleAuditor)
	if a.PasswordHash == "" && a.AuthSourceID == 0 {
		f.add("password", "is required")
	}
	if a.Status == "" {
		a.Status = model.AccountActive
	}
	oneOf(f, "status", a.Status, model.AccountActive, model.AccountDisabled)
	return f.err()
}

// CountAdmins returns how many console accounts exist.
func (s *Store) CountAdmins(ctx context.Context) (int, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&adminRow{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("store: count admins: %w", err)
	}
	return int(n), nil
}

// ListAdmins returns every console account by username.
func (s *Store) ListAdmins(ctx context.Context) ([]model.Admin, error) {
	var rows []adminRow
	if err := s.db.WithContext(ctx).Order("lower(username)").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: list admins: %w", err)
	}
	out := make([]model.Admin, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// GetAdmin returns one console account, or ENOTFOUND.
func (s *Store) GetAdmin(ctx context.Context, id int64) (*model.Admin, error) {
	var r adminRow
	if err := s.db.WithContext(ctx).Take(&r, id).Error; err != nil {
		return nil, dbErrNotFound("store: get admin", err, "Admin", id)
	}
	a := r.model()
	return &a, nil
}

// GetAdminByUsername finds an account case-insensitively, or ENOTFOUND.
func (s *Store) GetAdminByUsername(ctx context.Context, username string) (*model.Admin, error) {
	var r adminRow
	err := s.db.WithContext(ctx).Where("lower(username) = ?", strings.ToLower(strings.TrimSpace(username))).Take(&r).Error
	if err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, model.Errorf(model.ENOTFOUND, "No such account.")
		}
		return nil, fmt.Errorf("store: get admin by username: %w", err)
	}
	a := r.model()
	return &a, nil
}

// CreateAdmin inserts a console account (PasswordHash already hashed) and
// sets a.ID. A taken username is ECONFLICT.
func (s *Store) CreateAdmin(ctx context.Context, a *model.Admin) error {
	return s.tx(ctx, func(tx *gorm.DB) error { return createAdmin(ctx, tx, a) })
}

func createAdmin(ctx context.Context, tx *gorm.DB, a *model.Admin) error {
	if err := validateAdmin(a); err != nil {
		return err
	}
	r := adminRow{Username: a.Username, PasswordHash: a.PasswordHash, Role: string(a.Role), CreatedAt: now(),
		Status: string(a.Status), DirectoryDN: a.DirectoryDN}
	if a.AuthSourceID != 0 {
		r.AuthSourceID = &a.AuthSourceID
	}
	if err := tx.Create(&r).Error; err != nil {
		return dbErr("store: create admin", err)
	}
	a.ID, a.CreatedAt = r.ID, r.CreatedAt
	return audit(ctx, tx, "create", "admin", a.ID, "created console account "+a.Username, nil, auditAdmin(a))
}

// CreateFirstAdmin creates a only when no account exists yet; ECONFLICT
// otherwise. The check and the insert are one transaction, serialized (a
// lock on PostgreSQL, the write lock on SQLite), so two setup requests
// cannot both win.
func (s *Store) CreateFirstAdmin(ctx context.Context, a *model.Admin) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		if s.dialect == DialectPostgres {
			if err := tx.Exec("LOCK TABLE admins IN EXCLUSIVE MODE").Error; err != nil {
				return fmt.Errorf("store: create first admin: %w", err)
			}
		}
		var n int64
		if err := tx.Model(&adminRow{}).Count(&n).Error; err != nil {
			return fmt.Errorf("store: create first admin: %w", err)
		}
		if n > 0 {
			return model.Errorf(model.ECONFLICT, "The console is already set up.")
		}
		return createAdmin(ctx, tx, a)
	})
}

// UpdateAdmin stores username, role and password hash (an empty hash keeps
// the stored one).
func (s *Store) UpdateAdmin(ctx context.Context, a *model.Admin) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var old adminRow
		if err := tx.Take(&old, a.ID).Error; err != nil {
			return dbErrNotFound("store: update admin", err, "Admin", a.ID)
		}
		na := *a
		if na.PasswordHash == "" {
			na.PasswordHash = old.PasswordHash
		}
		if err := validateAdmin(&na); err != nil {
			return err
		}
		if old.Role == string(model.RoleAdmin) && na.Role != model.RoleAdmin && old.Status == string(model.AccountActive) {
			if err := s.lockAdmins(tx); err != nil {
				return err
			}
			if err := keepsAnActiveAdmin(tx, na.ID, "downgraded"); err != nil {
				return err
			}
		}
		// Sessions were granted under the old role or password.
		if na.PasswordHash != old.PasswordHash || string(na.Role) != old.Role {
			if err := tx.Exec("DELETE FROM admin_sessions WHERE admin_id = ?", na.ID).Error; err != nil {
				return fmt.Errorf("store: update admin: end sessions: %w", err)
			}
		}
		if err := tx.Model(&adminRow{}).Where("id = ?", na.ID).Updates(map[string]any{
			"username": na.Username, "role": string(na.Role), "password_hash": na.PasswordHash}).Error; err != nil {
			return dbErr("store: update admin", err)
		}
		before := old.model()
		summary := "updated console account " + na.Username
		if na.PasswordHash != old.PasswordHash {
			summary += " (password changed)"
		}
		na.CreatedAt, na.LastLoginAt, na.Status = before.CreatedAt, before.LastLoginAt, before.Status
		if err := audit(ctx, tx, "update", "admin", na.ID, summary, auditAdmin(&before), auditAdmin(&na)); err != nil {
			return err
		}
		*a = na
		return nil
	})
}

// TouchAdminLogin records a sign-in time (not audited here: the web layer
// audits the login itself).
func (s *Store) TouchAdminLogin(ctx context.Context, id int64, at time.Time) error {
	at = at.UTC()
	res := s.db.WithContext(ctx).Model(&adminRow{}).Where("id = ?", id).Update("last_login_at", at)
	if res.Error != nil {
		return fmt.Errorf("store: touch admin login: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return notFound("Admin", id)
	}
	return nil
}
