package directory

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/model"
)

// adMemberOnly reports whether src reads membership from member alone (the
// AD layout readUserAD serves).
func adMemberOnly(src *model.Source) bool {
	attrs := src.MemberAttrs()
	return len(attrs) == 1 && strings.EqualFold(attrs[0], "member")
}

// adGroup is a group found for one user on AD.
type adGroup struct {
	dn, name, id, sid string
	parents           []string // memberOf: the groups it is a direct member of
}

// readUserAD finds the groups of user u on Active Directory in a few
// searches instead of one per nesting level: AD's tokenGroups (every
// security group the user is in, nested anywhere, primary group included)
// resolved in one search by objectSid, then each group's memberOf (direct
// parents) gives the nesting edges; distribution groups, which tokenGroups
// leaves out, are followed through memberOf by DN. The Snapshot holds the
// user and those groups (matching the group filter), each listing the user
// when a direct member (memberOf, or the primary group with PrimaryGroups)
// and the groups nested in it, which is what a full read gives for them.
//
// ok is false when the server answers no tokenGroups at all (a server that
// only looks like AD): the caller then walks the groups by search.
func (s *session) readUserAD(ctx context.Context, src *model.Source, u model.DirUser, primarySID string) (*model.Snapshot, bool, error) {
	anyF, _ := ldap.CompileFilter("(objectClass=*)")
	var direct []string
	var sids [][]byte
	err := s.w.search(&searchReq{base: u.DN, scope: ldap.ScopeBaseObject, filter: anyF, attrs: []string{"memberOf", "tokenGroups"}}, func(e *rawEntry) error {
		for _, a := range e.attrs {
			switch {
			case strings.EqualFold(string(a.name), "memberOf"):
				for _, v := range a.vals {
					direct = append(direct, string(v))
				}
			case strings.EqualFold(string(a.name), "tokenGroups"):
				for _, v := range a.vals {
					sids = append(sids, slices.Clone(v))
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, classify(ctx, src, s.url, "read groups of "+u.DN, err)
	}
	if len(sids) == 0 {
		return nil, false, nil
	}
	idAttr := strings.TrimSpace(src.Attributes.ExternalID)
	guid := strings.EqualFold(idAttr, "objectGUID")
	attrs := []string{"cn", "memberOf", "objectSid"}
	if idAttr != "" {
		attrs = append(attrs, idAttr)
	}
	groups := map[string]*adGroup{}
	var order []string
	take := func(e *rawEntry) error {
		k := normDN(string(e.dn))
		if groups[k] != nil {
			return nil
		}
		g := &adGroup{dn: string(e.dn), name: e.first("cn")}
		for _, a := range e.attrs {
			switch {
			case strings.EqualFold(string(a.name), "memberOf"):
				for _, v := range a.vals {
					g.parents = append(g.parents, string(v))
				}
			case strings.EqualFold(string(a.name), "objectSid") && len(a.vals) > 0:
				g.sid, _ = sidString(a.vals[0])
			case idAttr != "" && strings.EqualFold(string(a.name), idAttr) && len(a.vals) > 0:
				g.id = stableID(a.vals[0], guid)
			}
		}
		groups[k] = g
		order = append(order, k)
		return nil
	}
	groupF := orAll(src.GroupFilter)
	base := dcSuffix(orDefault(src.GroupBaseDN, src.UserBaseDN))
	if base == "" {
		base = orDefault(src.GroupBaseDN, src.UserBaseDN)
	}
	for len(sids) > 0 {
		n := min(len(sids), byDNBatch)
		var f strings.Builder
		f.WriteString("(&" + groupF + "(|")
		for _, sid := range sids[:n] {
			f.WriteString("(objectSid=" + escapeFilterBytes(sid) + ")")
		}
		f.WriteString("))")
		sids = sids[n:]
		if err := s.pagedSearch(ctx, src, "read groups of "+u.DN, base, f.String(), attrs, take); err != nil {
			return nil, false, err
		}
	}
	// Distribution groups (not in tokenGroups): follow memberOf by DN.
	fp, err := ldap.CompileFilter(groupF)
	if err != nil {
		return nil, false, newError(src, KindFilter, s.url, err, "group filter %q does not parse: %v", groupF, filterReason(err))
	}
	tried := map[string]bool{}
	pending := slices.Clone(direct)
	for i := 0; i < len(order) || len(pending) > 0; {
		for ; i < len(order); i++ {
			pending = append(pending, groups[order[i]].parents...)
		}
		next := pending
		pending = nil
		for _, dn := range next {
			k := normDN(dn)
			if groups[k] != nil || tried[k] {
				continue
			}
			tried[k] = true
			err := s.w.search(&searchReq{base: dn, scope: ldap.ScopeBaseObject, filter: fp, attrs: attrs}, take)
			if err != nil && !ldap.IsErrorAnyOf(err, ldap.LDAPResultNoSuchObject, ldap.LDAPResultReferral) {
				return nil, false, classify(ctx, src, s.url, "read group "+dn, err)
			}
		}
	}
	isDirect := map[string]bool{}
	for _, dn := range direct {
		isDirect[normDN(dn)] = true
	}
	snap := &model.Snapshot{SourceID: src.ID, ReadAt: time.Now().UTC(), Users: []model.DirUser{u}}
	children := map[string][]string{}
	for _, k := range order {
		for _, p := range groups[k].parents {
			if pk := normDN(p); groups[pk] != nil {
				children[pk] = append(children[pk], groups[k].dn)
			}
		}
	}
	for _, k := range order {
		g := groups[k]
		dg := model.DirGroup{DN: g.dn, Name: g.name, ID: g.id, Groups: children[k]}
		if isDirect[k] || (src.PrimaryGroups && primarySID != "" && g.sid == primarySID) {
			dg.Users = []string{u.ExternalID}
		}
		slices.Sort(dg.Groups)
		dg.Groups = slices.Compact(dg.Groups)
		snap.Groups = append(snap.Groups, dg)
	}
	slices.SortFunc(snap.Groups, func(a, b model.DirGroup) int { return strings.Compare(a.DN, b.DN) })
	return snap, true, nil
}
