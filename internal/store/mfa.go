package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

// TOTP second factor: the secret is sealed with the secret key; recovery
// codes are kept as hashes (the web layer hashes them); the last accepted
// time step makes every code single-use.

type recoveryCodeRow struct {
	ID       int64 `gorm:"primaryKey"`
	AdminID  int64
	CodeHash string
	UsedAt   *time.Time
}

func (recoveryCodeRow) TableName() string { return "admin_recovery_codes" }

// TOTPSecret returns account id's TOTP secret (unsealed) and whether it is
// confirmed; "" when none is set.
func (s *Store) TOTPSecret(ctx context.Context, id int64) (secret string, enabled bool, err error) {
	var r adminRow
	if err := s.db.WithContext(ctx).Select("id, totp_secret, totp_enabled_at").Take(&r, id).Error; err != nil {
		return "", false, dbErrNotFound("store: totp secret", err, "Account", id)
	}
	if r.TOTPSecret == "" {
		return "", false, nil
	}
	plain, err := s.box.Open(r.TOTPSecret)
	if err != nil {
		return "", false, fmt.Errorf("store: totp secret of admin %d: %w", id, err)
	}
	return plain, r.TOTPEnabledAt != nil, nil
}

// EnableTOTP confirms enrolment: it stores the (sealed) secret, marks step
// as used, replaces the recovery codes with codeHashes, and audits. An
// account with MFA already on is ECONFLICT.
func (s *Store) EnableTOTP(ctx context.Context, id int64, secret string, step int64, codeHashes []string) error {
	sealed, err := s.box.Seal(secret)
	if err != nil {
		return fmt.Errorf("store: enable totp: %w", err)
	}
	_, err = s.changeAdmin(ctx, id, func(tx *gorm.DB, r *adminRow) (string, string, bool, error) {
		if r.TOTPEnabledAt != nil {
			return "", "", false, model.Errorf(model.ECONFLICT, "MFA is already on for %s.", r.Username)
		}
		at := now()
		if err := tx.Model(&adminRow{}).Where("id = ?", r.ID).Updates(map[string]any{
			"totp_secret": sealed, "totp_enabled_at": at, "totp_last_step": step}).Error; err != nil {
			return "", "", false, fmt.Errorf("store: enable totp: %w", err)
		}
		if err := replaceRecoveryCodes(tx, r.ID, codeHashes); err != nil {
			return "", "", false, err
		}
		r.TOTPEnabledAt = &at
		return "mfa_enable", "turned on MFA (TOTP) for " + r.Username, false, nil
	})
	return err
}

func replaceRecoveryCodes(tx *gorm.DB, id int64, hashes []string) error {
	if err := tx.Exec("DELETE FROM admin_recovery_codes WHERE admin_id = ?", id).Error; err != nil {
		return fmt.Errorf("store: recovery codes: %w", err)
	}
	for _, h := range hashes {
		if err := tx.Create(&recoveryCodeRow{AdminID: id, CodeHash: h}).Error; err != nil {
			return fmt.Errorf("store: recovery codes: %w", err)
		}
	}
	return nil
}

// UseTOTPStep records that a code of time step was accepted for account
// id; it reports false (and changes nothing) when that step or a later
// one was already used — a replayed code.
func (s *Store) UseTOTPStep(ctx context.Context, id, step int64) (bool, error) {
	res := s.db.WithContext(ctx).Exec("UPDATE admins SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?", step, id, step)
	if res.Error != nil {
		return false, fmt.Errorf("store: use totp step: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// UseRecoveryCode spends one unused recovery code of account id; false
// when codeHash is not one (or was used already).
func (s *Store) UseRecoveryCode(ctx context.Context, id int64, codeHash string) (bool, error) {
	var ok bool
	err := s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&recoveryCodeRow{}).Where("admin_id = ? AND code_hash = ? AND used_at IS NULL", id, codeHash).Update("used_at", now())
		if res.Error != nil {
			return fmt.Errorf("store: use recovery code: %w", res.Error)
		}
		ok = res.RowsAffected == 1
		if !ok {
			return nil
		}
		return audit(ctx, tx, "mfa_recovery", "admin", id, "signed in with a recovery code", nil, nil)
	})
	return ok, err
}

// CountRecoveryCodes returns how many unused recovery codes account id has.
func (s *Store) CountRecoveryCodes(ctx context.Context, id int64) (int, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&recoveryCodeRow{}).Where("admin_id = ? AND used_at IS NULL", id).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("store: count recovery codes: %w", err)
	}
	return int(n), nil
}

