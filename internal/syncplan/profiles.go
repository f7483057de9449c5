package syncplan

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/idsync/idsync/internal/model"
)

const phProf = model.PhaseProfiles

// profileStatus says whether sync manages a profile in this run, and if not why.
func (p *planner) profileStatus(pr *model.Profile) (ok bool, why string) {
	switch {
	case !p.set.AutoProfileSync:
		return false, "automatic profile synchronization is off (System settings); memberships of " + quote(pr.Name) + " are not synchronized"
	case len(pr.Rules) == 0:
		return false, "profile " + quote(pr.Name) + " has no attribute rules; nothing to synchronize"
	case !pr.SyncEnabled:
		return false, "\"Enable enterprise attributes synchronization\" is off for profile " + quote(pr.Name) + "; its members are not synchronized"
	}
	for _, r := range pr.Rules {
		if p.defs[r.Attribute] == nil {
			return false, "profile " + quote(pr.Name) + " has a rule on attribute " + quote(r.Attribute) + ", which no longer exists; profile skipped until the rule is fixed"
		}
	}
	return true, ""
}

// profiles adds users whose attributes (after this plan) match a profile's
// rules and removes synced members who no longer match (SPEC §5).
func (p *planner) profiles() {
	profs := make([]*model.Profile, 0, len(p.st.Profiles))
	for i := range p.st.Profiles {
		profs = append(profs, &p.st.Profiles[i])
	}
	slices.SortFunc(profs, func(a, b *model.Profile) int { return cmp.Compare(a.ID, b.ID) })
	if len(profs) == 0 {
		return
	}
	members := map[int64]map[int64]bool{} // profile → user → manual
	for _, m := range p.st.ProfileMembers {
		mm := members[m.GroupID]
		if mm == nil {
			mm = map[int64]bool{}
			members[m.GroupID] = mm
		}
		mm[m.UserID] = m.Manual
	}

	// The users this run speaks for: present (or gone, on a complete read)
	// accounts of this source that are not deleted, then the new ones.
	var users []*model.User
	for _, d := range p.dirUsers {
		if u := p.managed[d.ExternalID]; u != nil && !p.deleting[u.ID] {
			users = append(users, u)
		}
	}
	for _, u := range p.gone {
		if !p.deleting[u.ID] {
			users = append(users, u)
		}
	}

	for _, pr := range profs {
		if ok, why := p.profileStatus(pr); !ok {
			p.skips = append(p.skips, model.Skip{Phase: phProf, Kind: model.ActAddProfile, GroupID: pr.ID, GroupName: pr.Name, Reason: why})
			continue
		}
		mm := members[pr.ID]
		removed := 0
		rules := describeRules(pr.Rules)
		addR := "attributes match the rules of " + quote(pr.Name) + " (" + rules + ")"
		remR := "attributes no longer match the rules of " + quote(pr.Name) + " (" + rules + ")"
		newR := "new user's attributes match the rules of " + quote(pr.Name) + " (" + rules + ")"
		for _, u := range users {
			match := model.MatchRules(pr.Rules, p.attrsAfter(u))
			manual, member := mm[u.ID]
			switch {
			case match && !member:
				p.act(model.Action{Phase: phProf, Kind: model.ActAddProfile, GroupID: pr.ID, GroupName: pr.Name,
					Reason: addR}, u, nil)
			case !match && member && !manual:
				removed++
				p.act(model.Action{Phase: phProf, Kind: model.ActRemoveProfile, GroupID: pr.ID, GroupName: pr.Name,
					Reason: remR}, u, nil)
			}
		}
		for _, nu := range p.creating {
			if model.MatchRules(pr.Rules, nu.Attributes) {
				p.act(model.Action{Phase: phProf, Kind: model.ActAddProfile, GroupID: pr.ID, GroupName: pr.Name,
					Reason: newR}, nil, nu)
			}
		}
		size := p.in.Baseline.ProfileSizes[pr.ID]
		if size == 0 {
			size = len(mm)
		}
		if massRemoval(removed, size) {
			p.holds = append(p.holds, model.Hold{Code: HoldMassRemoval,
				Message: "this run removes " + strconv.Itoa(removed) + " of " + strconv.Itoa(size) + " members from profile " + quote(pr.Name)})
		}
	}
}

func describeRules(rules []model.Rule) string {
	parts := make([]string, len(rules))
	for i, r := range rules {
		parts[i] = r.Attribute + " = " + quote(r.Value)
	}
	return strings.Join(parts, " AND ")
}
