package syncplan

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/idsync/idsync/internal/model"
)

// Explanation answers "Why?" for one user (SPEC §7): the provisioning
// mappings that apply, the nested directory group path to each mapped
// group, which mapping won under single membership and which lost, how each
// profile's rules evaluate, and what this plan would do for the user.
type Explanation struct {
	UserID      int64
	Username    string
	ExternalID  string
	Found       bool // the user exists
	Managed     bool // a directory account of this source: sync may change it
	InDirectory bool // present in the directory read
	Notes       []string

	Provisioning     []ProvisioningMatch
	ProvisionedAs    model.AccountType // what the provisioning groups ask for; "" when none
	DeviceEnabledWon bool              // in groups of both kinds: device-enabled won

	ServiceGroups []MappingMatch
	Profiles      []ProfileMatch

	Actions []model.Action // what the plan does for the user
	Skips   []model.Skip   // what the plan does not do for the user, and why

	// Unmatched lists the member values of mapped groups that point at the
	// user but matched no user in the last full read (preview run
	// UnmatchedRunID): outside the user base or filter, a uid differing in
	// case… Explain leaves it empty; the caller fills it from that run.
	Unmatched      []string
	UnmatchedRunID int64
}

// ProvisioningMatch is a provisioning mapping whose directory group holds the user.
type ProvisioningMatch struct {
	MappingID   int64
	GroupDN     string
	AccountType model.AccountType
	Path        []string // mapped group first, then each nested group down to the user's
}

// MappingMatch is a group mapping whose directory group holds the user.
type MappingMatch struct {
	MappingID        int64
	GroupDN          string
	Priority         int
	ServiceGroupID   int64
	ServiceGroupName string
	Path             []string // mapped group first, then each nested group down to the user's
	// Outcome: "member" (already in the service group), "added" (this plan
	// adds them; under single membership this mapping won), "lost" (not
	// applied, see Reason), "duplicate" (an earlier mapping targets the
	// same service group).
	Outcome string
	Reason  string
}

// ProfileMatch is how one profile's rules evaluate for the user.
type ProfileMatch struct {
	ProfileID int64
	Name      string
	Synced    bool   // sync manages this profile in this run
	Reason    string // why not, when !Synced
	Rules     []RuleCheck
	Matches   bool // every rule matches (with the attributes after this plan)
	Member    bool
	Manual    bool
}

// RuleCheck is one rule against the user's value after this plan.
type RuleCheck struct {
	Attribute string
	Want      string
	Have      string
	Match     bool
}

// Explain returns the explanation for user userID under the plan Build(in)
// would make. An unknown user gives Found=false and a note; it never fails.
func Explain(in Input, userID int64) Explanation {
	p := newPlanner(in)
	p.run()
	plan := p.plan()
	e := Explanation{UserID: userID}
	u := p.userByID[userID]
	if u == nil {
		e.Notes = append(e.Notes, "no user #"+itoa(userID))
		return e
	}
	e.Found = true
	e.Username, e.ExternalID = u.Username, u.ExternalID
	e.Managed = u.Managed() && u.SourceID == p.src
	switch {
	case u.Origin == model.OriginLocal:
		e.Notes = append(e.Notes, "a local account: sync never changes it")
	case u.Origin == model.OriginSystem:
		e.Notes = append(e.Notes, "a system account: sync never changes it")
	case !u.Managed():
		e.Notes = append(e.Notes, "a directory account without a directory identifier: sync never changes it")
	case u.SourceID != p.src:
		e.Notes = append(e.Notes, "belongs to directory source #"+itoa(u.SourceID)+", not the one planned here")
	}
	if e.Managed {
		_, e.InDirectory = p.dirByExt[u.ExternalID]
		if !e.InDirectory {
			if p.snap.Complete {
				e.Notes = append(e.Notes, "not found in the directory")
			} else {
				e.Notes = append(e.Notes, "not part of this directory read")
			}
		}
	}

	for _, a := range plan.Actions {
		if a.UserID == userID {
			e.Actions = append(e.Actions, a)
		}
	}
	for _, s := range plan.Skips {
		if s.UserID == userID {
			e.Skips = append(e.Skips, s)
		}
	}
	if !e.Managed {
		return e
	}
	ext := u.ExternalID

	hasAdmin := false
	for _, pm := range p.provMaps {
		if path, ok := pm.members[ext]; ok {
			t := normType(pm.m.AccountType)
			e.Provisioning = append(e.Provisioning, ProvisioningMatch{MappingID: pm.m.ID, GroupDN: pm.m.GroupDN, AccountType: t, Path: slices.Clone(path)})
			hasAdmin = hasAdmin || t == model.AccountAdministrator
		}
	}
	e.ProvisionedAs = p.wantType[ext]
	e.DeviceEnabledWon = e.ProvisionedAs == model.AccountDeviceEnabled && hasAdmin

	current := map[int64]bool{}
	for _, m := range p.sgMembers[u.ID] {
		current[m.GroupID] = true
	}
	seen := map[int64]bool{}
	for _, sm := range p.sgMaps {
		if sm.status != mapOK {
			continue
		}
		path, ok := sm.members[ext]
		if !ok {
			continue
		}
		mm := MappingMatch{MappingID: sm.m.ID, GroupDN: sm.m.GroupDN, Priority: sm.m.Priority, ServiceGroupID: sm.sg.ID, ServiceGroupName: sm.sg.Name, Path: slices.Clone(path)}
		switch {
		case seen[sm.sg.ID]:
			mm.Outcome, mm.Reason = "duplicate", "an earlier mapping already targets "+quote(sm.sg.Name)
		case current[sm.sg.ID]:
			mm.Outcome, mm.Reason = "member", "already in "+quote(sm.sg.Name)
		default:
			mm.Outcome = "lost"
			for _, a := range e.Actions {
				if a.Kind == model.ActAddServiceGroup && a.GroupID == sm.sg.ID {
					mm.Outcome, mm.Reason = "added", a.Reason
				}
			}
			if mm.Outcome == "lost" {
				for _, s := range e.Skips {
					if s.Kind == model.ActAddServiceGroup && s.GroupID == sm.sg.ID {
						mm.Reason = s.Reason
					}
				}
			}
		}
		seen[sm.sg.ID] = true
		e.ServiceGroups = append(e.ServiceGroups, mm)
	}

	pmembers := map[int64]model.Membership{}
	for _, m := range p.st.ProfileMembers {
		if m.UserID == u.ID {
			pmembers[m.GroupID] = m
		}
	}
	profs := make([]*model.Profile, 0, len(p.st.Profiles))
	for i := range p.st.Profiles {
		profs = append(profs, &p.st.Profiles[i])
	}
	slices.SortFunc(profs, func(a, b *model.Profile) int { return cmp.Compare(a.ID, b.ID) })
	attrs := p.attrsAfter(u)
	for _, pr := range profs {
		pm := ProfileMatch{ProfileID: pr.ID, Name: pr.Name}
		pm.Synced, pm.Reason = p.profileStatus(pr)
		m, member := pmembers[pr.ID]
		pm.Member, pm.Manual = member, member && m.Manual
		for _, r := range pr.Rules {
			have := attrs[r.Attribute]
			pm.Rules = append(pm.Rules, RuleCheck{Attribute: r.Attribute, Want: r.Value, Have: have, Match: model.MatchRules([]model.Rule{r}, attrs)})
		}
		pm.Matches = model.MatchRules(pr.Rules, attrs)
		e.Profiles = append(e.Profiles, pm)
	}
	return e
}

