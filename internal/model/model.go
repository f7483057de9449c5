package model

import (
	"strings"
	"time"
)

// ---- Enterprise attributes ----------------------------------------------

// Default enterprise attribute keys. The first three form the "enterprise
// group" subset that devices carry too (SPEC §1, §6).
const (
	AttrLocation      = "location"
	AttrCorporateUnit = "corporate_unit"
	AttrCostCenter    = "cost_center"
	AttrDepartment    = "department"
	AttrTitle         = "title"
	// Given and family name (issue 14): read from givenName / sn by
	// default and sent to SCIM products as name.givenName / familyName.
	AttrGivenName  = "given_name"
	AttrFamilyName = "family_name"
)

// AttributeDef is a configured enterprise attribute.
type AttributeDef struct {
	ID              int64
	Key             string // stable slug: [a-z][a-z0-9_]{0,39}
	Name            string // shown to admins
	EnterpriseGroup bool   // devices carry it too (location, corporate unit, cost center)
	Position        int    // display order
}

// Attributes maps attribute key → value. A missing key and "" mean the same.
type Attributes map[string]string

// Clone returns an independent copy (nil stays nil).
func (a Attributes) Clone() Attributes {
	if a == nil {
		return nil
	}
	c := make(Attributes, len(a))
	for k, v := range a {
		c[k] = v
	}
	return c
}

// ---- Users ------------------------------------------------------------------

// UserStatus is whether a user may use the application.
type UserStatus string

// The user statuses.
const (
	StatusActive   UserStatus = "active"
	StatusDisabled UserStatus = "disabled"
)

// Origin tells where a user comes from. Only directory users are ever
// changed by sync; local and system accounts never are.
type Origin string

// The origins of a user.
const (
	OriginDirectory Origin = "directory"
	OriginLocal     Origin = "local"
	OriginSystem    Origin = "system"
)

// AccountType is what a user may do: device-enabled, or an administrator
// account that is not device-enabled (SPEC §3).
type AccountType string

// The account types.
const (
	AccountDeviceEnabled AccountType = "device_enabled"
	AccountAdministrator AccountType = "administrator" // not device-enabled
)

