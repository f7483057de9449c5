package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

// Account management (issue 16). Every change that takes rights away from
// an account — disabling, deleting, a new role, a new password — ends all
// its sessions in the same transaction, so a copied cookie is worthless
// the moment the change commits.

// ActiveAdmin returns the account when it exists and is active: ENOTFOUND
// when it is gone, EFORBIDDEN when it is disabled.
func (s *Store) ActiveAdmin(ctx context.Context, id int64) (*model.Admin, error) {
	a, err := s.GetAdmin(ctx, id)
	if err != nil {
		return nil, err
	}
	if !a.Active() {
		return nil, model.Errorf(model.EFORBIDDEN, "The account %s is disabled.", a.Username)
	}
	return a, nil
}

// ListAccounts returns every console account with its count of open
// sessions (not expired at now, absolutely or by idle), by username.
func (s *Store) ListAccounts(ctx context.Context, now time.Time, idle time.Duration) ([]model.AccountSummary, error) {
	admins, err := s.ListAdmins(ctx)
	if err != nil {
		return nil, err
	}
	var counts []struct {
		AdminID int64
		N       int
	}
	if err := s.db.WithContext(ctx).Table("admin_sessions").Select("admin_id, count(*) AS n").
		Where("admin_id IS NOT NULL AND expires > ? AND last_seen > ?", now.Unix(), now.Add(-idle).Unix()).
		Group("admin_id").Scan(&counts).Error; err != nil {
		return nil, fmt.Errorf("store: count sessions: %w", err)
	}
	byID := map[int64]int{}
	for _, c := range counts {
		byID[c.AdminID] = c.N
	}
	out := make([]model.AccountSummary, len(admins))
	for i, a := range admins {
		out[i] = model.AccountSummary{Admin: a, OpenSessions: byID[a.ID]}
	}
	return out, nil
}

// lockAdmins serializes account changes that must keep one active admin:
// a table lock on PostgreSQL; SQLite's immediate transactions already hold
// the write lock.
func (s *Store) lockAdmins(tx *gorm.DB) error {
	if s.dialect == DialectPostgres {
		if err := tx.Exec("LOCK TABLE admins IN SHARE ROW EXCLUSIVE MODE").Error; err != nil {
			return fmt.Errorf("store: lock admins: %w", err)
		}
	}
	return nil
}

// keepsAnActiveAdmin returns ECONFLICT when no active admin other than
// the account id would remain.
func keepsAnActiveAdmin(tx *gorm.DB, id int64, what string) error {
	var n int64
	if err := tx.Model(&adminRow{}).Where("id <> ? AND role = ? AND status = ?", id, model.RoleAdmin, model.AccountActive).
		Count(&n).Error; err != nil {
		return fmt.Errorf("store: count active admins: %w", err)
	}
	if n == 0 {
		return model.Errorf(model.ECONFLICT, "This is the last active administrator; it cannot be %s. Create or enable another administrator first.", what)
	}
	return nil
}

