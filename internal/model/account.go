package model

import (
	"context"
	"time"
)

// AccountStatus is whether a console account may sign in.
type AccountStatus string

// The console account statuses.
const (
	AccountActive   AccountStatus = "active"
	AccountDisabled AccountStatus = "disabled"
)

// ValidRole reports whether r is a role the console knows.
func ValidRole(r Role) bool { return r == RoleAdmin || r == RoleAuditor }

// Active reports whether the account may sign in and act.
func (a *Admin) Active() bool { return a != nil && a.Status == AccountActive }

// Directory reports whether the account's password is checked by the directory.
func (a *Admin) Directory() bool { return a != nil && a.AuthSourceID != 0 }

// Session is one signed-in (or anonymous) console session as the store
// keeps it. IDHash is the SHA-256 of the cookie's random id, hex.
type Session struct {
	IDHash     string
	AdminID    int64 // 0 = anonymous (pre-sign-in state only)
	Data       string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute end
	ClientIP   string
	UserAgent  string
}

// AccountSummary is an account as the Accounts page lists it.
type AccountSummary struct {
	Admin
	OpenSessions int
}

// ConsoleAuth is how the console signs people in (one row).
type ConsoleAuth struct {
	RequireAdminMFA bool
	// Directory sign-in by group: when DirectorySourceID is set, members of
	// AdminGroupDN or AuditorGroupDN in that source may sign in with their
	// directory password, and an account is created at their first sign-in.
	DirectorySourceID int64
	AdminGroupDN      string
	AuditorGroupDN    string
	// DirectoryRecheck is how often a signed-in directory account is looked
	// up again (disabled or removed there → its sessions end).
	DirectoryRecheck time.Duration
}

// AccountService is what the console and the API ask about console
// accounts beyond AdminService.
type AccountService interface {
	// ActiveAdmin returns the account when it exists and is active:
	// ENOTFOUND when it is gone, EFORBIDDEN when it is disabled. API tokens
	// call it on every request to honour the owner's status and role.
	ActiveAdmin(ctx context.Context, id int64) (*Admin, error)
}
