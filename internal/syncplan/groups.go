package syncplan

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/idsync/idsync/internal/model"
)

const phSG = model.PhaseServiceGroups

// sgInfo is what the service group phase knows about one service group.
type sgInfo struct {
	mapped  bool   // at least one usable mapping of this source targets it
	known   bool   // every such mapping's directory group was read (or forced empty)
	missing string // DN of a mapping that makes it unknown
}

// serviceGroups adds mapped directory members to their service groups and
// removes synced members who left every group mapped to it (SPEC §4).
func (p *planner) serviceGroups() {
	info := map[int64]*sgInfo{}
	var forced []*sgMap
	for i := range p.sgMaps {
		sm := &p.sgMaps[i]
		switch sm.status {
		case mapNoGroup:
			p.skips = append(p.skips, model.Skip{Phase: phSG, Kind: model.ActAddServiceGroup, GroupID: sm.m.ServiceGroupID, GroupName: sm.m.ServiceGroupName,
				Reason: "mapping of " + quote(sm.m.GroupDN) + " targets service group #" + itoa(sm.m.ServiceGroupID) + ", which no longer exists; mapping skipped"})
			continue
		case mapMissing:
			p.skips = append(p.skips, model.Skip{Phase: phSG, Kind: model.ActRemoveServiceGroup, GroupID: sm.sg.ID, GroupName: sm.sg.Name,
				Reason: "directory group " + quote(sm.m.GroupDN) + " was not found or is not valid; mapping skipped and no member of " + quote(sm.sg.Name) + " is removed because of it (tick force to treat it as empty)"})
		case mapForced:
			// Held below only if it removes someone (issue 15 item 8).
			forced = append(forced, sm)
		}
		in := info[sm.sg.ID]
		if in == nil {
			in = &sgInfo{known: true}
			info[sm.sg.ID] = in
		}
		in.mapped = true
		if sm.status == mapMissing {
			in.known = false
			if in.missing == "" {
				in.missing = sm.m.GroupDN
			}
		}
	}

	// Each user's mappings, in mapping order.
	byUser := make(map[string][]int32, len(p.dirUsers))
	for i, sm := range p.sgMaps {
		if sm.status != mapOK {
			continue
		}
		for ext := range sm.members {
			byUser[ext] = append(byUser[ext], int32(i))
		}
	}
	for _, l := range byUser {
		slices.Sort(l)
	}

	removed := map[int64]int{}
	single := p.set.ServiceGroupMembership != model.MembershipMultiple

	for _, d := range p.dirUsers {
		if u := p.managed[d.ExternalID]; u != nil {
			if !p.deleting[u.ID] {
				p.placeExisting(u, byUser[d.ExternalID], info, removed, single)
			}
		} else if nu := p.createByExt[d.ExternalID]; nu != nil {
			p.placeNew(nu, byUser[d.ExternalID], info, single)
		}
	}
	for _, u := range p.gone {
		if !p.deleting[u.ID] {
			p.placeExisting(u, nil, info, removed, single)
		}
	}

	// A forced mapping to a missing group holds the removals it causes —
	// all of its service group's, to be safe — and nothing once nobody is
	// left to remove: it must not stop the source's other changes for good.
	for _, sm := range forced {
		n := removed[sm.sg.ID]
		if n == 0 {
			p.skips = append(p.skips, model.Skip{Phase: phSG, Kind: model.ActRemoveServiceGroup, GroupID: sm.sg.ID, GroupName: sm.sg.Name,
				Reason: "directory group " + quote(sm.m.GroupDN) + " was not found; its mapping has force on, so it counts as empty, but no synced member of " + quote(sm.sg.Name) + " is left to remove: nothing held"})
			continue
		}
		p.holds = append(p.holds, model.Hold{Code: HoldForceEmpty,
			Message: "directory group " + quote(sm.m.GroupDN) + " was not found; its mapping has force on, so it is treated as empty and synced members of service group " + quote(sm.sg.Name) +
				" not in another mapped group are removed — an override lets through " + plural(n, "removal") + " from " + quote(sm.sg.Name)})
	}

	ids := make([]int64, 0, len(removed))
	for id := range removed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		size := p.in.Baseline.ServiceGroupSizes[id]
		if size == 0 {
			size = p.sgSize(id)
		}
		if massRemoval(removed[id], size) {
			p.holds = append(p.holds, model.Hold{Code: HoldMassRemoval,
				Message: "this run removes " + strconv.Itoa(removed[id]) + " of " + strconv.Itoa(size) + " members from service group " + quote(p.sgByID[id].Name) +
					" — an override lets through these " + plural(removed[id], "removal")})
		}
	}
}