// changeAdmin loads account id inside a locked transaction, lets edit
// change the row (returning the audit action and summary), ends the
// account's sessions when endSessions is set, and audits.
func (s *Store) changeAdmin(ctx context.Context, id int64, edit func(tx *gorm.DB, r *adminRow) (action, summary string, endSessions bool, err error)) (*model.Admin, error) {
	var out model.Admin
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.lockAdmins(tx); err != nil {
			return err
		}
		var r adminRow
		if err := tx.Take(&r, id).Error; err != nil {
			return dbErrNotFound("store: change admin", err, "Account", id)
		}
		before := r.model()
		action, summary, end, err := edit(tx, &r)
		if err != nil {
			return err
		}
		if end {
			if err := tx.Exec("DELETE FROM admin_sessions WHERE admin_id = ?", id).Error; err != nil {
				return fmt.Errorf("store: end sessions of admin %d: %w", id, err)
			}
		}
		after := r.model()
		afterAudit := any(auditAdmin(&after))
		if action == "delete" {
			afterAudit = nil
		}
		if err := audit(ctx, tx, action, "admin", id, summary, auditAdmin(&before), afterAudit); err != nil {
			return err
		}
		out = after
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// SetAdminStatus enables or disables an account. Disabling ends its
// sessions; disabling the last active admin is ECONFLICT.
func (s *Store) SetAdminStatus(ctx context.Context, id int64, status model.AccountStatus) (*model.Admin, error) {
	if status != model.AccountActive && status != model.AccountDisabled {
		return nil, model.Errorf(model.EINVALID, "Unknown status %q: use active or disabled.", status)
	}
	return s.changeAdmin(ctx, id, func(tx *gorm.DB, r *adminRow) (string, string, bool, error) {
		if r.Status == string(status) {
			return "", "", false, model.Errorf(model.ECONFLICT, "The account %s is already %s.", r.Username, status)
		}
		if status == model.AccountDisabled && r.Role == string(model.RoleAdmin) {
			if err := keepsAnActiveAdmin(tx, r.ID, "disabled"); err != nil {
				return "", "", false, err
			}
		}
		if err := tx.Model(&adminRow{}).Where("id = ?", r.ID).Update("status", string(status)).Error; err != nil {
			return "", "", false, fmt.Errorf("store: set admin status: %w", err)
		}
		r.Status = string(status)
		verb := map[model.AccountStatus]string{model.AccountActive: "enable", model.AccountDisabled: "disable"}[status]
		return verb, verb + "d console account " + r.Username, status == model.AccountDisabled, nil
	})
}

// SetAdminRole changes an account's role and ends its sessions (they were
// granted under the old role). Downgrading the last active admin is
// ECONFLICT; an unknown role is EINVALID.
func (s *Store) SetAdminRole(ctx context.Context, id int64, role model.Role) (*model.Admin, error) {
	if !model.ValidRole(role) {
		return nil, model.Errorf(model.EINVALID, "Unknown role %q: use admin or auditor.", role)
	}
	return s.changeAdmin(ctx, id, func(tx *gorm.DB, r *adminRow) (string, string, bool, error) {
		if r.Role == string(role) {
			return "", "", false, model.Errorf(model.ECONFLICT, "The account %s already has the role %s.", r.Username, role)
		}
		if r.Role == string(model.RoleAdmin) && r.Status == string(model.AccountActive) {
			if err := keepsAnActiveAdmin(tx, r.ID, "downgraded"); err != nil {
				return "", "", false, err
			}
		}
		if err := tx.Model(&adminRow{}).Where("id = ?", r.ID).Update("role", string(role)).Error; err != nil {
			return "", "", false, fmt.Errorf("store: set admin role: %w", err)
		}
		old := r.Role
		r.Role = string(role)
		return "role", fmt.Sprintf("changed the role of %s from %s to %s", r.Username, old, role), true, nil
	})
}

// DeleteAdmin removes an account with its sessions, reset links and
// recovery codes. Deleting the last active admin is ECONFLICT.
func (s *Store) DeleteAdmin(ctx context.Context, id int64) (*model.Admin, error) {
	return s.changeAdmin(ctx, id, func(tx *gorm.DB, r *adminRow) (string, string, bool, error) {
		if r.Role == string(model.RoleAdmin) && r.Status == string(model.AccountActive) {
			if err := keepsAnActiveAdmin(tx, r.ID, "deleted"); err != nil {
				return "", "", false, err
			}
		}
		for _, q := range []string{
			"DELETE FROM admin_sessions WHERE admin_id = ?",
			"DELETE FROM admin_password_resets WHERE admin_id = ?",
			"DELETE FROM admin_recovery_codes WHERE admin_id = ?",
			"DELETE FROM admins WHERE id = ?",
		} {
			if err := tx.Exec(q, r.ID).Error; err != nil {
				return "", "", false, fmt.Errorf("store: delete admin: %w", err)
			}
		}
		return "delete", "deleted console account " + r.Username, false, nil
	})
}

// SetAdminPassword stores a new password hash, voids the account's
// unused reset links and ends all its sessions.
func (s *Store) SetAdminPassword(ctx context.Context, id int64, hash string) (*model.Admin, error) {
	if hash == "" {
		return nil, model.Errorf(model.EINVALID, "A password is required.")
	}
	return s.changeAdmin(ctx, id, func(tx *gorm.DB, r *adminRow) (string, string, bool, error) {
		if err := setPassword(tx, r, hash); err != nil {
			return "", "", false, err
		}
		return "password", "changed the password of " + r.Username, true, nil
	})
}

func setPassword(tx *gorm.DB, r *adminRow, hash string) error {
	at := now()
	if err := tx.Model(&adminRow{}).Where("id = ?", r.ID).Updates(map[string]any{
		"password_hash": hash, "password_changed_at": at}).Error; err != nil {
		return fmt.Errorf("store: set password: %w", err)
	}
	if err := tx.Exec("DELETE FROM admin_password_resets WHERE admin_id = ? AND used_at IS NULL", r.ID).Error; err != nil {
		return fmt.Errorf("store: void reset links: %w", err)
	}
	r.PasswordHash, r.PasswordChangedAt = hash, &at
	return nil
}

// EndAdminSessions ends every session of account id except the one whose
// id hash is except ("" = all), audited, and returns how many ended.
func (s *Store) EndAdminSessions(ctx context.Context, id int64, except string) (int, error) {
	var n int
	_, err := s.changeAdmin(ctx, id, func(tx *gorm.DB, r *adminRow) (string, string, bool, error) {
		res := tx.Exec("DELETE FROM admin_sessions WHERE admin_id = ? AND id_hash <> ?", r.ID, except)
		if res.Error != nil {
			return "", "", false, fmt.Errorf("store: end sessions: %w", res.Error)
		}
		n = int(res.RowsAffected)
		what := "ended all sessions of "
		if except != "" {
			what = "ended the other sessions of "
		}
		return "end_sessions", fmt.Sprintf("%s%s (%d)", what, r.Username, n), false, nil
	})
	return n, err
}

// ---- one-time password-reset links ----------------------------------------

type passwordResetRow struct {
	TokenHash string `gorm:"primaryKey"`
	AdminID   int64
	CreatedBy string
	CreatedAt time.Time
	Expires   int64
	UsedAt    *time.Time
}

func (passwordResetRow) TableName() string { return "admin_password_resets" }

// CreatePasswordReset records a reset link (only its token's hash) for
// account id, valid until expires, voiding earlier unused links; audited.
func (s *Store) CreatePasswordReset(ctx context.Context, id int64, tokenHash string, expires time.Time) (*model.Admin, error) {
	return s.changeAdmin(ctx, id, func(tx *gorm.DB, r *adminRow) (string, string, bool, error) {
		if r.AuthSourceID != nil {
			return "", "", false, model.Errorf(model.ECONFLICT, "%s signs in with the directory; reset the password there.", r.Username)
		}
		if err := tx.Exec("DELETE FROM admin_password_resets WHERE admin_id = ? AND used_at IS NULL", r.ID).Error; err != nil {
			return "", "", false, fmt.Errorf("store: void reset links: %w", err)
		}
		row := passwordResetRow{TokenHash: tokenHash, AdminID: r.ID, CreatedBy: model.ActorFrom(ctx), CreatedAt: now(), Expires: expires.Unix()}
		if err := tx.Create(&row).Error; err != nil {
			return "", "", false, fmt.Errorf("store: create reset link: %w", err)
		}
		return "reset_password", "created a one-time password-reset link for " + r.Username +
			" valid until " + expires.UTC().Format(time.RFC3339), false, nil
	})
}

// PasswordResetAccount returns the account a reset link is for while the
// link is unused and unexpired at now; ENOTFOUND otherwise (the caller
// cannot tell a used link from an expired or unknown one, on purpose).
func (s *Store) PasswordResetAccount(ctx context.Context, tokenHash string, at time.Time) (*model.Admin, error) {
	var row passwordResetRow
	err := s.db.WithContext(ctx).Where("token_hash = ? AND used_at IS NULL AND expires > ?", tokenHash, at.Unix()).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, model.Errorf(model.ENOTFOUND, "This reset link has been used or has expired.")
	}
	if err != nil {
		return nil, fmt.Errorf("store: find reset link: %w", err)
	}
	return s.GetAdmin(ctx, row.AdminID)
}

