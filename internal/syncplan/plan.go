// Package syncplan computes what a directory sync would change. It is pure:
// from a directory Snapshot and the loaded State it returns a model.Plan —
// the actions to perform, the changes not performed with their reasons, and
// the guard findings that hold an apply. No I/O and no clock: the same Input
// always gives the same Plan, in the same order (Build hashes the inputs and
// sorts the skips on goroutines it joins before returning; the result does
// not depend on their timing).
//
// The rules are written for administrators in docs/sync-rules.md.
package syncplan

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/idsync/idsync/internal/model"
)

// Input is everything a plan is computed from.
type Input struct {
	Snapshot *model.Snapshot // nil is treated as an empty partial read
	State    *model.State    // nil is treated as an empty database
	// SourceID is the directory source being synced; 0 means Snapshot.SourceID.
	SourceID int64
	// Baseline describes the last good run; its zero value means there was none.
	Baseline Baseline
	// Now is the planning time; the planner never reads the clock.
	Now time.Time
	// SnapshotHash and StateHash, when not empty, are SnapshotHash(Snapshot)
	// and StateHash(State) computed by the caller (e.g. while the other input
	// was still loading); Build computes the missing ones.
	SnapshotHash, StateHash string
}

// Baseline holds the figures of the last good run that the guard compares
// against (SPEC §7). A zero value disables the comparisons that need it.
type Baseline struct {
	DirectoryUsers    int            // users in the last complete snapshot
	ServiceGroupSizes map[int64]int  // service group id → members after the run
	ProfileSizes      map[int64]int  // profile id → members after the run
	AttributeFilled   map[string]int // attribute key → managed users with a value
}

// Hold codes. The web layer shows each Hold's Message; apply refuses a plan
// with holds unless an admin overrides them.
const (
	HoldDeleteThreshold = "delete_threshold"
	HoldShrink          = "shrink"
	HoldMassRemoval     = "mass_removal"
	HoldBlankAttribute  = "blank_attribute"
	HoldForceEmpty      = "force_empty"
	HoldEmptyDirectory  = "empty_directory"
	HoldMissingGroup    = "missing_group"
)

// Guard thresholds the settings page does not expose (docs/sync-rules.md).
const (
	// A service group or profile losing more than MassRemovalPercent of its
	// size at the last good run, and more than MassRemovalMinUsers members,
	// holds the run.
	MassRemovalPercent  = 50
	MassRemovalMinUsers = 10
	// An enterprise attribute becoming blank for more than BlankMinUsers
	// users and at least BlankPercent of the users who had it filled holds
	// the run.
	BlankPercent  = 20
	BlankMinUsers = 10
)

// Build returns the plan that brings the State in line with the Snapshot.
// It never fails: anything it cannot do is a Skip with its reason, anything
// suspicious a Hold. The plan carries SnapshotHash and StateHash.
func Build(in Input) *model.Plan {
	// The two hashes read the inputs only: computed next to the planning,
	// they cost no wall time on a machine with a second core.
	snapHash, stateHash := in.SnapshotHash, in.StateHash
	var wg sync.WaitGroup
	if snapHash == "" {
		wg.Go(func() { snapHash = SnapshotHash(in.Snapshot) })
	}
	if stateHash == "" {
		wg.Go(func() { stateHash = StateHash(in.State) })
	}
	p := newPlanner(in)
	p.run()
	out := p.plan()
	wg.Wait()
	out.SnapshotHash, out.StateHash = snapHash, stateHash
	return out
}

// ---- the planner --------------------------------------------------------------

// provMap is one provisioning mapping of this source with its resolved members.
type provMap struct {
	m       model.ProvisioningMapping
	found   bool
	members map[string][]string // external id → group path
}

// Mapping status in one run.
const (
	mapOK      = iota // group read; members known
	mapMissing        // group missing, no force: skipped, removals suspended
	mapForced         // group missing, force: treated as empty
	mapNoGroup        // target service group does not exist: ignored
)

// sgMap is one group mapping of this source with its resolved members.
type sgMap struct {
	m       model.GroupMapping
	sg      *model.ServiceGroup
	status  int
	members map[string][]string
}

type egChange struct {
	userID   int64
	key      string
	old, new string
}

