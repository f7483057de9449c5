package model

// State is the part of the database a sync plans against: every user,
// device, service group, profile, membership and mapping, as loaded in one
// read transaction. Memberships are keyed by group/profile id.
type State struct {
	Settings             Settings
	AttributeDefs        []AttributeDef
	Users                []User // all users (directory, local and system)
	Devices              []Device
	ServiceGroups        []ServiceGroup
	Profiles             []Profile
	ServiceGroupMembers  []Membership // GroupID = service group id
	ProfileMembers       []Membership // GroupID = profile id
	GroupMappings        []GroupMapping
	ProvisioningMappings []ProvisioningMapping
}
