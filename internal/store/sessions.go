package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

// Console sessions: the web layer's gorilla/sessions store keeps them here.
// Rows are keyed by the SHA-256 of the cookie's random id, so a copy of the
// table signs nobody in. Times compared per request are unix seconds.

type sessionRow struct {
	IDHash    string `gorm:"primaryKey"`
	AdminID   *int64
	Data      string
	CreatedAt time.Time
	LastSeen  int64
	Expires   int64
	ClientIP  string `gorm:"column:client_ip"`
	UserAgent string
}

func (sessionRow) TableName() string { return "admin_sessions" }

func (r *sessionRow) model() model.Session {
	m := model.Session{IDHash: r.IDHash, Data: r.Data, CreatedAt: r.CreatedAt.UTC(),
		LastSeenAt: time.Unix(r.LastSeen, 0).UTC(), ExpiresAt: time.Unix(r.Expires, 0).UTC(),
		ClientIP: r.ClientIP, UserAgent: r.UserAgent}
	if r.AdminID != nil {
		m.AdminID = *r.AdminID
	}
	return m
}

// CreateSession inserts a session. An id hash already stored is ECONFLICT
// (ids are random: it does not happen by chance).
func (s *Store) CreateSession(ctx context.Context, m *model.Session) error {
	r := sessionRow{IDHash: m.IDHash, Data: m.Data, CreatedAt: m.CreatedAt.UTC().Truncate(time.Microsecond),
		LastSeen: m.LastSeenAt.Unix(), Expires: m.ExpiresAt.Unix(), ClientIP: trunc(m.ClientIP, 64), UserAgent: trunc(m.UserAgent, 256)}
	if m.AdminID != 0 {
		r.AdminID = &m.AdminID
	}
	if err := s.db.WithContext(ctx).Create(&r).Error; err != nil {
		return dbErr("store: create session", err)
	}
	return nil
}

// LookupSession returns the session stored under idHash when it has not
// expired at now, absolutely or by idle (not seen for idle); ENOTFOUND
// otherwise.
func (s *Store) LookupSession(ctx context.Context, idHash string, now time.Time, idle time.Duration) (*model.Session, error) {
	var r sessionRow
	err := s.db.WithContext(ctx).Where("id_hash = ? AND expires > ? AND last_seen > ?", idHash, now.Unix(), now.Add(-idle).Unix()).Take(&r).Error
	if err != nil {
		return nil, dbErrNotFound("store: lookup session", err, "Session", 0)
	}
	m := r.model()
	return &m, nil
}

// LookupSessionAdmin is LookupSession that also returns the signed-in
// account in the same query (nil for an anonymous session, or when the
// account is gone): one round trip per request.
func (s *Store) LookupSessionAdmin(ctx context.Context, idHash string, now time.Time, idle time.Duration) (*model.Session, *model.Admin, error) {
	var r struct {
		S sessionRow `gorm:"embedded"`
		A adminRow   `gorm:"embedded;embeddedPrefix:a_"`
	}
	err := s.db.WithContext(ctx).Raw(`SELECT s.*, a.id AS a_id, a.username AS a_username, a.password_hash AS a_password_hash,
 a.role AS a_role, a.created_at AS a_created_at, a.last_login_at AS a_last_login_at, a.status AS a_status,
 a.auth_source_id AS a_auth_source_id, a.directory_dn AS a_directory_dn, a.directory_checked_at AS a_directory_checked_at,
 a.password_changed_at AS a_password_changed_at, a.totp_enabled_at AS a_totp_enabled_at
FROM admin_sessions s LEFT JOIN admins a ON a.id = s.admin_id
WHERE s.id_hash = ? AND s.expires > ? AND s.last_seen > ?`, idHash, now.Unix(), now.Add(-idle).Unix()).Take(&r).Error
	if err != nil {
		return nil, nil, dbErrNotFound("store: lookup session", err, "Session", 0)
	}
	m := r.S.model()
	if r.A.ID == 0 {
		return &m, nil, nil
	}
	a := r.A.model()
	return &m, &a, nil
}

// TouchSession records that the session was used at at (the idle clock).
func (s *Store) TouchSession(ctx context.Context, idHash string, at time.Time) error {
	if err := s.db.WithContext(ctx).Exec("UPDATE admin_sessions SET last_seen = ? WHERE id_hash = ?", at.Unix(), idHash).Error; err != nil {
		return fmt.Errorf("store: touch session: %w", err)
	}
	return nil
}

// UpdateSessionData replaces a stored session's data. It never creates a
// row: it reports false when the session is gone (ended meanwhile), so a
// request in flight cannot bring a revoked session back.
func (s *Store) UpdateSessionData(ctx context.Context, idHash, data string) (bool, error) {
	res := s.db.WithContext(ctx).Exec("UPDATE admin_sessions SET data = ? WHERE id_hash = ?", data, idHash)
	if res.Error != nil {
		return false, fmt.Errorf("store: update session: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// DeleteSession removes one session (sign-out). A missing one is no error.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	if err := s.db.WithContext(ctx).Exec("DELETE FROM admin_sessions WHERE id_hash = ?", idHash).Error; err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// ListAdminSessions returns account id's open sessions at now, newest first.
func (s *Store) ListAdminSessions(ctx context.Context, id int64, now time.Time, idle time.Duration) ([]model.Session, error) {
	var rows []sessionRow
	if err := s.db.WithContext(ctx).Where("admin_id = ? AND expires > ? AND last_seen > ?", id, now.Unix(), now.Add(-idle).Unix()).
		Order("created_at DESC").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: list sessions: %w", err)
	}
	out := make([]model.Session, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
		out[i].Data = ""
	}
	return out, nil
}

// DeleteAdminSession ends one session of account id (from "my sessions"),
// audited; ENOTFOUND when it is not one of theirs.
func (s *Store) DeleteAdminSession(ctx context.Context, id int64, idHash string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Exec("DELETE FROM admin_sessions WHERE admin_id = ? AND id_hash = ?", id, idHash)
		if res.Error != nil {
			return fmt.Errorf("store: end session: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return model.Errorf(model.ENOTFOUND, "That session has already ended.")
		}
		return audit(ctx, tx, "end_sessions", "admin", id, "ended one session", nil, nil)
	})
}

// PruneSessions deletes sessions expired at now (absolutely or by idle)
// and returns how many.
func (s *Store) PruneSessions(ctx context.Context, now time.Time, idle time.Duration) (int, error) {
	res := s.db.WithContext(ctx).Exec("DELETE FROM admin_sessions WHERE expires <= ? OR last_seen <= ?", now.Unix(), now.Add(-idle).Unix())
	if res.Error != nil {
		return 0, fmt.Errorf("store: prune sessions: %w", res.Error)
	}
	return int(res.RowsAffected), nil
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
