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

// TestResult is what Test reports: how many users and groups the source's
// filters match.
type TestResult struct {
	Users  int
	Groups int
	// Warnings are configuration problems that do not stop a read, e.g. a
	// group class the group filter selects whose membership attribute is
	// not configured (its groups would read as empty).
	Warnings []string
}

// Test connects (with failover), binds and counts users and groups. It
// fails with a classified *Error; zero users is a KindEmpty error returned
// together with the counts.
func (c *Client) Test(ctx context.Context, src *model.Source) (TestResult, error) {
	var r TestResult
	s, err := c.connect(ctx, src)
	if err != nil {
		return r, err
	}
	defer s.Close()
	noAttrs := []string{"1.1"}
	if err := s.pagedSearch(ctx, src, "search users", src.UserBaseDN, orAll(src.UserFilter), noAttrs, func(*rawEntry) error { r.Users++; return nil }); err != nil {
		return TestResult{}, err
	}
	if err := s.pagedSearch(ctx, src, "search groups", orDefault(src.GroupBaseDN, src.UserBaseDN), orAll(src.GroupFilter), noAttrs, func(*rawEntry) error { r.Groups++; return nil }); err != nil {
		return TestResult{}, err
	}
	m, err := newUserMapper(src)
	if err != nil {
		return TestResult{}, err
	}
	if err := s.lockPolicies(ctx, src, m); err != nil {
		return TestResult{}, err
	}
	r.Warnings = MembershipWarnings(src)
	if r.Users == 0 {
		return r, newError(src, KindEmpty, s.url, nil, "connected, but the user filter %q under %q matches zero users", orAll(src.UserFilter), src.UserBaseDN)
	}
	return r, nil
}

// classMembers names the membership attributes of the common group
// classes (posixGroup: memberUid in RFC 2307, member in RFC 2307bis).
var classMembers = map[string][]string{
	"groupofnames":       {"member"},
	"groupofuniquenames": {"uniqueMember"},
	"posixgroup":         {"memberUid", "member"},
	"group":              {"member"},
	"groupofmembers":     {"member"},
}

// MembershipWarnings lists, for each group class that src's group filter
// selects by (objectClass=…), the ones none of whose membership attributes
// is configured: such groups would read as empty.
func MembershipWarnings(src *model.Source) []string {
	f, err := ldap.CompileFilter(orAll(src.GroupFilter))
	if err != nil {
		return nil
	}
	have := map[string]bool{}
	for _, a := range src.MemberAttrs() {
		have[strings.ToLower(a)] = true
	}
	var out []string
	seen := map[string]bool{}
	var walk func(p *ber.Packet, negated bool)
	walk = func(p *ber.Packet, negated bool) {
		switch p.Tag {
		case ldap.FilterAnd, ldap.FilterOr:
			for _, c := range p.Children {
				walk(c, negated)
			}
		case ldap.FilterNot:
			for _, c := range p.Children {
				walk(c, !negated)
			}
		case ldap.FilterEqualityMatch:
			if negated || len(p.Children) != 2 || !strings.EqualFold(p.Children[0].Data.String(), "objectClass") {
				return
			}
			class := p.Children[1].Data.String()
			attrs, known := classMembers[strings.ToLower(class)]
			if !known || seen[strings.ToLower(class)] {
				return
			}
			seen[strings.ToLower(class)] = true
			for _, a := range attrs {
				if have[strings.ToLower(a)] {
					return
				}
			}
			out = append(out, fmt.Sprintf("the group filter selects %s groups, but their membership attribute %s is not configured: they would read as empty", class, strings.Join(attrs, " or ")))
		}
	}
	walk(f, false)
	return out
}

// GroupRef names a directory group for the mapping picker.
type GroupRef struct {
	DN   string
	Name string
}

