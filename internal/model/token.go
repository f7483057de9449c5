package model

import (
	"context"
	"time"
)

// API token lifetimes (issue 10): a token expires after DefaultTokenDays
// unless its owner chooses otherwise, and never later than MaxTokenDays.
const (
	DefaultTokenDays = 90
	MaxTokenDays     = 366
)

// APIToken is a named credential of a console account for the JSON API.
// Its secret is shown once, at creation; only its hash is stored.
type APIToken struct {
	ID         int64
	AdminID    int64  // the owning account
	Owner      string // the owning account's username (filled by reads)
	Name       string
	Prefix     string // the secret's first characters, to recognise it
	Role       Role   // no higher than the owner's
	CreatedAt  time.Time
	ExpiresAt  time.Time
	RevokedAt  time.Time // zero while not revoked
	RevokedBy  string
	LastUsedAt time.Time // zero while never used
	LastUsedIP string
}

// Active reports whether the token may be used at t.
func (t *APIToken) Active(at time.Time) bool {
	return t.RevokedAt.IsZero() && at.Before(t.ExpiresAt)
}

// RoleAllows reports whether an account with role have may hold (or use)
// something with role want: admins may hold both roles, auditors only theirs.
func RoleAllows(have, want Role) bool {
	switch have {
	case RoleAdmin:
		return want == RoleAdmin || want == RoleAuditor
	case RoleAuditor:
		return want == RoleAuditor
	}
	return false
}

type tokenKey struct{}

// WithToken returns ctx carrying the API token a request was made with;
// audit entries written under ctx record its id.
func WithToken(ctx context.Context, tokenID int64) context.Context {
	return context.WithValue(ctx, tokenKey{}, tokenID)
}

// TokenFrom returns the API token id carried by ctx, or 0.
func TokenFrom(ctx context.Context) int64 {
	id, _ := ctx.Value(tokenKey{}).(int64)
	return id
}
