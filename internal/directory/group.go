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
	memberAttr := strings.TrimSpace(src.MemberAttr)
	if memberAttr == "" {
		memberAttr = "member"
	}
	byUID := strings.EqualFold(memberAttr, "memberUid")
	userF, err := ldap.CompileFilter(orAll(src.UserFilter))
	if err != nil {
		return nil, newError(src, KindFilter, s.url, err, "user filter %q does not parse: %v", orAll(src.UserFilter), filterReason(err))
	}
	groupF, err := ldap.CompileFilter(orAll(src.GroupFilter))
	if err != nil {
		return nil, newError(src, KindFilter, s.url, err, "group filter %q does not parse: %v", orAll(src.GroupFilter), filterReason(err))
	}
	m := newUserMapper(src)
	snap := &model.Snapshot{SourceID: src.ID, ReadAt: time.Now().UTC()}
	users := map[string]bool{}
	seen := map[string]bool{normDN(dn): true}
	queue := []string{dn}
	for len(queue) > 0 {
		gdn := queue[0]
		queue = queue[1:]
		name, members, found, err := s.groupEntry(ctx, src, gdn, groupF, memberAttr)
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
		for _, v := range members {
			var q *searchReq
			if byUID {
				f := "(&" + orAll(src.UserFilter) + "(" + src.Attributes.Username + "=" + ldap.EscapeFilter(v) + "))"
				fp, err := ldap.CompileFilter(f)
				if err != nil {
					return nil, newError(src, KindFilter, s.url, err, "username attribute %q cannot be searched", src.Attributes.Username)
				}
				q = &searchReq{base: src.UserBaseDN, scope: ldap.ScopeWholeSubtree, filter: fp, attrs: m.attrs, sizeLimit: 2}
			} else {
				q = &searchReq{base: v, scope: ldap.ScopeBaseObject, filter: userF, attrs: m.attrs}
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
			if n == 1 {
				g.Users = append(g.Users, u.ExternalID)
				if !users[u.ExternalID] {
					users[u.ExternalID] = true
					snap.Users = append(snap.Users, u)
				}
				continue
			}
			if !byUID {
				_, _, isGroup, err := s.groupEntry(ctx, src, v, groupF, "1.1")
				if err != nil {
					return nil, err
				}
				if isGroup {
					g.Groups = append(g.Groups, v)
					if k := normDN(v); nested && !seen[k] {
						seen[k] = true
						queue = append(queue, v)
					}
					continue
				}
			}
			g.Unresolved = append(g.Unresolved, v)
		}
		slices.Sort(g.Users)
		g.Users = slices.Compact(g.Users)
		slices.Sort(g.Groups)
		g.Groups = slices.Compact(g.Groups)
		slices.Sort(g.Unresolved)
		snap.Groups = append(snap.Groups, g)
	}
	slices.SortFunc(snap.Users, func(a, b model.DirUser) int { return strings.Compare(a.ExternalID, b.ExternalID) })
	slices.SortFunc(snap.Groups, func(a, b model.DirGroup) int { return strings.Compare(a.DN, b.DN) })
	return snap, nil
}

// groupEntry reads one group entry (base search with the group filter) and
// its member values, following AD ranged retrieval. found is false when
// the DN does not exist or is not a group.
func (s *session) groupEntry(ctx context.Context, src *model.Source, dn string, groupF *ber.Packet, memberAttr string) (name string, members []string, found bool, err error) {
	fp := groupF
	q := &searchReq{base: dn, scope: ldap.ScopeBaseObject, filter: fp, attrs: []string{"cn", memberAttr}}
	prefix := strings.ToLower(memberAttr + ";range=")
	next := -1
	err = s.w.search(q, func(e *rawEntry) error {
		found = true
		name = e.first("cn")
		for _, at := range e.attrs {
			lname := strings.ToLower(string(at.name))
			switch {
			case lname == strings.ToLower(memberAttr):
			case strings.HasPrefix(lname, prefix):
				next = rangeNext(lname[len(prefix):])
			default:
				continue
			}
			for _, v := range at.vals {
				members = append(members, string(v))
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
	for next >= 0 {
		rq := &searchReq{base: dn, scope: ldap.ScopeBaseObject, filter: fp, attrs: []string{fmt.Sprintf("%s;range=%d-*", memberAttr, next)}}
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
	return name, members, found, nil
}