func massRemoval(n, size int) bool {
	return n > MassRemovalMinUsers && n*100 > size*MassRemovalPercent
}

func (p *planner) sgSize(id int64) int {
	if p.sgSizes == nil {
		p.sgSizes = map[int64]int{}
		for _, m := range p.st.ServiceGroupMembers {
			p.sgSizes[m.GroupID]++
		}
	}
	return p.sgSizes[id]
}

// addReason explains an add_service_group by mapping i. Breadth-first
// resolution gives one path per nested group, so the text is shared by all
// users found in the same group.
func (p *planner) addReason(i int32, ext string) string {
	sm := &p.sgMaps[i]
	path := sm.members[ext]
	last := ""
	if len(path) > 0 {
		last = path[len(path)-1]
	}
	return p.reason(reasonKey{kind: 4, a: int64(i), s: last}, func() string {
		return "member of " + pathString(path) + ", mapped to " + quote(sm.sg.Name)
	})
}

// reasonKey names a reason text shared by many users.
type reasonKey struct {
	kind int
	a, b int64
	s    string
}

// reason returns the text for k, building it once per run: at 100k users
// the same few texts would otherwise be concatenated again for each user.
func (p *planner) reason(k reasonKey, build func() string) string {
	if s, ok := p.reasons[k]; ok {
		return s
	}
	if p.reasons == nil {
		p.reasons = map[reasonKey]string{}
	}
	s := build()
	p.reasons[k] = s
	return s
}

// pathString renders a nested group chain, outermost group first.
func pathString(path []string) string {
	if len(path) == 1 {
		return quote(path[0])
	}
	return "\"" + strings.Join(path, "\" ⊃ \"") + "\""
}

// placeExisting plans the service group changes of an existing account.
func (p *planner) placeExisting(u *model.User, maps []int32, info map[int64]*sgInfo, removed map[int64]int, single bool) {
	var stays []int64 // service groups the user is in after removals
	for _, m := range p.sgMembers[u.ID] {
		g := p.sgByID[m.GroupID]
		in := info[m.GroupID]
		want := p.firstMapping(maps, m.GroupID) >= 0
		if g == nil || m.Manual || want || in == nil || !in.mapped {
			stays = append(stays, m.GroupID)
			continue
		}
		if !in.known {
			p.skipGroup(phSG, model.ActRemoveServiceGroup, u, nil, g.ID, g.Name,
				"no longer in a directory group mapped to "+quote(g.Name)+", but mapped group "+quote(in.missing)+" was not read; not removed")
			stays = append(stays, m.GroupID)
			continue
		}
		removed[g.ID]++
		p.act(model.Action{Phase: phSG, Kind: model.ActRemoveServiceGroup, GroupID: g.ID, GroupName: g.Name,
			Reason: "no longer in any directory group mapped to " + quote(g.Name)}, u, nil)
	}
	if len(maps) == 0 {
		return
	}
	if !single {
		for _, i := range maps {
			sm := &p.sgMaps[i]
			if p.firstMapping(maps, sm.sg.ID) != i || slices.Contains(stays, sm.sg.ID) {
				continue
			}
			p.act(model.Action{Phase: phSG, Kind: model.ActAddServiceGroup, GroupID: sm.sg.ID, GroupName: sm.sg.Name,
				Reason: p.addReason(i, u.ExternalID)}, u, nil)
		}
		return
	}
	if len(stays) > 0 {
		cur := p.sgByID[stays[0]]
		curName := "#" + itoa(stays[0])
		if cur != nil {
			curName = quote(cur.Name)
		}
		for _, i := range maps {
			sm := &p.sgMaps[i]
			if p.firstMapping(maps, sm.sg.ID) != i || slices.Contains(stays, sm.sg.ID) {
				continue
			}
			p.skipGroup(phSG, model.ActAddServiceGroup, u, nil, sm.sg.ID, sm.sg.Name, p.reason(reasonKey{kind: 1, a: stays[0], b: int64(i)}, func() string {
				return "single membership: already in " + curName + "; mapping of " + quote(sm.m.GroupDN) + " would move the user to " + quote(sm.sg.Name) + ", not applied"
			}))
		}
		return
	}
	p.placeWinner(u, nil, maps)
}

