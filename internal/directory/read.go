package directory

import (
	"bytes"
	"context"
	"errors"
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
	fPrimaryGroupID
	fObjectSID
)

type slot struct {
	attr  string
	battr []byte
	kind  fieldKind
	key   string // enterprise attribute key
	di    int    // fDisabled: index into the expression's attributes
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
	// The disabled expression, the values of its attributes for the entry
	// being mapped (reused), and the time it is evaluated at.
	disabled *DisabledExpr
	dvals    [][][]byte
	now      time.Time
	// With primary groups: the parts of the mapped user's primary group
	// SID and the SID ("" when unknown).
	curRID, curSID, primarySID string
}

// newUserMapper prepares the mapping of src's user entries; it fails only
// when the disabled expression does not parse (a KindConfig error).
func newUserMapper(src *model.Source) (*userMapper, error) {
	m := &userMapper{intern: map[string]string{}, now: time.Now()}
	a := src.Attributes
	x, err := ParseDisabled(a.Disabled)
	if err != nil {
		return nil, newError(src, KindConfig, "", err, "the disabled flag %q does not parse: %v", a.Disabled, err)
	}
	add := func(attr string, k fieldKind, key string) {
		attr = strings.TrimSpace(attr)
		if attr == "" {
			return
		}
		m.slots = append(m.slots, slot{attr: attr, battr: []byte(attr), kind: k, key: key})
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
	if x != nil {
		m.disabled = x
		m.dvals = make([][][]byte, len(x.Attrs))
		for i, attr := range x.Attrs {
			add(attr, fDisabled, "")
			m.slots[len(m.slots)-1].di = i
		}
	}
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
	if src.PrimaryGroups {
		add("primaryGroupID", fPrimaryGroupID, "")
		add("objectSid", fObjectSID, "")
	}
	return m, nil
}

func (m *userMapper) internBytes(b []byte) string {
	if v, ok := m.intern[string(b)]; ok {
		return v
	}
	s := string(b)
	m.intern[s] = s
	return s
}

// mapUser fills u from e. It fails when the entry has no external id or
// username: skipping it would make the user look deleted.
func (m *userMapper) mapUser(e *rawEntry, u *model.DirUser) error {
	u.DN = string(e.dn)
	m.curRID, m.curSID, m.primarySID = "", "", ""
	for i := range m.dvals {
		m.dvals[i] = m.dvals[i][:0]
	}
	for ai := range e.attrs {
		at := &e.attrs[ai]
		if len(at.vals) == 0 {
			continue
		}
		for i := range m.slots {
			s := &m.slots[i]
			if !bytes.EqualFold(at.name, s.battr) {
				continue
			}
			v := at.vals[0]
			switch s.kind {
			case fExternalID:
				u.ExternalID = stableID(v, m.guid)
				if u.ExternalID == "" {
					return fmt.Errorf("entry %q has an objectGUID of %d bytes; a GUID has 16", u.DN, len(v))
				}
			case fUsername:
				u.Username = string(v)
			case fEmail:
				u.Email = string(v)
			case fDisplayName:
				u.DisplayName = string(v)
			case fDisabled:
				m.dvals[s.di] = append(m.dvals[s.di], at.vals...)
			case fEnterprise:
				if u.Attributes == nil {
					u.Attributes = make(model.Attributes, m.nEnt)
				}
				u.Attributes[s.key] = m.internBytes(v)
			case fPrimaryGroupID:
				m.curRID = strings.TrimSpace(string(v))
			case fObjectSID:
				m.curSID, _ = sidString(v)
			}
		}
	}
	if m.disabled != nil {
		u.Disabled = m.disabled.Eval(m.dvals, m.now)
	}
	if m.curRID != "" && m.curSID != "" {
		if i := strings.LastIndexByte(m.curSID, '-'); i > 0 {
			m.primarySID = m.curSID[:i+1] + m.curRID
		}
	}
	if u.ExternalID == "" {
		return fmt.Errorf("entry %q has no %s (external id)", u.DN, m.slots[0].attr)
	}
	if u.Username == "" {
		return fmt.Errorf("entry %q has no %s (username)", u.DN, usernameAttr(m))
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
// handing each entry to fn; entries are decoded in place, never kept.
func (s *session) pagedSearch(ctx context.Context, src *model.Source, what, base, filter string, attrs []string, fn func(*rawEntry) error) error {
	fp, err := ldap.CompileFilter(filter)
	if err != nil {
		return newError(src, KindFilter, s.url, err, "%s: filter %q does not parse: %v", what, filter, filterReason(err))
	}
	q := &searchReq{base: base, scope: ldap.ScopeWholeSubtree, filter: fp, attrs: attrs, pageSize: pageSizeOf(src)}
	if err := s.w.search(q, fn); err != nil {
		return classify(ctx, src, s.url, what, err)
	}
	return nil
}

func filterReason(err error) string {
	if le := (*ldap.Error)(nil); errors.As(err, &le) && le.Err != nil {
		return le.Err.Error()
	}
	return err.Error()
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
	m, err := newUserMapper(src)
	if err != nil {
		return nil, err
	}
	m.now = c.now()
	if err := s.lockPolicies(ctx, src, m); err != nil {
		return nil, err
	}
	users := make([]model.DirUser, 0, 1024)
	primary := map[string][]string{} // primary group SID → external ids
	err = s.pagedSearch(ctx, src, "search users", src.UserBaseDN, orAll(src.UserFilter), m.attrs, func(e *rawEntry) error {
		users = append(users, model.DirUser{})
		u := &users[len(users)-1]
		if err := m.mapUser(e, u); err != nil {
			return newError(src, KindProtocol, s.url, nil, "user %v", err)
		}
		if m.primarySID != "" {
			primary[m.primarySID] = append(primary[m.primarySID], u.ExternalID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, newError(src, KindEmpty, s.url, nil, "the directory returned zero users for base %q and filter %q; refusing an empty answer", src.UserBaseDN, orAll(src.UserFilter))
	}
	snap := &model.Snapshot{SourceID: src.ID, ReadAt: time.Now().UTC(), Users: users, Complete: true}
	slices.SortFunc(snap.Users, func(a, b model.DirUser) int { return strings.Compare(a.ExternalID, b.ExternalID) })
	for i := 1; i < len(snap.Users); i++ {
		if snap.Users[i].ExternalID == snap.Users[i-1].ExternalID {
			return nil, newError(src, KindProtocol, s.url, nil, "two entries share the external id %q (%s and %s)", snap.Users[i].ExternalID, snap.Users[i-1].DN, snap.Users[i].DN)
		}
	}
	_, uidAttrs := memberAttrs(src)
	uidExact := len(uidAttrs) > 0 && s.memberUIDCaseExact(src)
	gb := newGroupBuilder(src, snap.Users, uidExact)
	gr := newGroupReader(src, gb)
	if err := s.readGroups(ctx, src, gr); err != nil {
		return nil, err
	}
	if err := s.resolveNested(ctx, src, gr); err != nil {
		return nil, err
	}
	gb.addPrimary(primary)
	if ctx.Err() != nil {
		return nil, classify(ctx, src, s.url, "read", ctx.Err())
	}
	cl := newUnmatchedClassifier(s, src, m)
	cl.exact = uidExact
	if uidExact {
		cl.foldUID = make(map[string]string, len(snap.Users))
		for i := range snap.Users {
			cl.foldUID[strings.ToLower(snap.Users[i].Username)] = snap.Users[i].Username
		}
	}
	if snap.Groups, err = gb.finish(ctx, cl); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, classify(ctx, src, s.url, "read", ctx.Err())
	}
	return snap, nil
}

// groupBuilder resolves member values while the groups are read: user
// members are looked up without allocating; the rest (nested groups,
// unknown values) are kept as strings until every group is known.
type groupBuilder struct {
	byDN     map[string]string // normalized DN → external id
	byUID    map[string]string // uid (lower-case unless uidExact) → external id
	uidExact bool
	groups   []model.DirGroup
	other    [][]pendingMember // per group: member values that are not users
	sids     []string          // per group: objectSid (with primary groups)
	known    map[string]bool   // normalized DNs of the groups added
}

type pendingMember struct {
	v   string
	uid bool // from memberUid
}

func newGroupBuilder(src *model.Source, users []model.DirUser, uidExact bool) *groupBuilder {
	_, uidAttrs := memberAttrs(src)
	gb := &groupBuilder{byDN: make(map[string]string, len(users)), uidExact: uidExact, known: map[string]bool{}}
	if len(uidAttrs) > 0 {
		gb.byUID = make(map[string]string, len(users))
	}
	for i := range users {
		gb.byDN[normDN(users[i].DN)] = users[i].ExternalID
		if gb.byUID != nil {
			gb.byUID[gb.uidKey(users[i].Username)] = users[i].ExternalID
		}
	}
	return gb
}

func (gb *groupBuilder) uidKey(v string) string {
	if gb.uidExact {
		return v
	}
	return strings.ToLower(v)
}

// add starts group dn; it returns -1 when dn was already added (a group
// found twice, e.g. by the base search and by DN).
func (gb *groupBuilder) add(dn, name string) int {
	k := normDN(dn)
	if gb.known[k] {
		return -1
	}
	gb.known[k] = true
	gb.groups = append(gb.groups, model.DirGroup{DN: dn, Name: name})
	gb.other = append(gb.other, nil)
	gb.sids = append(gb.sids, "")
	return len(gb.groups) - 1
}

// addPrimary adds each user to the group whose objectSid is their primary
// group's SID.
func (gb *groupBuilder) addPrimary(primary map[string][]string) {
	if len(primary) == 0 {
		return
	}
	for gi, sid := range gb.sids {
		if sid != "" {
			gb.groups[gi].Users = append(gb.groups[gi].Users, primary[sid]...)
		}
	}
}

// member records value v of group gi; uid says it came from memberUid.
func (gb *groupBuilder) member(gi int, v []byte, uid bool) {
	if len(v) == 0 {
		return
	}
	g := &gb.groups[gi]
	if uid {
		if id, ok := gb.byUID[gb.uidKey(string(v))]; ok {
			g.Users = append(g.Users, id)
			return
		}
	} else if cleanKey(v) {
		if id, ok := gb.byDN[string(v)]; ok {
			g.Users = append(g.Users, id)
			return
		}
		if id, ok := gb.byDN[memberKey(string(v))]; ok {
			g.Users = append(g.Users, id)
			return
		}
	} else if id, ok := gb.byDN[memberKey(string(v))]; ok {
		g.Users = append(g.Users, id)
		return
	}
	gb.other[gi] = append(gb.other[gi], pendingMember{string(v), uid})
}

// finish resolves nested groups and, with cl, finds why the remaining
// values matched nothing.
func (gb *groupBuilder) finish(ctx context.Context, cl *unmatchedClassifier) ([]model.DirGroup, error) {
	groupDN := make(map[string]string, len(gb.groups))
	for i := range gb.groups {
		groupDN[normDN(gb.groups[i].DN)] = gb.groups[i].DN
	}
	for i := range gb.groups {
		g := &gb.groups[i]
		slices.SortFunc(gb.other[i], func(a, b pendingMember) int { return strings.Compare(a.v, b.v) })
		for _, pm := range gb.other[i] {
			if !pm.uid {
				if dn, ok := groupDN[memberKey(pm.v)]; ok {
					g.Groups = append(g.Groups, dn)
					continue
				}
			}
			g.Unresolved = append(g.Unresolved, pm.v)
			if cl != nil {
				um, err := cl.classify(ctx, pm.v, pm.uid)
				if err != nil {
					return nil, err
				}
				g.Unmatched = append(g.Unmatched, um)
			}
		}
		gb.other[i] = nil
		slices.Sort(g.Users)
		g.Users = slices.Compact(g.Users)
		slices.Sort(g.Groups)
		g.Groups = slices.Compact(g.Groups)
	}
	slices.SortFunc(gb.groups, func(a, b model.DirGroup) int { return strings.Compare(a.DN, b.DN) })
	return gb.groups, nil
}

// memberAttrSet matches the membership attributes of a source (and their
// ranged forms, "member;range=0-1499") in returned entries.
type memberAttrSet struct {
	names  [][]byte
	ranges [][]byte // lower-case "attr;range="
	uid    []bool
}

func newMemberAttrSet(attrs []string) *memberAttrSet {
	ms := &memberAttrSet{}
	for _, a := range attrs {
		ms.names = append(ms.names, []byte(a))
		ms.ranges = append(ms.ranges, []byte(strings.ToLower(a+";range=")))
		ms.uid = append(ms.uid, isUIDAttr(a))
	}
	return ms
}

// match returns the index of the attribute name belongs to, whether it is
// a ranged form, and the range's next start (-1: last range).
func (ms *memberAttrSet) match(name []byte) (idx int, ranged bool, next int) {
	for i, n := range ms.names {
		if bytes.EqualFold(name, n) {
			return i, false, -1
		}
		p := ms.ranges[i]
		if len(name) > len(p) && bytes.EqualFold(name[:len(p)], p) {
			return i, true, rangeNext(string(name[len(p):]))
		}
	}
	return -1, false, -1
}

// groupReader turns group entries into groupBuilder groups and remembers
// the AD member lists that need ranged retrieval.
type groupReader struct {
	gb      *groupBuilder
	mattrs  []string
	ms      *memberAttrSet
	idAttr  string
	guid    bool
	sid     bool
	pending []pendingRange
}

type pendingRange struct {
	gi   int
	attr int
	from int
}

func newGroupReader(src *model.Source, gb *groupBuilder) *groupReader {
	attrs := src.MemberAttrs()
	idAttr := strings.TrimSpace(src.Attributes.ExternalID)
	return &groupReader{gb: gb, mattrs: attrs, ms: newMemberAttrSet(attrs), idAttr: idAttr,
		guid: strings.EqualFold(idAttr, "objectGUID"), sid: src.PrimaryGroups}
}

func (r *groupReader) attrs() []string {
	a := append([]string{"cn"}, r.mattrs...)
	if r.idAttr != "" {
		a = append(a, r.idAttr)
	}
	if r.sid {
		a = append(a, "objectSid")
	}
	return a
}

// entry adds the group in e (outside: read by DN, outside the group base).
func (r *groupReader) entry(e *rawEntry, outside bool) {
	gi := r.gb.add(string(e.dn), e.first("cn"))
	if gi < 0 {
		return
	}
	g := &r.gb.groups[gi]
	g.Outside = outside
	for ai := range e.attrs {
		at := &e.attrs[ai]
		k, ranged, next := r.ms.match(at.name)
		if k < 0 {
			switch {
			case r.idAttr != "" && len(at.vals) > 0 && bytes.EqualFold(at.name, []byte(r.idAttr)):
				g.ID = stableID(at.vals[0], r.guid)
			case r.sid && len(at.vals) > 0 && bytes.EqualFold(at.name, []byte("objectSid")):
				r.gb.sids[gi], _ = sidString(at.vals[0])
			}
			continue
		}
		if ranged && next >= 0 {
			r.pending = append(r.pending, pendingRange{gi, k, next})
		}
		for _, v := range at.vals {
			r.gb.member(gi, v, r.ms.uid[k])
		}
	}
}

// ranges fetches the rest of the member lists seen so far.
func (r *groupReader) ranges(ctx context.Context, s *session, src *model.Source) error {
	for len(r.pending) > 0 {
		p := r.pending[0]
		r.pending = r.pending[1:]
		if err := s.rangeMembers(ctx, src, r.gb, p.gi, r.mattrs[p.attr], p.from); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) readGroups(ctx context.Context, src *model.Source, r *groupReader) error {
	err := s.pagedSearch(ctx, src, "search groups", orDefault(src.GroupBaseDN, src.UserBaseDN), orAll(src.GroupFilter), r.attrs(), func(e *rawEntry) error {
		r.entry(e, false)
		return nil
	})
	if err != nil {
		return err
	}
	return r.ranges(ctx, s, src)
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
func (s *session) rangeMembers(ctx context.Context, src *model.Source, gb *groupBuilder, gi int, attr string, from int) error {
	dn := gb.groups[gi].DN
	prefix := []byte(strings.ToLower(attr + ";range="))
	any, _ := ldap.CompileFilter("(objectClass=*)")
	for from >= 0 {
		q := &searchReq{base: dn, scope: ldap.ScopeBaseObject, filter: any, attrs: []string{fmt.Sprintf("%s;range=%d-*", attr, from)}}
		entries, next, found := 0, -1, false
		err := s.w.search(q, func(e *rawEntry) error {
			entries++
			for ai := range e.attrs {
				at := &e.attrs[ai]
				if len(at.name) > len(prefix) && bytes.EqualFold(at.name[:len(prefix)], prefix) {
					for _, v := range at.vals {
						gb.member(gi, v, isUIDAttr(attr))
					}
					next, found = rangeNext(string(at.name[len(prefix):])), true
				}
			}
			return nil
		})
		if err != nil {
			return classify(ctx, src, s.url, "read members of "+dn, err)
		}
		if entries != 1 || !found {
			return newError(src, KindProtocol, s.url, nil, "range retrieval of %q: the server answered no range", dn)
		}
		if next >= 0 && next <= from {
			return newError(src, KindProtocol, s.url, nil, "range retrieval of %s of %q does not end: asked for values from %d, the server answered a range ending before them", attr, dn, from)
		}
		from = next
	}
	return nil
}

// cleanKey reports whether v is already a lookup key: ASCII without upper
// case letters or blanks (the common form of directory-returned DNs).
func cleanKey(v []byte) bool {
	for _, c := range v {
		if ('A' <= c && c <= 'Z') || c == ' ' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// normDN is a DN lookup key: model.NormalizeDN, skipped (no allocation)
// when dn is already in that form.
func normDN(dn string) string {
	if cleanKey([]byte(dn)) {
		return strings.TrimSpace(dn)
	}
	return model.NormalizeDN(dn)
}
