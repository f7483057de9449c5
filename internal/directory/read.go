package directory

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/model"
)

type fieldKind uint8

const (
	fExternalID fieldKind = iota
	fUsername
	fEmail
	fDisplayName
	fDisabled
	fEnterprise
)

type slot struct {
	attr string
	kind fieldKind
	key  string // enterprise attribute key
}

// userMapper turns user entries into DirUsers. It interns enterprise
// values: a few hundred distinct locations or titles are shared by
// thousands of users.
type userMapper struct {
	slots  []slot
	attrs  []string
	intern map[string]string
	guid   bool // external id is AD's binary objectGUID
	nEnt   int
}

func newUserMapper(src *model.Source) *userMapper {
	m := &userMapper{intern: map[string]string{}}
	a := src.Attributes
	add := func(attr string, k fieldKind, key string) {
		attr = strings.TrimSpace(attr)
		if attr == "" {
			return
		}
		m.slots = append(m.slots, slot{attr: attr, kind: k, key: key})
		for _, x := range m.attrs {
			if strings.EqualFold(x, attr) {
				return
			}
		}
		m.attrs = append(m.attrs, attr)
	}
	add(a.ExternalID, fExternalID, "")
	add(a.Username, fUsername, "")
	add(a.Email, fEmail, "")
	add(a.DisplayName, fDisplayName, "")
	add(a.Disabled, fDisabled, "")
	keys := make([]string, 0, len(a.Enterprise))
	for k := range a.Enterprise {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if strings.TrimSpace(a.Enterprise[k]) != "" {
			add(a.Enterprise[k], fEnterprise, k)
			m.nEnt++
		}
	}
	m.guid = strings.EqualFold(a.ExternalID, "objectGUID")
	return m
}

func (m *userMapper) internStr(s string) string {
	if v, ok := m.intern[s]; ok {
		return v
	}
	m.intern[s] = s
	return s
}

// isDisabled interprets the disabled attribute: AD's userAccountControl
// (bit 0x2), otherwise any value but false/0/no/off/"" means disabled (so a
// present pwdAccountLockedTime counts).
func isDisabled(attr, v string) bool {
	if strings.EqualFold(attr, "userAccountControl") {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return err == nil && n&0x2 != 0
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "false", "0", "no", "off":
		return false
	}
	return true
}

// mapUser fills u from e. It fails when the entry has no external id or
// username: skipping it would make the user look deleted.
func (m *userMapper) mapUser(e *ldap.Entry, u *model.DirUser) error {
	u.DN = e.DN
	for _, at := range e.Attributes {
		if len(at.Values) == 0 {
			continue
		}
		for i := range m.slots {
			s := &m.slots[i]
			if !strings.EqualFold(at.Name, s.attr) {
				continue
			}
			v := at.Values[0]
			switch s.kind {
			case fExternalID:
				if m.guid && len(at.ByteValues[0]) == 16 {
					u.ExternalID = formatGUID(at.ByteValues[0])
				} else if !utf8.ValidString(v) && len(at.ByteValues[0]) == 16 {
					u.ExternalID = formatGUID(at.ByteValues[0])
				} else {
					u.ExternalID = v
				}
			case fUsername:
				u.Username = v
			case fEmail:
				u.Email = v
			case fDisplayName:
				u.DisplayName = v
			case fDisabled:
				u.Disabled = isDisabled(s.attr, v)
			case fEnterprise:
				if u.Attributes == nil {
					u.Attributes = make(model.Attributes, m.nEnt)
				}
				u.Attributes[s.key] = m.internStr(v)
			}
		}
	}
	if u.ExternalID == "" {
		return fmt.Errorf("entry %q has no %s (external id)", e.DN, m.slots[0].attr)
	}
	if u.Username == "" {
		return fmt.Errorf("entry %q has no %s (username)", e.DN, usernameAttr(m))
	}
	return nil
}

func usernameAttr(m *userMapper) string {
	for _, s := range m.slots {
		if s.kind == fUsername {
			return s.attr
		}
	}
	return "username attribute"
}

func orAll(f string) string {
	if strings.TrimSpace(f) == "" {
		return "(objectClass=*)"
	}
	return strings.TrimSpace(f)
}