// String renders the explanation as plain text, one fact a line.
func (e Explanation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "user #%d %q", e.UserID, e.Username)
	if e.ExternalID != "" {
		fmt.Fprintf(&b, " (external id %s)", e.ExternalID)
	}
	b.WriteByte('\n')
	for _, n := range e.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	if e.Managed {
		if len(e.Provisioning) == 0 {
			b.WriteString("provisioning: in no provisioning-mapped group\n")
		}
		for _, pm := range e.Provisioning {
			fmt.Fprintf(&b, "provisioning: %s via %s\n", typeName(pm.AccountType), strings.Join(pm.Path, " > "))
		}
		if e.DeviceEnabledWon {
			b.WriteString("provisioning: in groups of both kinds; device-enabled wins\n")
		}
		if len(e.ServiceGroups) == 0 {
			b.WriteString("service groups: in no mapped directory group\n")
		}
		for _, m := range e.ServiceGroups {
			fmt.Fprintf(&b, "service group %q via %s (priority %d): %s", m.ServiceGroupName, strings.Join(m.Path, " > "), m.Priority, m.Outcome)
			if m.Reason != "" {
				fmt.Fprintf(&b, " — %s", m.Reason)
			}
			b.WriteByte('\n')
		}
		for _, pr := range e.Profiles {
			fmt.Fprintf(&b, "profile %q: ", pr.Name)
			switch {
			case !pr.Synced:
				fmt.Fprintf(&b, "not synchronized (%s)", pr.Reason)
			case pr.Matches:
				b.WriteString("rules match")
			default:
				b.WriteString("rules do not match")
			}
			if pr.Member {
				if pr.Manual {
					b.WriteString("; manual member (never removed by sync)")
				} else {
					b.WriteString("; synced member")
				}
			}
			b.WriteByte('\n')
			for _, r := range pr.Rules {
				mark := "no"
				if r.Match {
					mark = "yes"
				}
				fmt.Fprintf(&b, "  %s = %q (user has %q): %s\n", r.Attribute, r.Want, r.Have, mark)
			}
		}
	}
	for _, u := range e.Unmatched {
		fmt.Fprintf(&b, "last full read (run #%d): %s\n", e.UnmatchedRunID, u)
	}
	for _, a := range e.Actions {
		fmt.Fprintf(&b, "will %s: %s\n", a.Kind, a.Reason)
	}
	for _, s := range e.Skips {
		fmt.Fprintf(&b, "will not %s: %s\n", s.Kind, s.Reason)
	}
	return b.String()
}
