package directory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/model"
)

// ReadGroup reads one group by DN with its direct members and, with
// nested=true, every group below it (cycles end). The Snapshot has
// Complete=false and holds those groups plus their member users (only
// users matched by the user filter; other members are Unresolved). Each
// member costs one base search, so it suits single groups (the mapping
// preview), not whole directories. A missing group is a KindNotFound error.
func (c *Client) ReadGroup(ctx context.Context, src *model.Source, dn string, nested bool) (*model.Snapshot, error) {
	s, err := c.connect(ctx, src)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	mattrs := src.MemberAttrs()
	userF, err := ldap.CompileFilter(orAll(src.UserFilter))
	if err != nil {
		return nil, newError(src, KindFilter, s.url, err, "user filter %q does not parse: %v", orAll(src.UserFilter), filterReason(err))
	}
	groupF, err := ldap.CompileFilter(orAll(src.GroupFilter))
	if err != nil {
		return nil, newError(src, KindFilter, s.url, err, "group filter %q does not parse: %v", orAll(src.GroupFilter), filterReason(err))
	}
	m, err := newUserMapper(src)
	if err != nil {
		return nil, err
	}
	m.now = c.now()
	if err := s.lockPolicies(ctx, src, m); err != nil {
		return nil, err
	}
	snap := &model.Snapshot{SourceID: src.ID, ReadAt: time.Now().UTC()}
	cl := newUnmatchedClassifier(s, src, m)
	_, uidAttrs := memberAttrs(src)
	uidExact := len(uidAttrs) > 0 && s.memberUIDCaseExact(src)
	cl.exact = uidExact
	users := map[string]bool{}
	seen := map[string]bool{normDN(dn): true}
	queue := []string{dn}
	for len(queue) > 0 {
		gdn := queue[0]
		queue = queue[1:]
		name, members, found, err := s.groupEntry(ctx, src, gdn, groupF, mattrs)
		if err != nil {
			return nil, err
		}
		if !found {
			if gdn == dn {
				return nil, newError(src, KindNotFound, s.url, nil, "group %q not found in the directory", dn)
			}
			continue
		}
		g := model.DirGroup{DN: gdn, Name: name}
		for _, pm := range members {
			v, byUID := pm.v, pm.uid
			var q *searchReq
			if byUID {
				f := andFilter(orAll(src.UserFilter), eqFilter(src.Attributes.Username, v))
				fp, err := ldap.CompileFilter(f)
				if err != nil {
					return nil, newError(src, KindFilter, s.url, err, "username attribute %q cannot be searched", src.Attributes.Username)
				}
				q = &searchReq{base: src.UserBaseDN, scope: ldap.ScopeWholeSubtree, filter: fp, attrs: m.attrs, sizeLimit: 2}
			} else {
				q = &searchReq{base: StripUID(v), scope: ldap.ScopeBaseObject, filter: userF, attrs: m.attrs}
			}
			var u model.DirUser
			n := 0
			err := s.w.search(q, func(e *rawEntry) error {
				n++
				if err := m.mapUser(e, &u); err != nil {
					return newError(src, KindProtocol, s.url, nil, "user %v", err)
				}
				return nil
			})
			if err != nil && !ldap.IsErrorAnyOf(err, ldap.LDAPResultNoSuchObject, ldap.LDAPResultInvalidDNSyntax) {
				return nil, classify(ctx, src, s.url, "read member "+v, err)
			}
			switch {
			case n != 1:
			case byUID && uidExact && u.Username != v:
				n = 0 // the full read would not match it either
			case !byUID && !underBase(memberKey(v), src.UserBaseDN):
				n = 0
			}
			if n == 1 {
				g.Users = append(g.Users, u.ExternalID)
				if !users[u.ExternalID] {
					users[u.ExternalID] = true
					snap.Users = append(snap.Users, u)
				}
				continue
			}
			if !byUID {
				_, _, isGroup, err := s.groupEntry(ctx, src, StripUID(v), groupF, []string{"1.1"})
				if err != nil {
					return nil, err
				}
				if isGroup {
					gv := StripUID(v)
					g.Groups = append(g.Groups, gv)
					if k := normDN(gv); nested && !seen[k] {
						seen[k] = true
						queue = append(queue, gv)
					}
					continue
				}
			}
			um, err := cl.classify(ctx, v, byUID)
			if err != nil {
				return nil, err
			}
			g.Unmatched = append(g.Unmatched, um)
		}
		slices.Sort(g.Users)
		g.Users = slices.Compact(g.Users)
		slices.Sort(g.Groups)
		g.Groups = slices.Compact(g.Groups)
		slices.SortFunc(g.Unmatched, func(a, b model.UnmatchedMember) int { return strings.Compare(a.Value, b.Value) })
		for _, um := range g.Unmatched {
			g.Unresolved = append(g.Unresolved, um.Value)
		}
		snap.Groups = append(snap.Groups, g)
	}
	slices.SortFunc(snap.Users, func(a, b model.DirUser) int { return strings.Compare(a.ExternalID, b.ExternalID) })
	slices.SortFunc(snap.Groups, func(a, b model.DirGroup) int { return strings.Compare(a.DN, b.DN) })
	return snap, nil
}