// pagedSearch runs a subtree search page by page (Simple Paged Results),
// handing each entry to fn and dropping the page before fetching the next.
func (s *session) pagedSearch(ctx context.Context, src *model.Source, what, base, filter string, attrs []string, fn func(*ldap.Entry) error) error {
	if _, err := ldap.CompileFilter(filter); err != nil {
		return newError(src, KindFilter, s.url, err, "%s: filter %q does not parse: %v", what, filter, filterReason(err))
	}
	paging := ldap.NewControlPaging(pageSizeOf(src))
	req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, []ldap.Control{paging})
	for {
		res, err := s.conn.Search(req)
		if err != nil {
			return classify(ctx, src, s.url, what, err)
		}
		for _, e := range res.Entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		ctrl, _ := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if ctrl == nil || len(ctrl.Cookie) == 0 {
			return nil
		}
		paging.SetCookie(ctrl.Cookie)
	}
}

func filterReason(err error) string {
	if le, ok := err.(*ldap.Error); ok && le.Err != nil {
		return le.Err.Error()
	}
	return err.Error()
}

// rawGroup is a group entry before its members are resolved.
type rawGroup struct {
	dn      string
	name    string
	members []string
}

// Read returns a complete Snapshot of src: every user matched by the user
// filter and every group matched by the group filter with its direct
// members resolved. It fails with an *Error (see Kind) rather than return
// anything partial, and also when the directory returns zero users.
func (c *Client) Read(ctx context.Context, src *model.Source) (*model.Snapshot, error) {
	start := time.Now()
	s, err := c.connect(ctx, src)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	snap, err := c.read(ctx, s, src)
	if err != nil {
		return nil, err
	}
	c.logger.Info("directory: read", "source", src.Name, "url", s.url, "users", len(snap.Users), "groups", len(snap.Groups), "took", time.Since(start).Round(time.Millisecond))
	return snap, nil
}

