package model

import (
	"context"
	"time"
)

// The interfaces below are the contract between the web layer, the syncer and
// internal/store, which implements all of them on one *store.Store.
// Every mutating method writes its audit entry in the same transaction,
// taking the actor from the context (WithActor). Not-found is ENOTFOUND,
// a taken unique value ECONFLICT with Fields set, bad input EINVALID.

type actorKey struct{}

// WithActor returns ctx carrying the name recorded in audit entries.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor carried by ctx, or "system".
func ActorFrom(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return "system"
}

// UserService manages application users. CreateUser/UpdateUser/DeleteUser
// also (in the same transaction): propagate enterprise-group changes to the
// user's devices when Settings.SyncEnterpriseGroupsToDevices is on (SPEC §6),
// bump Version and the products' wanted versions (SPEC §9).
type UserService interface {
	ListUsers(ctx context.Context, f UserFilter) ([]User, int, error)
	GetUser(ctx context.Context, id int64) (*User, error)
	CreateUser(ctx context.Context, u *User) error // sets u.ID
	UpdateUser(ctx context.Context, u *User) error
	DeleteUser(ctx context.Context, id int64) error
	// UserGroups returns the user's service group and profile memberships.
	UserServiceGroups(ctx context.Context, userID int64) ([]ServiceGroup, []Membership, error)
	UserProfiles(ctx context.Context, userID int64) ([]Profile, []Membership, error)
}

type DeviceService interface {
	ListDevices(ctx context.Context, f DeviceFilter) ([]Device, int, error)
	GetDevice(ctx context.Context, id int64) (*Device, error)
	CreateDevice(ctx context.Context, d *Device) error
	UpdateDevice(ctx context.Context, d *Device) error // never changes the user (one-way)
	DeleteDevice(ctx context.Context, id int64) error
	// AssignDevice sets the device's user; userID 0 unassigns.
	AssignDevice(ctx context.Context, deviceID, userID int64) error
}

type ServiceGroupService interface {
	ListServiceGroups(ctx context.Context, q ListQuery) ([]ServiceGroup, int, error)
	GetServiceGroup(ctx context.Context, id int64) (*ServiceGroup, error)
	CreateServiceGroup(ctx context.Context, g *ServiceGroup) error
	UpdateServiceGroup(ctx context.Context, g *ServiceGroup) error
	DeleteServiceGroup(ctx context.Context, id int64) error
	ListServiceGroupMembers(ctx context.Context, groupID int64, q ListQuery) ([]User, []Membership, int, error)
	// AddServiceGroupMember adds a manual member; in single-membership mode
	// it fails with ECONFLICT when the user is already in another group.
	AddServiceGroupMember(ctx context.Context, groupID, userID int64) error
	RemoveServiceGroupMember(ctx context.Context, groupID, userID int64) error
}

type ProfileService interface {
	ListProfiles(ctx context.Context, q ListQuery) ([]Profile, int, error)
	GetProfile(ctx context.Context, id int64) (*Profile, error)
	CreateProfile(ctx context.Context, p *Profile) error // SyncEnabled forced off without rules
	UpdateProfile(ctx context.Context, p *Profile) error
	DeleteProfile(ctx context.Context, id int64) error
	ListProfileMembers(ctx context.Context, profileID int64, q ListQuery) ([]User, []Membership, int, error)
	AddProfileMember(ctx context.Context, profileID, userID int64) error // manual
	RemoveProfileMember(ctx context.Context, profileID, userID int64) error
}

type AttributeService interface {
	ListAttributes(ctx context.Context) ([]AttributeDef, error) // by Position
	GetAttribute(ctx context.Context, id int64) (*AttributeDef, error)
	CreateAttribute(ctx context.Context, a *AttributeDef) error
	UpdateAttribute(ctx context.Context, a *AttributeDef) error // Key is immutable
	DeleteAttribute(ctx context.Context, id int64) error
}

type SettingsService interface {
	GetSettings(ctx context.Context) (Settings, error)
	UpdateSettings(ctx context.Context, s Settings) error // validates; audits the diff
}

type AdminService interface {
	CountAdmins(ctx context.Context) (int, error)
	ListAdmins(ctx context.Context) ([]Admin, error)
	GetAdmin(ctx context.Context, id int64) (*Admin, error)
	GetAdminByUsername(ctx context.Context, username string) (*Admin, error)
	CreateAdmin(ctx context.Context, a *Admin) error
	UpdateAdmin(ctx context.Context, a *Admin) error
	TouchAdminLogin(ctx context.Context, id int64, at time.Time) error
	// CreateFirstAdmin creates a only when no admin exists yet (ECONFLICT
	// otherwise), atomically, so two setup requests cannot both win.
	CreateFirstAdmin(ctx context.Context, a *Admin) error
}

type AuditService interface {
	ListAudit(ctx context.Context, q ListQuery) ([]AuditEntry, int, error) // newest first
	// WriteAudit records an event that is not a store change (login, logout, run).
	WriteAudit(ctx context.Context, e *AuditEntry) error
}

type SourceService interface {
	ListSources(ctx context.Context) ([]Source, error)
	GetSource(ctx context.Context, id int64) (*Source, error) // BindPassword decrypted
	CreateSource(ctx context.Context, s *Source) error
	// UpdateSource keeps the stored password when s.BindPassword is "".
	UpdateSource(ctx context.Context, s *Source) error
	DeleteSource(ctx context.Context, id int64) error
	RecordSourceTest(ctx context.Context, id int64, at time.Time, errMsg string) error
}

type MappingService interface {
	ListGroupMappings(ctx context.Context) ([]GroupMapping, error) // by Priority, GroupDN
	GetGroupMapping(ctx context.Context, id int64) (*GroupMapping, error)
	CreateGroupMapping(ctx context.Context, m *GroupMapping) error
	UpdateGroupMapping(ctx context.Context, m *GroupMapping) error
	DeleteGroupMapping(ctx context.Context, id int64) error
	ListProvisioningMappings(ctx context.Context) ([]ProvisioningMapping, error)
	GetProvisioningMapping(ctx context.Context, id int64) (*ProvisioningMapping, error)
	CreateProvisioningMapping(ctx context.Context, m *ProvisioningMapping) error
	UpdateProvisioningMapping(ctx context.Context, m *ProvisioningMapping) error
	DeleteProvisioningMapping(ctx context.Context, id int64) error
}