type planner struct {
	in    Input
	snap  *model.Snapshot
	st    *model.State
	set   model.Settings
	src   int64
	ix    *model.Index
	empty bool // a complete snapshot with no users

	dirUsers []*model.DirUser // valid entries, unique, sorted by external id
	dirByExt map[string]*model.DirUser
	defs     map[string]*model.AttributeDef
	defKeys  []string // sorted

	users    []*model.User // all users, sorted by id
	userByID map[int64]*model.User
	managed  map[string]*model.User // external id → user of this source
	// lazily, for unmatched members: normalized DN / lower-case username → managed user
	managedByDN, managedByName map[string]*model.User
	gone                       []*model.User    // managed users of this source absent from a complete snapshot
	usernames                  map[string]int64 // lower-case username → user id (-1: a user this plan creates)

	provMaps  []provMap
	provKnown bool                         // every provisioning group was read
	wantType  map[string]model.AccountType // external id → type its provisioning groups ask

	creating    []*model.User // users this plan creates, by external id
	createByExt map[string]*model.User
	deleting    map[int64]bool
	future      map[int64]model.Attributes // attributes after this plan (changed users only)
	egChanges   []egChange
	blanked     map[string]int

	sgMaps     []sgMap
	sgByID     map[int64]*model.ServiceGroup
	sgMembers  map[int64][]model.Membership // user id → service group memberships
	devsByUser map[int64][]*model.Device
	sgSizes    map[int64]int         // lazily: service group id → members
	ruleGroups []*model.ServiceGroup // lazily: service groups with rules, by id
	reasons    map[reasonKey]string  // shared reason texts

	actions [6][]model.Action // by phase index
	skips   []model.Skip
	holds   []model.Hold
}

func phaseIndex(ph model.Phase) int {
	for i, p := range model.Phases {
		if p == ph {
			return i
		}
	}
	return len(model.Phases) - 1
}

func newPlanner(in Input) *planner {
	p := &planner{in: in, snap: in.Snapshot, st: in.State}
	if p.snap == nil {
		p.snap = &model.Snapshot{}
	}
	if p.st == nil {
		p.st = &model.State{}
	}
	p.set = p.st.Settings
	p.src = in.SourceID
	if p.src == 0 {
		p.src = p.snap.SourceID
	}
	p.ix = model.NewIndex(p.snap)
	p.deleting = map[int64]bool{}
	p.future = map[int64]model.Attributes{}
	p.blanked = map[string]int{}
	n := len(p.snap.Users)
	p.createByExt = make(map[string]*model.User, n)
	p.wantType = make(map[string]model.AccountType, n)

	p.defs = make(map[string]*model.AttributeDef, len(p.st.AttributeDefs))
	for i := range p.st.AttributeDefs {
		d := &p.st.AttributeDefs[i]
		if d.Key == "" {
			continue
		}
		if _, dup := p.defs[d.Key]; !dup {
			p.defs[d.Key] = d
			p.defKeys = append(p.defKeys, d.Key)
		}
	}
	slices.Sort(p.defKeys)

	p.dirByExt = make(map[string]*model.DirUser, len(p.snap.Users))
	for i := range p.snap.Users {
		d := &p.snap.Users[i]
		if d.ExternalID == "" {
			p.skip(model.PhaseProvisioning, model.ActCreateUser, nil, d, "directory entry "+quote(d.DN)+" has no external id; ignored")
			continue
		}
		if _, dup := p.dirByExt[d.ExternalID]; dup {
			p.skip(model.PhaseProvisioning, model.ActCreateUser, nil, d, "external id "+quote(d.ExternalID)+" appears twice in the directory read; the second entry ("+quote(d.DN)+") is ignored")
			continue
		}
		p.dirByExt[d.ExternalID] = d
		p.dirUsers = append(p.dirUsers, d)
	}
	slices.SortFunc(p.dirUsers, func(a, b *model.DirUser) int { return strings.Compare(a.ExternalID, b.ExternalID) })
	p.empty = p.snap.Complete && len(p.dirUsers) == 0

	p.users = make([]*model.User, 0, len(p.st.Users))
	p.userByID = make(map[int64]*model.User, len(p.st.Users))
	p.managed = make(map[string]*model.User, len(p.st.Users))
	p.usernames = make(map[string]int64, len(p.st.Users)+n)
	for i := range p.st.Users {
		u := &p.st.Users[i]
		p.users = append(p.users, u)
		p.userByID[u.ID] = u
		if u.Username != "" {
			p.usernames[strings.ToLower(u.Username)] = u.ID
		}
	}
	slices.SortFunc(p.users, func(a, b *model.User) int { return cmp.Compare(a.ID, b.ID) })
	for _, u := range p.users {
		if u.Managed() && u.SourceID == p.src {
			if _, dup := p.managed[u.ExternalID]; !dup {
				p.managed[u.ExternalID] = u
				if p.snap.Complete && p.dirByExt[u.ExternalID] == nil {
					p.gone = append(p.gone, u)
				}
			}
		}
	}

	p.sgByID = make(map[int64]*model.ServiceGroup, len(p.st.ServiceGroups))
	for i := range p.st.ServiceGroups {
		p.sgByID[p.st.ServiceGroups[i].ID] = &p.st.ServiceGroups[i]
	}
	p.sgMembers = map[int64][]model.Membership{}
	for _, m := range p.st.ServiceGroupMembers {
		p.sgMembers[m.UserID] = append(p.sgMembers[m.UserID], m)
	}
	for _, ms := range p.sgMembers {
		slices.SortFunc(ms, func(a, b model.Membership) int { return cmp.Compare(a.GroupID, b.GroupID) })
	}
	p.devsByUser = map[int64][]*model.Device{}
	for i := range p.st.Devices {
		d := &p.st.Devices[i]
		if d.UserID != 0 {
			p.devsByUser[d.UserID] = append(p.devsByUser[d.UserID], d)
		}
	}
	for _, ds := range p.devsByUser {
		slices.SortFunc(ds, func(a, b *model.Device) int { return cmp.Compare(a.ID, b.ID) })
	}
	return p
}