func (c *Client) read(ctx context.Context, s *session, src *model.Source) (*model.Snapshot, error) {
	m := newUserMapper(src)
	users := make([]model.DirUser, 0, 1024)
	err := s.pagedSearch(ctx, src, "search users", src.UserBaseDN, orAll(src.UserFilter), m.attrs, func(e *ldap.Entry) error {
		users = append(users, model.DirUser{})
		if err := m.mapUser(e, &users[len(users)-1]); err != nil {
			return newError(src, KindProtocol, s.url, nil, "user %v", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, newError(src, KindEmpty, s.url, nil, "the directory returned zero users for base %q and filter %q; refusing an empty answer", src.UserBaseDN, orAll(src.UserFilter))
	}
	raws, err := s.readGroups(ctx, src)
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, classify(ctx, src, s.url, "read", ctx.Err())
	}
	snap := &model.Snapshot{SourceID: src.ID, ReadAt: time.Now().UTC(), Users: users, Complete: true}
	slices.SortFunc(snap.Users, func(a, b model.DirUser) int { return strings.Compare(a.ExternalID, b.ExternalID) })
	for i := 1; i < len(snap.Users); i++ {
		if snap.Users[i].ExternalID == snap.Users[i-1].ExternalID {
			return nil, newError(src, KindProtocol, s.url, nil, "two entries share the external id %q (%s and %s)", snap.Users[i].ExternalID, snap.Users[i-1].DN, snap.Users[i].DN)
		}
	}
	snap.Groups = resolveGroups(src, snap.Users, raws)
	return snap, nil
}

func (s *session) readGroups(ctx context.Context, src *model.Source) ([]rawGroup, error) {
	memberAttr := strings.TrimSpace(src.MemberAttr)
	if memberAttr == "" {
		memberAttr = "member"
	}
	rangePrefix := memberAttr + ";range="
	var raws []rawGroup
	var pending []int // groups whose member list continues in further ranges
	var pendingNext []int
	err := s.pagedSearch(ctx, src, "search groups", orDefault(src.GroupBaseDN, src.UserBaseDN), orAll(src.GroupFilter), []string{"cn", memberAttr}, func(e *ldap.Entry) error {
		g := rawGroup{dn: e.DN}
		next := -1
		for _, at := range e.Attributes {
			switch {
			case strings.EqualFold(at.Name, "cn"):
				if len(at.Values) > 0 {
					g.name = at.Values[0]
				}
			case strings.EqualFold(at.Name, memberAttr):
				g.members = append(g.members, at.Values...)
			case len(at.Name) > len(rangePrefix) && strings.EqualFold(at.Name[:len(rangePrefix)], rangePrefix):
				g.members = append(g.members, at.Values...)
				next = rangeNext(at.Name[len(rangePrefix):])
			}
		}
		if next >= 0 {
			pending = append(pending, len(raws))
			pendingNext = append(pendingNext, next)
		}
		raws = append(raws, g)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, gi := range pending {
		more, err := s.rangeMembers(ctx, src, raws[gi].dn, memberAttr, pendingNext[i])
		if err != nil {
			return nil, err
		}
		raws[gi].members = append(raws[gi].members, more...)
	}
	return raws, nil
}

func orDefault(a, b string) string {
	if strings.TrimSpace(a) != "" {
		return a
	}
	return b
}

// rangeNext parses "0-1499" → 1500, "1500-*" → -1 (last range).
func rangeNext(r string) int {
	_, hi, ok := strings.Cut(r, "-")
	if !ok || hi == "*" {
		return -1
	}
	n, err := strconv.Atoi(hi)
	if err != nil {
		return -1
	}
	return n + 1
}

// rangeMembers fetches the rest of an AD member list with ranged
// attribute retrieval (member;range=1500-*), one base search per range.
func (s *session) rangeMembers(ctx context.Context, src *model.Source, dn, attr string, from int) ([]string, error) {
	var out []string
	prefix := attr + ";range="
	for from >= 0 {
		req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)",
			[]string{fmt.Sprintf("%s;range=%d-*", attr, from)}, nil)
		res, err := s.conn.Search(req)
		if err != nil {
			return nil, classify(ctx, src, s.url, "read members of "+dn, err)
		}
		if len(res.Entries) != 1 {
			return nil, newError(src, KindProtocol, s.url, nil, "range retrieval of %q returned %d entries", dn, len(res.Entries))
		}
		next, found := -1, false
		for _, at := range res.Entries[0].Attributes {
			if len(at.Name) > len(prefix) && strings.EqualFold(at.Name[:len(prefix)], prefix) {
				out = append(out, at.Values...)
				next, found = rangeNext(at.Name[len(prefix):]), true
			}
		}
		if !found {
			return nil, newError(src, KindProtocol, s.url, nil, "range retrieval of %q: the server answered no range", dn)
		}
		from = next
	}
	return out, nil
}

// resolveGroups splits each group's member values into users (external
// ids), nested groups (DNs as read) and unresolved values.
func resolveGroups(src *model.Source, users []model.DirUser, raws []rawGroup) []model.DirGroup {
	byUID := strings.EqualFold(strings.TrimSpace(src.MemberAttr), "memberUid")
	userKey := make(map[string]string, len(users))
	for i := range users {
		if byUID {
			userKey[strings.ToLower(users[i].Username)] = users[i].ExternalID
		} else {
			userKey[normDN(users[i].DN)] = users[i].ExternalID
		}
	}
	groupDN := make(map[string]string, len(raws))
	for i := range raws {
		groupDN[normDN(raws[i].dn)] = raws[i].dn
	}
	groups := make([]model.DirGroup, len(raws))
	for i := range raws {
		r := &raws[i]
		g := &groups[i]
		g.DN, g.Name = r.dn, r.name
		for _, v := range r.members {
			if v == "" {
				continue
			}
			if byUID {
				if id, ok := userKey[strings.ToLower(v)]; ok {
					g.Users = append(g.Users, id)
				} else {
					g.Unresolved = append(g.Unresolved, v)
				}
				continue
			}
			k := normDN(v)
			if id, ok := userKey[k]; ok {
				g.Users = append(g.Users, id)
			} else if dn, ok := groupDN[k]; ok {
				g.Groups = append(g.Groups, dn)
			} else {
				g.Unresolved = append(g.Unresolved, v)
			}
		}
		slices.Sort(g.Users)
		g.Users = slices.Compact(g.Users)
		slices.Sort(g.Groups)
		g.Groups = slices.Compact(g.Groups)
		slices.Sort(g.Unresolved)
		r.members = nil
	}
	slices.SortFunc(groups, func(a, b model.DirGroup) int { return strings.Compare(a.DN, b.DN) })
	return groups
}

// normDN is a cheap DN key: ASCII lower case without blanks around
// separators. It returns dn itself (no allocation) when it is already in
// that form, which is the common case for directory-returned DNs.
func normDN(dn string) string {
	clean := true
	for i := 0; i < len(dn); i++ {
		c := dn[i]
		if ('A' <= c && c <= 'Z') || c == ' ' || c >= utf8.RuneSelf {
			clean = false
			break
		}
	}
	if clean {
		return dn
	}
	return model.NormalizeDN(dn)
}
