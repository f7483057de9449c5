package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

// TokenPrefix starts every API token secret, so that a leaked one is easy
// to recognise (secret scanners, logs).
const TokenPrefix = "idsync_"

type apiTokenRow struct {
	ID         int64 `gorm:"primaryKey"`
	AdminID    int64
	Name       string
	Prefix     string
	SecretHash string
	Role       string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	RevokedAt  *time.Time
	RevokedBy  string
	LastUsedAt *time.Time
	LastUsedIP string `gorm:"column:last_used_ip"`
}

func (apiTokenRow) TableName() string { return "api_tokens" }

func (r *apiTokenRow) model(owner string) model.APIToken {
	t := model.APIToken{ID: r.ID, AdminID: r.AdminID, Owner: owner, Name: r.Name, Prefix: r.Prefix,
		Role: model.Role(r.Role), CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(),
		RevokedBy: r.RevokedBy, LastUsedIP: r.LastUsedIP}
	if r.RevokedAt != nil {
		t.RevokedAt = r.RevokedAt.UTC()
	}
	if r.LastUsedAt != nil {
		t.LastUsedAt = r.LastUsedAt.UTC()
	}
	return t
}

// auditToken is what the audit log records of a token: never the hash.
func auditTokenValue(t *model.APIToken) any {
	return struct {
		ID        int64
		AdminID   int64
		Name      string
		Prefix    string
		Role      model.Role
		ExpiresAt time.Time
	}{t.ID, t.AdminID, t.Name, t.Prefix, t.Role, t.ExpiresAt}
}

func hashTokenSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// CreateAPIToken creates a token for the account t.AdminID with t.Name,
// t.Role and t.ExpiresAt (zero: model.DefaultTokenDays after at) and
// returns its secret, which is not stored and cannot be read again. The
// role must be one the owner holds, the expiry in the future and at most
// model.MaxTokenDays away: EINVALID with Fields otherwise; an unknown owner
// is ENOTFOUND.
func (s *Store) CreateAPIToken(ctx context.Context, t *model.APIToken, at time.Time) (string, error) {
	at = at.UTC().Truncate(time.Microsecond)
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("store: create api token: %w", err)
	}
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var owner adminRow
		if err := tx.Take(&owner, t.AdminID).Error; err != nil {
			return dbErrNotFound("store: create api token", err, "Account", t.AdminID)
		}
		nt := *t
		nt.Name = strings.TrimSpace(nt.Name)
		if nt.ExpiresAt.IsZero() {
			nt.ExpiresAt = at.AddDate(0, 0, model.DefaultTokenDays)
		}
		nt.ExpiresAt = nt.ExpiresAt.UTC().Truncate(time.Microsecond)
		f := fields{}
		f.text("name", nt.Name, true, 100)
		oneOf(f, "role", nt.Role, model.RoleAdmin, model.RoleAuditor)
		if f["role"] == "" && !model.RoleAllows(model.Role(owner.Role), nt.Role) {
			f.add("role", "cannot be higher than the account's role (%s)", owner.Role)
		}
		switch {
		case !nt.ExpiresAt.After(at):
			f.add("expires_at", "must be in the future")
		case nt.ExpiresAt.After(at.AddDate(0, 0, model.MaxTokenDays)):
			f.add("expires_at", "must be at most one year away")
		}
		if err := f.err(); err != nil {
			return err
		}
		r := apiTokenRow{AdminID: nt.AdminID, Name: nt.Name, Prefix: secret[:len(TokenPrefix)+6],
			SecretHash: hashTokenSecret(secret), Role: string(nt.Role), CreatedAt: at, ExpiresAt: nt.ExpiresAt}
		if err := tx.Create(&r).Error; err != nil {
			return dbErr("store: create api token", err)
		}
		nt = r.model(owner.Username)
		summary := fmt.Sprintf("created API token %q (%s) for %s", nt.Name, nt.Role, owner.Username)
		if err := audit(ctx, tx, "create", "api_token", nt.ID, summary, nil, auditTokenValue(&nt)); err != nil {
			return err
		}
		*t = nt
		return nil
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// ListAPITokens returns the tokens of account adminID (0: every account's),
// newest first, with their owners' usernames.
func (s *Store) ListAPITokens(ctx context.Context, adminID int64) ([]model.APIToken, error) {
	db := s.db.WithContext(ctx)
	q := db.Order("id DESC")
	if adminID != 0 {
		q = q.Where("admin_id = ?", adminID)
	}
	var rows []apiTokenRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: list api tokens: %w", err)
	}
	names := map[int64]string{}
	var admins []adminRow
	if err := db.Select("id", "username").Find(&admins).Error; err != nil {
		return nil, fmt.Errorf("store: list api tokens: %w", err)
	}
	for _, a := range admins {
		names[a.ID] = a.Username
	}
	out := make([]model.APIToken, len(rows))
	for i := range rows {
		out[i] = rows[i].model(names[rows[i].AdminID])
	}
	return out, nil
}