// SearchGroups returns up to limit groups whose cn contains query (escaped),
// sorted by name. An empty query lists the first groups found.
func (c *Client) SearchGroups(ctx context.Context, src *model.Source, query string, limit int) ([]GroupRef, error) {
	if limit <= 0 || limit > 1000 {
		limit = 50
	}
	s, err := c.connect(ctx, src)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	cn := "(cn=*)"
	if q := strings.TrimSpace(query); q != "" {
		cn = "(cn=*" + ldap.EscapeFilter(q) + "*)"
	}
	filter := "(&" + orAll(src.GroupFilter) + cn + ")"
	if _, err := ldap.CompileFilter(filter); err != nil {
		return nil, newError(src, KindFilter, s.url, err, "group filter %q does not parse: %v", orAll(src.GroupFilter), filterReason(err))
	}
	fp, _ := ldap.CompileFilter(filter)
	q := &searchReq{base: orDefault(src.GroupBaseDN, src.UserBaseDN), scope: ldap.ScopeWholeSubtree, filter: fp, attrs: []string{"cn"}, sizeLimit: limit}
	var out []GroupRef
	err = s.w.search(q, func(e *rawEntry) error {
		out = append(out, GroupRef{DN: string(e.dn), Name: e.first("cn")})
		return nil
	})
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return nil, classify(ctx, src, s.url, "search groups", err)
	}
	slices.SortFunc(out, func(a, b GroupRef) int {
		if c := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
			return c
		}
		return strings.Compare(a.DN, b.DN)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// ReadUser reads one user by external id plus every group that contains
// them directly or through nested groups; each such group lists only the
// members on those paths. The Snapshot has Complete=false. A user gone from
// the directory (or outside the user filter) is a KindNotFound error.
func (c *Client) ReadUser(ctx context.Context, src *model.Source, externalID string) (*model.Snapshot, error) {
	s, err := c.connect(ctx, src)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	m, err := newUserMapper(src)
	if err != nil {
		return nil, err
	}
	m.now = c.now()
	if err := s.lockPolicies(ctx, src, m); err != nil {
		return nil, err
	}
	idAttr := strings.TrimSpace(src.Attributes.ExternalID)
	var idValue string
	if m.guid {
		b, err := parseGUID(externalID)
		if err != nil {
			return nil, newError(src, KindNotFound, s.url, err, "user %q not found: not a GUID", externalID)
		}
		idValue = escapeFilterBytes(b)
	} else {
		idValue = ldap.EscapeFilter(externalID)
	}
	filter := "(&" + orAll(src.UserFilter) + "(" + idAttr + "=" + idValue + "))"
	var users []model.DirUser
	err = s.pagedSearch(ctx, src, "search user", src.UserBaseDN, filter, m.attrs, func(e *rawEntry) error {
		var u model.DirUser
		if err := m.mapUser(e, &u); err != nil {
			return newError(src, KindProtocol, s.url, nil, "user %v", err)
		}
		users = append(users, u)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, newError(src, KindNotFound, s.url, nil, "user %q not found in the directory", externalID)
	}
	if len(users) > 1 {
		return nil, newError(src, KindProtocol, s.url, nil, "%d entries share the external id %q", len(users), externalID)
	}
	u := users[0]
	if src.Kind == model.SourceActiveDirectory && adMemberOnly(src) {
		snap, ok, err := s.readUserAD(ctx, src, u, m.primarySID)
		if err != nil || ok {
			return snap, err
		}
		// No tokenGroups (not a real AD): the search walk below.
	}

	// Walk upwards breadth-first: groups containing the user (by DN in
	// member/uniqueMember, by uid in memberUid: the server applies each
	// attribute's matching rule, as the full read does), then groups
	// containing those groups, each group searched once (cycles end).
	dnAttrs, uidAttrs := memberAttrs(src)
	// uniqueMember values may carry a UID ("…#'0101'B"), and slapd's
	// uniqueMemberMatch then needs the assertion to carry the same UID: the
	// groups holding the user through uniqueMember are found by reading
	// every group's uniqueMember values once, matched as the full read does.
	var eqAttrs []string
	scanUnique := ""
	for _, a := range dnAttrs {
		if strings.EqualFold(a, "uniqueMember") {
			scanUnique = a
		} else {
			eqAttrs = append(eqAttrs, a)
		}
	}
	base := orDefault(src.GroupBaseDN, src.UserBaseDN)
	type ref struct{ dn, name string }
	uniqueOf := map[string][]ref{} // memberKey of a value → groups holding it
	if scanUnique != "" {
		f := andFilter(orAll(src.GroupFilter), "("+scanUnique+"=*)")
		ms := newMemberAttrSet([]string{scanUnique})
		type more struct {
			r    ref
			from int
		}
		var pending []more
		err := s.pagedSearch(ctx, src, "search groups of "+u.DN, base, f, []string{"cn", scanUnique}, func(e *rawEntry) error {
			r := ref{string(e.dn), e.first("cn")}
			for _, at := range e.attrs {
				k, ranged, next := ms.match(at.name)
				if k < 0 {
					continue
				}
				if ranged && next >= 0 {
					pending = append(pending, more{r, next})
				}
				for _, v := range at.vals {
					mk := memberKey(string(v))
					uniqueOf[mk] = append(uniqueOf[mk], r)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, p := range pending {
			_, members, _, err := s.groupEntryRange(ctx, src, p.r.dn, scanUnique, p.from)
			if err != nil {
				return nil, err
			}
			for _, v := range members {
				mk := memberKey(v)
				uniqueOf[mk] = append(uniqueOf[mk], p.r)
			}
		}
	}
	const userMark = "\x00user"
	type found struct {
		dn, name string
		members  []string // values on the paths: userMark or group DNs
	}
	groups := map[string]*found{}
	var order []string
	assert := func(v string, withUID bool) string {
		var parts []string
		for _, a := range eqAttrs {
			parts = append(parts, eqFilter(a, v))
		}
		if withUID {
			for _, a := range uidAttrs {
				parts = append(parts, eqFilter(a, u.Username))
			}
		}
		if len(parts) == 0 {
			return ""
		}
		return andFilter(orAll(src.GroupFilter), orFilter(parts...))
	}
	type step struct{ value, dn, filter string }
	frontier := []step{{userMark, u.DN, assert(u.DN, true)}}
	seenValue := map[string]bool{normDN(u.DN): true}
	for len(frontier) > 0 {
		var next []step
		for _, st := range frontier {
			hold := func(dn, name string) {
				k := normDN(dn)
				g := groups[k]
				if g == nil {
					g = &found{dn: dn, name: name}
					groups[k] = g
					order = append(order, k)
				}
				g.members = append(g.members, st.value)
				if len(dnAttrs) > 0 && !seenValue[k] {
					seenValue[k] = true
					next = append(next, step{dn, dn, assert(dn, false)})
				}
			}
			if st.filter != "" {
				err := s.pagedSearch(ctx, src, "search groups of "+u.DN, base, st.filter, []string{"cn"}, func(e *rawEntry) error {
					hold(string(e.dn), e.first("cn"))
					return nil
				})
				if err != nil {
					return nil, err
				}
			}
			for _, r := range uniqueOf[memberKey(st.dn)] {
				hold(r.dn, r.name)
			}
		}
		frontier = next
	}
	snap := &model.Snapshot{SourceID: src.ID, ReadAt: time.Now().UTC(), Users: []model.DirUser{u}}
	for _, k := range order {
		g := groups[k]
		dg := model.DirGroup{DN: g.dn, Name: g.name}
		for _, v := range g.members {
			if v == userMark {
				dg.Users = append(dg.Users, u.ExternalID)
			} else if sub := groups[normDN(v)]; sub != nil {
				dg.Groups = append(dg.Groups, sub.dn)
			}
		}
		slices.Sort(dg.Users)
		dg.Users = slices.Compact(dg.Users)
		slices.Sort(dg.Groups)
		dg.Groups = slices.Compact(dg.Groups)
		snap.Groups = append(snap.Groups, dg)
	}
	slices.SortFunc(snap.Groups, func(a, b model.DirGroup) int { return strings.Compare(a.DN, b.DN) })
	return snap, nil
}