// UsePasswordReset sets the password through a reset link once: the link
// is marked used, the password stored and the account's sessions ended in
// one transaction. A used, expired or unknown link is ENOTFOUND and
// changes nothing.
func (s *Store) UsePasswordReset(ctx context.Context, tokenHash, hash string, at time.Time) (*model.Admin, error) {
	a, err := s.PasswordResetAccount(ctx, tokenHash, at)
	if err != nil {
		return nil, err
	}
	return s.changeAdmin(ctx, a.ID, func(tx *gorm.DB, r *adminRow) (string, string, bool, error) {
		res := tx.Model(&passwordResetRow{}).Where("token_hash = ? AND admin_id = ? AND used_at IS NULL AND expires > ?", tokenHash, r.ID, at.Unix()).
			Update("used_at", now())
		if res.Error != nil {
			return "", "", false, fmt.Errorf("store: use reset link: %w", res.Error)
		}
		if res.RowsAffected != 1 {
			return "", "", false, model.Errorf(model.ENOTFOUND, "This reset link has been used or has expired.")
		}
		if err := setPassword(tx, r, hash); err != nil {
			return "", "", false, err
		}
		return "password", "set the password of " + r.Username + " with a reset link", true, nil
	})
}

// TouchDirectoryCheck records that the directory confirmed account id at
// at, under dn (not audited: nothing about the account changed).
func (s *Store) TouchDirectoryCheck(ctx context.Context, id int64, dn string, at time.Time) error {
	at = at.UTC().Truncate(time.Microsecond)
	res := s.db.WithContext(ctx).Model(&adminRow{}).Where("id = ?", id).Updates(map[string]any{"directory_dn": dn, "directory_checked_at": at})
	if res.Error != nil {
		return fmt.Errorf("store: touch directory check: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return notFound("Account", id)
	}
	return nil
}