// User is an application user (not a console admin; see Admin).
type User struct {
	ID          int64
	Username    string
	Email       string
	DisplayName string
	Status      UserStatus
	Origin      Origin
	AccountType AccountType
	// Directory identity; SourceID is 0 and ExternalID "" for local/system.
	SourceID   int64
	ExternalID string
	DN         string
	// DisabledBySync is set when sync disabled the user, so that sync may
	// re-enable them when they come back (SPEC §3). Admin disables stay.
	DisabledBySync bool
	Attributes     Attributes
	Version        int64 // bumped on every change; drives product delivery
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Managed reports whether sync may change this user (SPEC §1, seed 003).
func (u *User) Managed() bool {
	return u.Origin == OriginDirectory && u.ExternalID != ""
}

// ---- Devices ----------------------------------------------------------------

// Device is a device of the application, with its enterprise group data
// and its assigned user (SPEC §1, §6).
type Device struct {
	ID         int64
	Name       string
	Serial     string // unique when set
	Platform   string
	UserID     int64      // 0 = unassigned
	Attributes Attributes // only enterprise-group keys
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// ---- Service groups and profiles -----------------------------------------

// Rule is one condition "attribute = value"; a rule set matches when every
// rule matches (AND). Values compare case-insensitively after trimming.
type Rule struct {
	Attribute string // AttributeDef.Key
	Value     string
}

// MatchRules reports whether attrs satisfy every rule. An empty rule set matches
// nothing: a profile or group without rules never assigns anyone.
func MatchRules(rules []Rule, attrs Attributes) bool {
	if len(rules) == 0 {
		return false
	}
	for _, r := range rules {
		if !strings.EqualFold(strings.TrimSpace(attrs[r.Attribute]), strings.TrimSpace(r.Value)) {
			return false
		}
	}
	return true
}

// ServiceGroup is the application group that carries roles and policies;
// directory groups map onto it (SPEC §4).
type ServiceGroup struct {
	ID          int64
	Name        string
	Description string
	Rules       []Rule // used only when a user is first created (SPEC §4)
	MemberCount int    // filled by list queries
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Profile is a named permission set whose members are synced by its
// attribute rules or added by hand (SPEC §5).
type Profile struct {
	ID          int64
	Name        string
	Description string
	Rules       []Rule
	SyncEnabled bool // "Enable enterprise attributes synchronization"; false while no rules
	MemberCount int  // filled by list queries
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Membership links a user to a service group or profile. Manual members
// were added by an admin and are never removed by sync (SPEC §5).
type Membership struct {
	GroupID int64 // service group or profile id
	UserID  int64
	Manual  bool
}

// ---- Settings ---------------------------------------------------------------

// DeprovisionAction is what deprovisioning does to an account (SPEC §3).
type DeprovisionAction string

// The deprovisioning actions.
const (
	DeprovisionDelete  DeprovisionAction = "delete"
	DeprovisionDisable DeprovisionAction = "disable"
	DeprovisionReport  DeprovisionAction = "report"
)

// MembershipMode says how many service groups a user may be in (SPEC §4).
type MembershipMode string

// The service group membership modes.
const (
	MembershipSingle   MembershipMode = "single"
	MembershipMultiple MembershipMode = "multiple"
)

// Settings is the System settings page (SPEC §2).
type Settings struct {
	SyncEnterpriseGroupsToDevices bool // §6, default off
	SyncDevicesToUsers            bool // §6 reverse direction, default off
	AutoProfileSync               bool // §5 master switch, default on
	RefreshIntervalHours          int  // §8, default 48
	RefreshStartTime              string
	TimeZone                      string // IANA name; "" = server local
	ProvisioningEnabled           bool   // §3, default off
	DeprovisioningEnabled         bool   // §3, default off
	DeprovisionAction             DeprovisionAction
	ServiceGroupMembership        MembershipMode
	DeleteThresholdCount          int // §7, default 500
	DeleteThresholdPercent        int // §7, default 10
	ShrinkThresholdPercent        int // §7, default 20 (directory answer this much smaller → hold)
	AutoProductSync               bool
	RunRetentionDays              int
	InstalledAt                   time.Time // set once by the first migration run
}

// DefaultSettings returns SPEC §2's defaults.
func DefaultSettings() Settings {
	return Settings{
		AutoProfileSync:        true,
		RefreshIntervalHours:   48,
		RefreshStartTime:       "02:00",
		DeprovisionAction:      DeprovisionDelete,
		ServiceGroupMembership: MembershipSingle,
		DeleteThresholdCount:   500,
		DeleteThresholdPercent: 10,
		ShrinkThresholdPercent: 20,
		AutoProductSync:        true,
		RunRetentionDays:       90,
	}
}

// ---- Console accounts and audit ------------------------------------------

// Role is a console account's role.
type Role string

// The console roles.
const (
	RoleAdmin   Role = "admin"
	RoleAuditor Role = "auditor" // read-only
)

// Admin is a console account (an admin or a read-only auditor), not an
// application user.
type Admin struct {
	ID           int64
	Username     string
	PasswordHash string // argon2id, PHC string format
	Role         Role
	CreatedAt    time.Time
	LastLoginAt  time.Time

	// Account state (account.go).
	Status       AccountStatus
	AuthSourceID int64  // 0 = local password; else the source whose LDAP bind checks it
	DirectoryDN  string // the DN last found for a directory account
	// DirectoryCheckedAt is when the directory last confirmed the account.
	DirectoryCheckedAt time.Time
	PasswordChangedAt  time.Time
	MFAEnabled         bool // TOTP confirmed (the secret stays in the store)
}

// AuditEntry records one change: who, when, what, before → after.
type AuditEntry struct {
	ID         int64
	At         time.Time
	Actor      string // admin username, "sync", "scheduler", "api:<token name>", "cli"
	Action     string // create, update, delete, assign, login, …
	ObjectType string // user, device, service_group, profile, attribute, settings, source, …
	ObjectID   int64
	Summary    string
	Before     string // JSON, secrets removed
	After      string // JSON, secrets removed
	TokenID    int64  // the API token the change was made with; 0 = none
}

// ---- Lists --------------------------------------------------------------------

// ListQuery is what every list page asks for.
type ListQuery struct {
	Search  string // case-insensitive substring over the list's text columns
	Sort    string // a column name the list allows; others → default
	Desc    bool
	Page    int // 1-based; <1 means 1
	PerPage int // <1 means 50; capped at 500
}

// Normalize fills defaults and caps PerPage.
func (q ListQuery) Normalize() ListQuery {
	if q.Page < 1 {
		q.Page = 1
	}
	if q.PerPage < 1 {
		q.PerPage = 50
	}
	if q.PerPage > 500 {
		q.PerPage = 500
	}
	return q
}

// Offset returns the row offset of q's page.
func (q ListQuery) Offset() int {
	q = q.Normalize()
	return (q.Page - 1) * q.PerPage
}

// UserFilter narrows a user list beyond ListQuery.
type UserFilter struct {
	ListQuery
	Status         UserStatus // "" = any
	Origin         Origin     // "" = any
	ServiceGroupID int64
	ProfileID      int64
}

// DeviceFilter narrows a device list beyond ListQuery.
type DeviceFilter struct {
	ListQuery
	UserID     int64
	Unassigned bool
}
