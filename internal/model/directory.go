package model

import (
	"sort"
	"strings"
	"time"
)

// ---- Directory sources --------------------------------------------------------

// SourceKind is the kind of directory server a source is.
type SourceKind string

// The directory source kinds.
const (
	SourceOpenLDAP        SourceKind = "openldap"
	SourceActiveDirectory SourceKind = "ad"
)

// AttributeMap says which directory attribute gives each user field.
type AttributeMap struct {
	ExternalID  string // entryUUID / objectGUID
	Username    string // uid / sAMAccountName
	Email       string // mail
	DisplayName string // displayName / cn
	// Disabled is the disabled-flag expression (directory.ParseDisabled,
	// docs/directory.md): e.g. "bit(userAccountControl, 2) ||
	// past(accountExpires)" on AD, "locked(pwdAccountLockedTime)" or
	// "employeeType=inactive" on OpenLDAP; "" = never disabled.
	Disabled   string
	Enterprise map[string]string // AttributeDef.Key → directory attribute
}

// Source is a configured LDAP or Active Directory server.
type Source struct {
	ID           int64
	Name         string
	Kind         SourceKind
	URLs         []string // tried in order (failover)
	StartTLS     bool
	CACert       string // PEM bundle; "" = system roots
	ServerName   string // TLS server name override
	BindDN       string
	BindPassword string // plaintext in memory only; encrypted at rest, never rendered
	UserBaseDN   string
	UserFilter   string
	GroupBaseDN  string
	GroupFilter  string
	// MemberAttr lists the membership attributes groups are read from,
	// separated by commas: member, uniqueMember, memberUid (MemberAttrs).
	MemberAttr string
	PageSize   int // default 1000 (Active Directory's MaxPageSize)
	// PrimaryGroups counts AD's primary group (a user's primaryGroupID,
	// listed in no member attribute) as membership. On by default for AD.
	PrimaryGroups bool
	Timeout       time.Duration
	Attributes    AttributeMap
	Demo          bool // the embedded demo directory
	Enabled       bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
	LastTestAt    time.Time
	LastTestError string
}