// GetAPIToken returns one token, or ENOTFOUND.
func (s *Store) GetAPIToken(ctx context.Context, id int64) (*model.APIToken, error) {
	db := s.db.WithContext(ctx)
	var r apiTokenRow
	if err := db.Take(&r, id).Error; err != nil {
		return nil, dbErrNotFound("store: get api token", err, "API token", id)
	}
	var owner adminRow
	if err := db.Select("id", "username").Take(&owner, r.AdminID).Error; err != nil {
		return nil, dbErr("store: get api token owner", err)
	}
	t := r.model(owner.Username)
	return &t, nil
}

// AuthenticateAPIToken returns the token whose secret is given and its
// owning account. An unknown secret is EUNAUTHORIZED, as is a revoked or
// expired token (at is now); whether the account may still use it is the
// caller's decision (its status and role may have changed since).
func (s *Store) AuthenticateAPIToken(ctx context.Context, secret string, at time.Time) (*model.APIToken, *model.Admin, error) {
	bad := model.Errorf(model.EUNAUTHORIZED, "The API token is not valid.")
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) > 200 {
		return nil, nil, bad
	}
	db := s.db.WithContext(ctx)
	var r apiTokenRow
	if err := db.Where("secret_hash = ?", hashTokenSecret(secret)).Take(&r).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, nil, bad
		}
		return nil, nil, fmt.Errorf("store: authenticate api token: %w", err)
	}
	var owner adminRow
	if err := db.Take(&owner, r.AdminID).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, nil, bad
		}
		return nil, nil, fmt.Errorf("store: authenticate api token: %w", err)
	}
	t := r.model(owner.Username)
	switch {
	case !t.RevokedAt.IsZero():
		return nil, nil, model.Errorf(model.EUNAUTHORIZED, "The API token has been revoked.")
	case !at.Before(t.ExpiresAt):
		return nil, nil, model.Errorf(model.EUNAUTHORIZED, "The API token has expired.")
	}
	a := owner.model()
	return &t, &a, nil
}

// TouchAPIToken records a use of the token at at from ip. To keep requests
// cheap it writes only when the address changed or the stored time is
// more than a minute old.
func (s *Store) TouchAPIToken(ctx context.Context, id int64, at time.Time, ip string) error {
	at = at.UTC().Truncate(time.Microsecond)
	err := s.db.WithContext(ctx).Model(&apiTokenRow{}).
		Where("id = ? AND (last_used_at IS NULL OR last_used_at < ? OR last_used_ip <> ?)", id, at.Add(-time.Minute), ip).
		Updates(map[string]any{"last_used_at": at, "last_used_ip": ip}).Error
	if err != nil {
		return fmt.Errorf("store: touch api token: %w", err)
	}
	return nil
}

// RevokeAPIToken revokes a token at at; revoking a revoked token changes
// nothing. Who may revoke it is the caller's decision. ENOTFOUND for an
// unknown id.
func (s *Store) RevokeAPIToken(ctx context.Context, id int64, at time.Time) error {
	at = at.UTC().Truncate(time.Microsecond)
	return s.tx(ctx, func(tx *gorm.DB) error {
		var r apiTokenRow
		if err := tx.Take(&r, id).Error; err != nil {
			return dbErrNotFound("store: revoke api token", err, "API token", id)
		}
		if r.RevokedAt != nil {
			return nil
		}
		by := model.ActorFrom(ctx)
		if err := tx.Model(&apiTokenRow{}).Where("id = ?", id).
			Updates(map[string]any{"revoked_at": at, "revoked_by": by}).Error; err != nil {
			return fmt.Errorf("store: revoke api token: %w", err)
		}
		t := r.model("")
		return audit(ctx, tx, "revoke", "api_token", id, fmt.Sprintf("revoked API token %q", r.Name), auditTokenValue(&t), nil)
	})
}