// firstMapping returns the first of maps that targets service group id, or -1.
func (p *planner) firstMapping(maps []int32, id int64) int32 {
	for _, i := range maps {
		if p.sgMaps[i].sg.ID == id {
			return i
		}
	}
	return -1
}

// placeWinner puts an unplaced user into the service group of their first
// mapping (single membership) and reports the mappings that lost.
func (p *planner) placeWinner(u, nu *model.User, maps []int32) {
	ext := ""
	if u != nil {
		ext = u.ExternalID
	} else {
		ext = nu.ExternalID
	}
	win := &p.sgMaps[maps[0]]
	p.act(model.Action{Phase: phSG, Kind: model.ActAddServiceGroup, GroupID: win.sg.ID, GroupName: win.sg.Name,
		Reason: p.addReason(maps[0], ext)}, u, nu)
	for _, i := range maps[1:] {
		sm := &p.sgMaps[i]
		if sm.sg.ID == win.sg.ID {
			continue
		}
		p.skipGroup(phSG, model.ActAddServiceGroup, u, nu, sm.sg.ID, sm.sg.Name, p.reason(reasonKey{kind: 2, a: int64(maps[0]), b: int64(i)}, func() string {
			return "single membership: mapping of " + quote(win.m.GroupDN) + " (priority " + strconv.Itoa(win.m.Priority) + ") places the user in " + quote(win.sg.Name) +
				" first; mapping of " + quote(sm.m.GroupDN) + " (priority " + strconv.Itoa(sm.m.Priority) + ") to " + quote(sm.sg.Name) + " not applied"
		}))
	}
}

// placeNew plans the service groups of a user this plan creates: mappings
// first; service group rules only when no mapping places the user (SPEC §4).
func (p *planner) placeNew(nu *model.User, maps []int32, info map[int64]*sgInfo, single bool) {
	if len(maps) > 0 {
		if single {
			p.placeWinner(nil, nu, maps)
			return
		}
		seen := map[int64]bool{}
		for _, i := range maps {
			sm := &p.sgMaps[i]
			if seen[sm.sg.ID] {
				continue
			}
			seen[sm.sg.ID] = true
			p.act(model.Action{Phase: phSG, Kind: model.ActAddServiceGroup, GroupID: sm.sg.ID, GroupName: sm.sg.Name,
				Reason: p.addReason(i, nu.ExternalID)}, nil, nu)
		}
		return
	}
	placed := false
	for _, g := range p.sortedServiceGroups() {
		if !model.MatchRules(g.Rules, nu.Attributes) {
			continue
		}
		if in := info[g.ID]; in != nil && in.mapped {
			p.skipGroup(phSG, model.ActAddServiceGroup, nil, nu, g.ID, g.Name,
				"the new user matches the rules of "+quote(g.Name)+", but that service group is mapped from the directory and its mappings decide its members")
			continue
		}
		if single && placed {
			p.skipGroup(phSG, model.ActAddServiceGroup, nil, nu, g.ID, g.Name,
				"single membership: the new user also matches the rules of "+quote(g.Name)+", but was already placed by the rules of a service group with a lower id")
			continue
		}
		placed = true
		p.act(model.Action{Phase: phSG, Kind: model.ActAddServiceGroup, GroupID: g.ID, GroupName: g.Name,
			Reason: "new user matches the attribute rules of " + quote(g.Name) + " (applied at creation only)"}, nil, nu)
	}
}

// sortedServiceGroups returns the service groups that have rules, by id.
func (p *planner) sortedServiceGroups() []*model.ServiceGroup {
	if p.ruleGroups != nil {
		return p.ruleGroups
	}
	gs := make([]*model.ServiceGroup, 0, len(p.st.ServiceGroups))
	for i := range p.st.ServiceGroups {
		if len(p.st.ServiceGroups[i].Rules) > 0 {
			gs = append(gs, &p.st.ServiceGroups[i])
		}
	}
	slices.SortFunc(gs, func(a, b *model.ServiceGroup) int { return cmp.Compare(a.ID, b.ID) })
	p.ruleGroups = gs
	return gs
}

// plural returns "1 removal", "2 removals".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