// mine reports whether a mapping belongs to the source being synced; a
// mapping with SourceID 0 applies to every source.
func (p *planner) mine(sourceID int64) bool { return sourceID == 0 || sourceID == p.src }

func (p *planner) run() {
	p.resolveMappings()
	p.unmatchedMembers()
	p.provisioning()
	p.attributes()
	p.serviceGroups()
	p.profiles()
	p.devices()
	p.missingGroups()
	p.guard()
	p.creationPlacements()
}

// creationPlacements copies the service group and profile placements of
// every new user onto its create_user action and marks them AtCreate: apply
// writes them in the create's transaction. Rule placement happens at
// creation only (SPEC §4), so a placement left to a later batch would be
// lost for good if the apply stopped in between.
func (p *planner) creationPlacements() {
	prov := p.actions[phaseIndex(model.PhaseProvisioning)]
	creates := make(map[string]*model.Action, len(p.creating))
	for i := range prov {
		if a := &prov[i]; a.Kind == model.ActCreateUser && a.UserID == 0 && a.ExternalID != "" {
			creates[a.ExternalID] = a
		}
	}
	if len(creates) == 0 {
		return
	}
	for _, ph := range []model.Phase{model.PhaseServiceGroups, model.PhaseProfiles} {
		l := p.actions[phaseIndex(ph)]
		for i := range l {
			a := &l[i]
			if a.UserID != 0 || (a.Kind != model.ActAddServiceGroup && a.Kind != model.ActAddProfile) {
				continue
			}
			c := creates[a.ExternalID]
			if c == nil {
				continue
			}
			a.AtCreate = true
			c.AtCreation = append(c.AtCreation, model.Placement{Kind: a.Kind, GroupID: a.GroupID, GroupName: a.GroupName})
		}
	}
}

func (p *planner) plan() *model.Plan {
	n := 0
	for _, a := range p.actions {
		n += len(a)
	}
	out := &model.Plan{Actions: make([]model.Action, 0, n), Holds: p.holds}
	var wg sync.WaitGroup
	wg.Go(func() { out.Skips = appendSorted(make([]model.Skip, 0, len(p.skips)), p.skips, compareSkips) })
	for i := range p.actions {
		out.Actions = appendSorted(out.Actions, p.actions[i], compareActions)
		p.actions[i] = nil // copied: the garbage collector may take it back now
	}
	wg.Wait()
	return out
}

// appendSorted appends l to dst sorted by cmp, ties kept in their original
// order. It sorts indices: the elements are large, and moving them in a
// stable sort costs more than the planning itself at 100k users.
func appendSorted[T any](dst, l []T, cmp func(a, b *T) int) []T {
	idx := make([]int32, len(l))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int {
		if c := cmp(&l[a], &l[b]); c != 0 {
			return c
		}
		return int(a - b)
	})
	for _, j := range idx {
		dst = append(dst, l[j])
	}
	return dst
}

// grow makes room for one more element, doubling the capacity: append's
// gentler growth for large slices copies these big structs many times.
func grow[T any](s []T) []T {
	if len(s) < cap(s) {
		return s
	}
	return slices.Grow(s, max(len(s), 64))
}

// kindRank orders the provisioning phase: deletes free usernames before
// creates take them.
func kindRank(k model.ActionKind) int {
	switch k {
	case model.ActDeleteUser:
		return 0
	case model.ActCreateUser:
		return 2
	}
	return 1
}

func compareActions(a, b *model.Action) int {
	return cmp.Or(
		cmp.Compare(kindRank(a.Kind), kindRank(b.Kind)),
		strings.Compare(a.ExternalID, b.ExternalID),
		cmp.Compare(a.UserID, b.UserID),
		strings.Compare(string(a.Kind), string(b.Kind)),
		cmp.Compare(a.GroupID, b.GroupID),
		cmp.Compare(a.DeviceID, b.DeviceID),
		strings.Compare(a.Attribute, b.Attribute),
		strings.Compare(a.Reason, b.Reason),
	)
}