// ResetMFA turns MFA off for account id (an admin's reset, or the owner
// turning it off), removing the secret and the recovery codes; audited.
// An account without MFA is ECONFLICT.
func (s *Store) ResetMFA(ctx context.Context, id int64) (*model.Admin, error) {
	return s.changeAdmin(ctx, id, func(tx *gorm.DB, r *adminRow) (string, string, bool, error) {
		if r.TOTPEnabledAt == nil {
			return "", "", false, model.Errorf(model.ECONFLICT, "MFA is not on for %s.", r.Username)
		}
		if err := tx.Model(&adminRow{}).Where("id = ?", r.ID).Updates(map[string]any{
			"totp_secret": "", "totp_enabled_at": nil, "totp_last_step": 0}).Error; err != nil {
			return "", "", false, fmt.Errorf("store: reset mfa: %w", err)
		}
		if err := replaceRecoveryCodes(tx, r.ID, nil); err != nil {
			return "", "", false, err
		}
		r.TOTPEnabledAt, r.TOTPSecret = nil, ""
		return "mfa_reset", "turned off MFA for " + r.Username, false, nil
	})
}

// ---- console sign-in settings ---------------------------------------------

type consoleAuthRow struct {
	ID                int64 `gorm:"primaryKey"`
	RequireAdminMFA   bool  `gorm:"column:require_admin_mfa"`
	DirectorySourceID *int64
	AdminGroupDN      string `gorm:"column:admin_group_dn"`
	AuditorGroupDN    string `gorm:"column:auditor_group_dn"`
	DirectoryRecheckS int    `gorm:"column:directory_recheck_s"`
}

func (consoleAuthRow) TableName() string { return "console_auth" }

func (r *consoleAuthRow) model() model.ConsoleAuth {
	m := model.ConsoleAuth{RequireAdminMFA: r.RequireAdminMFA, AdminGroupDN: r.AdminGroupDN, AuditorGroupDN: r.AuditorGroupDN,
		DirectoryRecheck: time.Duration(r.DirectoryRecheckS) * time.Second}
	if r.DirectorySourceID != nil {
		m.DirectorySourceID = *r.DirectorySourceID
	}
	return m
}

// GetConsoleAuth returns how the console signs people in.
func (s *Store) GetConsoleAuth(ctx context.Context) (model.ConsoleAuth, error) {
	var r consoleAuthRow
	err := s.db.WithContext(ctx).Take(&r, 1).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return model.ConsoleAuth{DirectoryRecheck: 5 * time.Minute}, nil
	}
	if err != nil {
		return model.ConsoleAuth{}, fmt.Errorf("store: console auth: %w", err)
	}
	return r.model(), nil
}

// UpdateConsoleAuth stores the sign-in settings, audited. A recheck
// interval outside 1 minute–24 hours, or a group without a source, is
// EINVALID.
func (s *Store) UpdateConsoleAuth(ctx context.Context, m model.ConsoleAuth) error {
	f := fields{}
	if m.DirectoryRecheck < time.Minute || m.DirectoryRecheck > 24*time.Hour {
		f.add("directory_recheck", "must be between 1 minute and 24 hours")
	}
	if m.DirectorySourceID == 0 && (m.AdminGroupDN != "" || m.AuditorGroupDN != "") {
		f.add("directory_source_id", "choose the source the groups are in")
	}
	if m.DirectorySourceID != 0 && m.AdminGroupDN == "" && m.AuditorGroupDN == "" {
		f.add("admin_group_dn", "name the admin group, the auditor group, or both")
	}
	if err := f.err(); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		var old consoleAuthRow
		if err := tx.Take(&old, 1).Error; err != nil {
			return fmt.Errorf("store: console auth: %w", err)
		}
		r := consoleAuthRow{ID: 1, RequireAdminMFA: m.RequireAdminMFA, AdminGroupDN: m.AdminGroupDN, AuditorGroupDN: m.AuditorGroupDN,
			DirectoryRecheckS: int(m.DirectoryRecheck / time.Second)}
		if m.DirectorySourceID != 0 {
			r.DirectorySourceID = &m.DirectorySourceID
		}
		if err := tx.Select("*").Save(&r).Error; err != nil {
			return dbErr("store: update console auth", err)
		}
		return audit(ctx, tx, "update", "console_auth", 1, "changed the console's sign-in settings", old.model(), r.model())
	})
}