// groupEntry reads one group entry (base search with the group filter) and
// its member values from each membership attribute, following AD ranged
// retrieval. found is false when the DN does not exist or is not a group.
func (s *session) groupEntry(ctx context.Context, src *model.Source, dn string, groupF *ber.Packet, attrs []string) (name string, members []pendingMember, found bool, err error) {
	fp := groupF
	ms := newMemberAttrSet(attrs)
	q := &searchReq{base: dn, scope: ldap.ScopeBaseObject, filter: fp, attrs: append([]string{"cn"}, attrs...)}
	type more struct{ attr, from int }
	var pending []more
	err = s.w.search(q, func(e *rawEntry) error {
		found = true
		name = e.first("cn")
		for _, at := range e.attrs {
			k, ranged, next := ms.match(at.name)
			if k < 0 {
				continue
			}
			if ranged && next >= 0 {
				pending = append(pending, more{k, next})
			}
			for _, v := range at.vals {
				members = append(members, pendingMember{string(v), ms.uid[k]})
			}
		}
		return nil
	})
	if err != nil {
		if ldap.IsErrorAnyOf(err, ldap.LDAPResultNoSuchObject, ldap.LDAPResultInvalidDNSyntax) {
			return "", nil, false, nil
		}
		return "", nil, false, classify(ctx, src, s.url, "read group "+dn, err)
	}
	for _, p := range pending {
		_, vals, _, err := s.groupEntryRange(ctx, src, dn, attrs[p.attr], p.from)
		if err != nil {
			return "", nil, false, err
		}
		for _, v := range vals {
			members = append(members, pendingMember{v, ms.uid[p.attr]})
		}
	}
	return name, members, found, nil
}

// groupEntryRange reads the values of attr of group dn from range start
// from on (AD ranged retrieval), until the last range.
func (s *session) groupEntryRange(ctx context.Context, src *model.Source, dn, attr string, from int) (string, []string, bool, error) {
	anyF, _ := ldap.CompileFilter("(objectClass=*)")
	prefix := strings.ToLower(attr + ";range=")
	var members []string
	next := from
	for next >= 0 {
		rq := &searchReq{base: dn, scope: ldap.ScopeBaseObject, filter: anyF, attrs: []string{fmt.Sprintf("%s;range=%d-*", attr, next)}}
		cur := next
		next = -1
		err := s.w.search(rq, func(e *rawEntry) error {
			for _, at := range e.attrs {
				lname := strings.ToLower(string(at.name))
				if strings.HasPrefix(lname, prefix) {
					next = rangeNext(lname[len(prefix):])
					for _, v := range at.vals {
						members = append(members, string(v))
					}
				}
			}
			return nil
		})
		if err != nil {
			return "", nil, false, classify(ctx, src, s.url, "read members of "+dn, err)
		}
		if next >= 0 && next <= cur {
			return "", nil, false, newError(src, KindProtocol, s.url, nil, "range retrieval of %q does not advance", dn)
		}
	}
	return dn, members, true, nil
}