// MemberAttrs returns the membership attributes of s (MemberAttr split at
// commas, blanks trimmed, duplicates dropped); "member" when none is set.
func (s *Source) MemberAttrs() []string {
	var out []string
	for _, a := range strings.Split(s.MemberAttr, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		dup := false
		for _, b := range out {
			dup = dup || strings.EqualFold(a, b)
		}
		if !dup {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		out = []string{"member"}
	}
	return out
}

// DefaultADDisabled is the disabled flag of a new Active Directory source:
// the ACCOUNTDISABLE bit of userAccountControl or an expiry in the past.
const DefaultADDisabled = "bit(userAccountControl, 2) || past(accountExpires)"

// DefaultSource returns a Source filled with the defaults for kind.
func DefaultSource(kind SourceKind) Source {
	s := Source{Kind: kind, PageSize: 1000, Timeout: 30 * time.Second, Enabled: true}
	ent := map[string]string{
		AttrLocation:      "l",
		AttrCorporateUnit: "ou",
		AttrCostCenter:    "departmentNumber",
		AttrDepartment:    "department",
		AttrTitle:         "title",
		AttrGivenName:     "givenName",
		AttrFamilyName:    "sn",
	}
	switch kind {
	case SourceActiveDirectory:
		s.UserFilter = "(&(objectCategory=person)(objectClass=user))"
		s.GroupFilter = "(objectClass=group)"
		s.MemberAttr = "member"
		s.PrimaryGroups = true
		s.Attributes = AttributeMap{ExternalID: "objectGUID", Username: "sAMAccountName", Email: "mail",
			DisplayName: "displayName", Disabled: DefaultADDisabled, Enterprise: ent}
		ent[AttrCorporateUnit] = "company"
		ent[AttrCostCenter] = "extensionAttribute1"
	default:
		s.Kind = SourceOpenLDAP
		s.UserFilter = "(objectClass=inetOrgPerson)"
		s.GroupFilter = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"
		s.MemberAttr = "member, uniqueMember"
		s.Attributes = AttributeMap{ExternalID: "entryUUID", Username: "uid", Email: "mail",
			DisplayName: "displayName", Enterprise: ent}
		ent[AttrDepartment] = "businessCategory"
	}
	return s
}

// ---- Snapshot: what the directory says --------------------------------------

// DirUser is one user entry read from the directory.
type DirUser struct {
	ExternalID  string // entryUUID, or objectGUID rendered as a GUID string
	DN          string
	Username    string
	Email       string
	DisplayName string
	Disabled    bool
	Attributes  Attributes
}

// DirGroup is one group entry with its direct members.
type DirGroup struct {
	DN string
	// ID is the group's stable id, read from the source's external id
	// attribute (objectGUID / entryUUID) like a user's; "" when the group
	// has none.
	ID     string
	Name   string   // cn
	Users  []string // external ids of direct user members
	Groups []string // DNs of direct group members (nested groups)
	// Unresolved holds member values that matched no user or group read.
	Unresolved []string
	// Outside is true for a group outside the group base, read by DN
	// because a group under it nests it (it still matches the group
	// filter).
	Outside bool
	// Unmatched says, for each Unresolved value, why it matched nothing
	// (same order). A read may leave it nil; then the reason is unknown.
	Unmatched []UnmatchedMember
}

// Why a member value matched no user or group (UnmatchedMember.Reason).
const (
	UnmatchedDangling      = "dangling"       // no entry has this DN
	UnmatchedOutsideBase   = "outside_base"   // the entry is not under the user base DN
	UnmatchedOutsideFilter = "outside_filter" // the entry does not match the user filter
	UnmatchedUnknownUID    = "unknown_uid"    // no user has this uid (memberUid)
	UnmatchedUnparseable   = "unparseable"    // the value is not a DN
	UnmatchedNotUser       = "not_user"       // an entry that is neither a user nor a group read
	UnmatchedNotChecked    = "not_checked"    // too many unmatched values to look each up
)

// UnmatchedMember is a member value of a group that is no user or group of
// the snapshot, with the reason.
type UnmatchedMember struct {
	Value  string
	Reason string // Unmatched* code
	Detail string // one sentence for the plan and Why?
	// ExternalID, DN and Username identify the entry when it was found
	// (outside the user base or filter), so Why? can name an existing user.
	ExternalID string
	DN         string
	Username   string
}

// Snapshot is one complete read of a source. A Snapshot is never partial:
// a read that fails returns an error, not a smaller Snapshot.
type Snapshot struct {
	SourceID int64
	ReadAt   time.Time
	Users    []DirUser  // sorted by ExternalID
	Groups   []DirGroup // sorted by DN
	// Complete is false for single-user reads (refresh one user), where the
	// absence of other users or groups means nothing.
	Complete bool
}

// Index gives fast lookups over a Snapshot. Build it once with NewIndex.
type Index struct {
	Snap      *Snapshot
	UserByID  map[string]*DirUser
	GroupByDN map[string]*DirGroup
}

// NewIndex indexes s; group DNs are compared case-insensitively.
func NewIndex(s *Snapshot) *Index {
	ix := &Index{Snap: s, UserByID: make(map[string]*DirUser, len(s.Users)), GroupByDN: make(map[string]*DirGroup, len(s.Groups))}
	for i := range s.Users {
		ix.UserByID[s.Users[i].ExternalID] = &s.Users[i]
	}
	for i := range s.Groups {
		ix.GroupByDN[NormalizeDN(s.Groups[i].DN)] = &s.Groups[i]
	}
	return ix
}

// Group returns the group with dn, or nil.
func (ix *Index) Group(dn string) *DirGroup { return ix.GroupByDN[NormalizeDN(dn)] }

// Members returns the external ids of the users in group dn, each with the
// chain of group DNs that brought them in (dn first). With nested=false only
// direct members count. Cycles are tolerated: each group is visited once,
// breadth-first, so every path is a shortest one. ok is false when dn is not
// in the snapshot.
func (ix *Index) Members(dn string, nested bool) (members map[string][]string, ok bool) {
	root := ix.Group(dn)
	if root == nil {
		return nil, false
	}
	members = map[string][]string{}
	type item struct {
		g    *DirGroup
		path []string
	}
	seen := map[string]bool{NormalizeDN(root.DN): true}
	queue := []item{{root, []string{root.DN}}}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		for _, u := range it.g.Users {
			if _, done := members[u]; !done {
				members[u] = it.path
			}
		}
		if !nested {
			break
		}
		subs := append([]string(nil), it.g.Groups...)
		sort.Strings(subs)
		for _, sdn := range subs {
			k := NormalizeDN(sdn)
			if seen[k] {
				continue
			}
			seen[k] = true
			if sg := ix.GroupByDN[k]; sg != nil {
				p := append(append([]string(nil), it.path...), sg.DN)
				queue = append(queue, item{sg, p})
			}
		}
	}
	return members, true
}

// ---- Mappings -------------------------------------------------------------------

// GroupMapping maps a directory group onto a service group (SPEC §1, §4).
type GroupMapping struct {
	ID       int64
	SourceID int64
	GroupDN  string
	// GroupID is the group's stable id (objectGUID / entryUUID), recorded
	// by the first sync that finds the group; a renamed or moved group is
	// found by it and GroupDN updated. "" until known.
	GroupID          string
	ServiceGroupID   int64
	ServiceGroupName string // filled on reads
	Nested           bool
	Force            bool
	Priority         int // lower wins; ties broken by directory group DN
	CreatedAt        time.Time
}

// ProvisioningMapping maps a directory group onto one of the two virtual
// provisioning groups (SPEC §3).
type ProvisioningMapping struct {
	ID          int64
	SourceID    int64
	GroupDN     string
	GroupID     string      // stable id, as GroupMapping.GroupID
	AccountType AccountType // device_enabled: "Provision user as device-enabled"; administrator: "Provision user"
	Nested      bool
	Priority    int
	CreatedAt   time.Time
}