func compareSkips(a, b *model.Skip) int {
	return cmp.Or(
		cmp.Compare(phaseIndex(a.Phase), phaseIndex(b.Phase)),
		strings.Compare(a.ExternalID, b.ExternalID),
		cmp.Compare(a.UserID, b.UserID),
		strings.Compare(string(a.Kind), string(b.Kind)),
		cmp.Compare(a.GroupID, b.GroupID),
		strings.Compare(a.Reason, b.Reason),
	)
}

// act records an action for an existing user u, or for the new user nu.
func (p *planner) act(a model.Action, u *model.User, nu *model.User) {
	switch {
	case u != nil:
		a.UserID = u.ID
		a.ExternalID = u.ExternalID
		a.Username = u.Username
	case nu != nil:
		a.ExternalID = nu.ExternalID
		a.Username = nu.Username
	}
	i := phaseIndex(a.Phase)
	p.actions[i] = append(grow(p.actions[i]), a)
}

// skip records a change not made; u or d (or neither) names the user.
func (p *planner) skip(ph model.Phase, k model.ActionKind, u *model.User, d *model.DirUser, reason string) {
	s := model.Skip{Phase: ph, Kind: k, Reason: reason}
	switch {
	case u != nil:
		s.UserID, s.ExternalID, s.Username = u.ID, u.ExternalID, u.Username
	case d != nil:
		s.ExternalID, s.Username = d.ExternalID, d.Username
	}
	p.skips = append(grow(p.skips), s)
}

func (p *planner) skipGroup(ph model.Phase, k model.ActionKind, u *model.User, nu *model.User, gid int64, gname, reason string) {
	s := model.Skip{Phase: ph, Kind: k, GroupID: gid, GroupName: gname, Reason: reason}
	switch {
	case u != nil:
		s.UserID, s.ExternalID, s.Username = u.ID, u.ExternalID, u.Username
	case nu != nil:
		s.ExternalID, s.Username = nu.ExternalID, nu.Username
	}
	p.skips = append(grow(p.skips), s)
}

// attrsAfter returns the attributes user u will have after this plan.
func (p *planner) attrsAfter(u *model.User) model.Attributes {
	if a, ok := p.future[u.ID]; ok {
		return a
	}
	return u.Attributes
}

func quote(s string) string { return "\"" + s + "\"" }

// resolveMappings reads the members of every mapped directory group once.
func (p *planner) resolveMappings() {
	pms := make([]model.ProvisioningMapping, 0, len(p.st.ProvisioningMappings))
	for _, m := range p.st.ProvisioningMappings {
		if p.mine(m.SourceID) {
			pms = append(pms, m)
		}
	}
	slices.SortStableFunc(pms, func(a, b model.ProvisioningMapping) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), strings.Compare(model.NormalizeDN(a.GroupDN), model.NormalizeDN(b.GroupDN)), cmp.Compare(a.ID, b.ID))
	})
	p.provKnown = true
	for _, m := range pms {
		members, ok := p.ix.Members(m.GroupDN, m.Nested)
		// A partial read lists every group that holds its users: a group it
		// lacks does not hold them.
		ok = ok || !p.snap.Complete
		p.provMaps = append(p.provMaps, provMap{m: m, found: ok, members: members})
		if !ok {
			p.provKnown = false
			continue
		}
		for ext := range members {
			t := m.AccountType
			if t != model.AccountDeviceEnabled {
				t = model.AccountAdministrator
			}
			if p.wantType[ext] != model.AccountDeviceEnabled {
				p.wantType[ext] = t // device-enabled wins over administrator
			}
		}
	}

	gms := make([]model.GroupMapping, 0, len(p.st.GroupMappings))
	for _, m := range p.st.GroupMappings {
		if p.mine(m.SourceID) {
			gms = append(gms, m)
		}
	}
	slices.SortStableFunc(gms, func(a, b model.GroupMapping) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), strings.Compare(model.NormalizeDN(a.GroupDN), model.NormalizeDN(b.GroupDN)), cmp.Compare(a.ID, b.ID))
	})
	for _, m := range gms {
		sm := sgMap{m: m, sg: p.sgByID[m.ServiceGroupID]}
		switch members, ok := p.ix.Members(m.GroupDN, m.Nested); {
		case sm.sg == nil:
			sm.status = mapNoGroup
		case ok:
			sm.status, sm.members = mapOK, members
		case !p.snap.Complete:
			// A partial read lists every group that holds its users
			// (directory.ReadUser): a group it lacks does not hold them.
			sm.status = mapOK
		case m.Force:
			sm.status = mapForced
		default:
			sm.status = mapMissing
		}
		p.sgMaps = append(p.sgMaps, sm)
	}
}
