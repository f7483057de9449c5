package syncplan

import (
	"strings"

	"github.com/idsync/idsync/internal/model"
)

// unmatchedMembers adds a skip line for every member value of a mapped
// directory group (or a group nested in it) that matched no user: a
// dangling DN, an entry outside the user base or filter, an unknown
// memberUid, a value that is not a DN (docs/sync-rules.md "Members that
// match no user"). The line names the idsync user the value points at when
// there is one, so that Why? shows it.
func (p *planner) unmatchedMembers() {
	if !p.snap.Complete {
		return // a single-user read does not look at other members
	}
	any := false
	for i := range p.snap.Groups {
		if len(p.snap.Groups[i].Unresolved) > 0 {
			any = true
			break
		}
	}
	if !any {
		return
	}
	for _, pm := range p.provMaps {
		if !pm.found {
			continue
		}
		what := "provisioning group " + quote(pm.m.GroupDN)
		p.walkUnmatched(pm.m.GroupDN, pm.m.Nested, func(g *model.DirGroup, um model.UnmatchedMember) {
			s := model.Skip{Phase: phProv, Kind: model.ActCreateUser,
				Reason: unmatchedReason(um, g, pm.m.GroupDN, what, "not provisioned through it")}
			p.unmatchedSkip(s, um)
		})
	}
	for _, sm := range p.sgMaps {
		if sm.status != mapOK || sm.sg == nil {
			continue
		}
		p.walkUnmatched(sm.m.GroupDN, sm.m.Nested, func(g *model.DirGroup, um model.UnmatchedMember) {
			s := model.Skip{Phase: phSG, Kind: model.ActAddServiceGroup, GroupID: sm.sg.ID, GroupName: sm.sg.Name,
				Reason: unmatchedReason(um, g, sm.m.GroupDN, "directory group "+quote(sm.m.GroupDN), "not added to "+quote(sm.sg.Name))}
			p.unmatchedSkip(s, um)
		})
	}
}

// walkUnmatched calls fn once per unmatched value of root and, when
// nested, of every group below it (each group once: cycles end).
func (p *planner) walkUnmatched(root string, nested bool, fn func(*model.DirGroup, model.UnmatchedMember)) {
	g := p.ix.Group(root)
	if g == nil {
		return
	}
	seen := map[string]bool{model.NormalizeDN(g.DN): true}
	done := map[string]bool{}
	queue := []*model.DirGroup{g}
	for len(queue) > 0 {
		g := queue[0]
		queue = queue[1:]
		for i, v := range g.Unresolved {
			if done[v] {
				continue
			}
			done[v] = true
			um := model.UnmatchedMember{Value: v, Reason: model.UnmatchedNotChecked, Detail: "member " + quote(v) + " matches no user read"}
			if i < len(g.Unmatched) && g.Unmatched[i].Value == v {
				um = g.Unmatched[i]
			}
			fn(g, um)
		}
		if !nested {
			break
		}
		for _, sdn := range g.Groups {
			k := model.NormalizeDN(sdn)
			if seen[k] {
				continue
			}
			seen[k] = true
			if sg := p.ix.GroupByDN[k]; sg != nil {
				queue = append(queue, sg)
			}
		}
	}
}

// unmatchedMarker is in the reason of every unmatched-member skip line
// (IsUnmatchedMember).
const unmatchedMarker = " matches no user ["

// IsUnmatchedMember reports whether a skip reason is one of a member value
// that matched no user, so that Why? can show stored ones.
func IsUnmatchedMember(reason string) bool { return strings.Contains(reason, unmatchedMarker) }

func unmatchedReason(um model.UnmatchedMember, g *model.DirGroup, root, what, outcome string) string {
	via := ""
	if model.NormalizeDN(g.DN) != model.NormalizeDN(root) {
		via = " (in nested group " + quote(g.DN) + ")"
	}
	return "member of " + what + via + unmatchedMarker + um.Reason + "]: " + um.Detail + "; " + outcome
}

// unmatchedSkip names the idsync user um points at, when there is one of
// this source: by external id, by DN or by username.
func (p *planner) unmatchedSkip(s model.Skip, um model.UnmatchedMember) {
	s.ExternalID, s.Username = um.ExternalID, um.Username
	var u *model.User
	if um.ExternalID != "" {
		u = p.managed[um.ExternalID]
	}
	if u == nil {
		if p.managedByDN == nil {
			p.managedByDN = make(map[string]*model.User, len(p.managed))
			p.managedByName = make(map[string]*model.User, len(p.managed))
			for _, mu := range p.managed {
				p.managedByDN[model.NormalizeDN(mu.DN)] = mu
				p.managedByName[strings.ToLower(mu.Username)] = mu
			}
		}
		if um.DN != "" {
			u = p.managedByDN[model.NormalizeDN(um.DN)]
		}
		if u == nil && um.Reason != model.UnmatchedUnparseable {
			u = p.managedByDN[model.NormalizeDN(stripUID(um.Value))]
		}
		if u == nil && um.Username != "" {
			u = p.managedByName[strings.ToLower(um.Username)]
		}
		if u == nil && um.Reason == model.UnmatchedUnknownUID {
			u = p.managedByName[strings.ToLower(um.Value)]
		}
	}
	if u != nil {
		s.UserID, s.ExternalID, s.Username = u.ID, u.ExternalID, u.Username
	}
	p.skips = append(grow(p.skips), s)
}

// stripUID drops the optional UID of a uniqueMember value ("…#'0101'B").
func stripUID(v string) string {
	if i := strings.LastIndex(v, "#'"); i > 0 && strings.HasSuffix(v, "'B") && v[i-1] != '\\' {
		return v[:i]
	}
	return v
}
