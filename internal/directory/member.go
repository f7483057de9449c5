package directory

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/model"
)

// isUIDAttr reports whether a membership attribute holds user names
// (RFC 2307 memberUid) rather than DNs.
func isUIDAttr(attr string) bool { return strings.EqualFold(strings.TrimSpace(attr), "memberUid") }

// memberAttrs splits src's membership attributes into DN-valued ones
// (member, uniqueMember, …) and name-valued ones (memberUid).
func memberAttrs(src *model.Source) (dnAttrs, uidAttrs []string) {
	for _, a := range src.MemberAttrs() {
		if isUIDAttr(a) {
			uidAttrs = append(uidAttrs, a)
		} else {
			dnAttrs = append(dnAttrs, a)
		}
	}
	return dnAttrs, uidAttrs
}

// StripUID removes the optional unique identifier of a uniqueMember value
// (RFC 4517 NameAndOptionalUID: "uid=ann,ou=people,dc=x#'0101'B") and
// returns the DN; values without one are returned unchanged. A '#' that
// is escaped ("\#") belongs to the DN.
func StripUID(v string) string {
	if len(v) < 4 || v[len(v)-1] != 'B' || v[len(v)-2] != '\'' {
		return v
	}
	i := len(v) - 3
	for i >= 0 && (v[i] == '0' || v[i] == '1') {
		i--
	}
	if i < 1 || v[i] != '\'' || v[i-1] != '#' {
		return v
	}
	hash := i - 1
	// An odd number of backslashes before '#' escapes it.
	bs := 0
	for j := hash - 1; j >= 0 && v[j] == '\\'; j-- {
		bs++
	}
	if bs%2 == 1 {
		return v
	}
	return v[:hash]
}

// eqFilter is the equality filter (attr=v) with v escaped (RFC 4515).
func eqFilter(attr, v string) string { return "(" + attr + "=" + ldap.EscapeFilter(v) + ")" }

// andFilter joins filters with &; one filter is returned as it is.
func andFilter(fs ...string) string {
	if len(fs) == 1 {
		return fs[0]
	}
	return "(&" + strings.Join(fs, "") + ")"
}

// orFilter joins filters with |; one filter is returned as it is.
func orFilter(fs ...string) string {
	if len(fs) == 1 {
		return fs[0]
	}
	return "(|" + strings.Join(fs, "") + ")"
}

// memberKey is the lookup key of a DN-valued member: NormalizeDN of the
// value without its optional UID.
func memberKey(v string) string { return normDN(StripUID(v)) }

// underBase reports whether the normalized DN ndn is base or below it.
func underBase(ndn, base string) bool {
	nb := model.NormalizeDN(base)
	return nb == "" || ndn == nb || strings.HasSuffix(ndn, ","+nb)
}

// maxMemberLookups bounds how many unmatched member values one read looks
// up to find their reason; the rest are "not checked".
const maxMemberLookups = 1000

// unmatchedClassifier finds out why member values matched no user or
// group, one or two base searches per distinct value.
type unmatchedClassifier struct {
	s       *session
	src     *model.Source
	m       *userMapper
	userF   string
	foldUID map[string]string // lower-case uid → uid, for the case hint
	exact   bool              // memberUid compares case-exactly
	cache   map[string]model.UnmatchedMember
	lookups int
}

func newUnmatchedClassifier(s *session, src *model.Source, m *userMapper) *unmatchedClassifier {
	return &unmatchedClassifier{s: s, src: src, m: m, userF: orAll(src.UserFilter), cache: map[string]model.UnmatchedMember{}}
}

// classify returns the reason for value v of a group (uid: the value came
// from memberUid).
func (c *unmatchedClassifier) classify(ctx context.Context, v string, uid bool) (model.UnmatchedMember, error) {
	key := "d:" + v
	if uid {
		key = "u:" + v
	}
	if um, ok := c.cache[key]; ok {
		return um, nil
	}
	um := model.UnmatchedMember{Value: v}
	var err error
	switch {
	case c.lookups >= maxMemberLookups:
		um.Reason = model.UnmatchedNotChecked
		um.Detail = fmt.Sprintf("member %q matches no user read (not looked up: more than %d unmatched members)", v, maxMemberLookups)
	case uid:
		err = c.uid(ctx, &um)
	default:
		err = c.dn(ctx, &um)
	}
	if err != nil {
		return um, err
	}
	c.cache[key] = um
	return um, nil
}

func (c *unmatchedClassifier) uid(ctx context.Context, um *model.UnmatchedMember) error {
	v := um.Value
	um.Reason = model.UnmatchedUnknownUID
	if c.exact {
		if other, ok := c.foldUID[strings.ToLower(v)]; ok {
			um.Username = other
			um.Detail = fmt.Sprintf("memberUid %q names no user: user %q differs only in case, and memberUid is case-exact in this directory's schema", v, other)
			return nil
		}
	}
	uattr := strings.TrimSpace(c.src.Attributes.Username)
	if uattr == "" || strings.TrimSpace(v) == "" {
		um.Detail = fmt.Sprintf("memberUid %q names no user", v)
		return nil
	}
	c.lookups++
	f := eqFilter(uattr, v)
	found, err := c.search(ctx, c.src.UserBaseDN, ldap.ScopeWholeSubtree, f, um)
	if err != nil {
		return err
	}
	if found && c.exact && um.Username != v && strings.EqualFold(um.Username, v) {
		um.Detail = fmt.Sprintf("memberUid %q names no user: user %q differs only in case, and memberUid is case-exact in this directory's schema", v, um.Username)
		return nil
	}
	if found {
		var tmp model.UnmatchedMember
		in, err := c.search(ctx, um.DN, ldap.ScopeBaseObject, c.userF, &tmp)
		if err != nil {
			return err
		}
		if in {
			// The entry matches the user filter, so it was read: the value
			// differs from its uid in a way the matching rule ignores.
			um.Reason = model.UnmatchedNotUser
			um.Detail = fmt.Sprintf("memberUid %q names %s, which was not read as a user", v, um.DN)
			return nil
		}
		um.Reason = model.UnmatchedOutsideFilter
		um.Detail = fmt.Sprintf("memberUid %q is %s, which does not match the user filter %s", v, um.DN, c.userF)
		return nil
	}
	um.Detail = fmt.Sprintf("memberUid %q names no user under %s", v, c.src.UserBaseDN)
	return nil
}

func (c *unmatchedClassifier) dn(ctx context.Context, um *model.UnmatchedMember) error {
	v := um.Value
	dn := StripUID(v)
	if _, err := ldap.ParseDN(dn); err != nil || strings.TrimSpace(dn) == "" {
		um.Reason = model.UnmatchedUnparseable
		um.Detail = fmt.Sprintf("member value %q is not a DN", v)
		return nil
	}
	c.lookups++
	inBase := underBase(memberKey(v), c.src.UserBaseDN)
	matched, err := c.search(ctx, dn, ldap.ScopeBaseObject, c.userF, um)
	if err != nil {
		return err
	}
	if matched {
		um.Reason = model.UnmatchedOutsideBase
		um.Detail = fmt.Sprintf("member %s is outside the user base %s", dn, c.src.UserBaseDN)
		if inBase { // under the base and matching the filter, yet not read
			um.Reason = model.UnmatchedNotUser
			um.Detail = fmt.Sprintf("member %s matches the user filter but was not read as a user", dn)
		}
		return nil
	}
	exists, err := c.search(ctx, dn, ldap.ScopeBaseObject, "(objectClass=*)", um)
	if err != nil {
		return err
	}
	if exists {
		var g model.UnmatchedMember
		isGroup, err := c.search(ctx, dn, ldap.ScopeBaseObject, orAll(c.src.GroupFilter), &g)
		if err != nil {
			return err
		}
		if isGroup {
			um.Reason = model.UnmatchedNotUser
			um.Detail = fmt.Sprintf("member %s is a group that was not read (outside the group base %s)", dn, orDefault(c.src.GroupBaseDN, c.src.UserBaseDN))
			um.ExternalID, um.Username = "", ""
			return nil
		}
	}
	switch {
	case !exists:
		um.Reason = model.UnmatchedDangling
		um.Detail = fmt.Sprintf("member %s does not exist in the directory (a dangling reference)", dn)
	case !inBase:
		um.Reason = model.UnmatchedOutsideBase
		um.Detail = fmt.Sprintf("member %s is outside the user base %s and does not match the user filter %s", dn, c.src.UserBaseDN, c.userF)
	default:
		um.Reason = model.UnmatchedOutsideFilter
		um.Detail = fmt.Sprintf("member %s does not match the user filter %s", dn, c.userF)
	}
	return nil
}

// search looks for one entry and, when found, fills um's identity from it
// (best effort: an entry without an external id or username still counts).
func (c *unmatchedClassifier) search(ctx context.Context, base string, scope int, filter string, um *model.UnmatchedMember) (bool, error) {
	fp, err := ldap.CompileFilter(filter)
	if err != nil {
		return false, newError(c.src, KindFilter, c.s.url, err, "filter %q does not parse: %v", filter, filterReason(err))
	}
	q := &searchReq{base: base, scope: scope, filter: fp, attrs: c.m.attrs, sizeLimit: 2}
	found := false
	err = c.s.w.search(q, func(e *rawEntry) error {
		if found {
			return nil
		}
		found = true
		var u model.DirUser
		_ = c.m.mapUser(e, &u)
		um.DN, um.ExternalID, um.Username = u.DN, u.ExternalID, u.Username
		return nil
	})
	if err != nil {
		if ldap.IsErrorAnyOf(err, ldap.LDAPResultNoSuchObject, ldap.LDAPResultInvalidDNSyntax, ldap.LDAPResultSizeLimitExceeded) {
			return found, nil
		}
		return false, classify(ctx, c.src, c.s.url, "look up member "+base, err)
	}
	return found, nil
}

// memberUIDCaseExact reads from the directory's schema whether memberUid
// compares case-exactly (nis.schema: caseExactIA5Match) or not. When the
// schema cannot be read it assumes RFC 2307's case-exact rule, except on
// Active Directory, whose string matching ignores case.
func (s *session) memberUIDCaseExact(src *model.Source) bool {
	def := src.Kind != model.SourceActiveDirectory
	any, _ := ldap.CompileFilter("(objectClass=*)")
	var sub string
	if err := s.w.search(&searchReq{base: "", scope: ldap.ScopeBaseObject, filter: any, attrs: []string{"subschemaSubentry"}}, func(e *rawEntry) error {
		sub = e.first("subschemaSubentry")
		return nil
	}); err != nil || sub == "" {
		return def
	}
	eq := ""
	f, _ := ldap.CompileFilter("(objectClass=subschema)")
	err := s.w.search(&searchReq{base: sub, scope: ldap.ScopeBaseObject, filter: f, attrs: []string{"attributeTypes"}}, func(e *rawEntry) error {
		for _, at := range e.attrs {
			if !strings.EqualFold(string(at.name), "attributeTypes") {
				continue
			}
			for _, v := range at.vals {
				if r, ok := equalityOf(string(v), "memberUid"); ok {
					eq = r
				}
			}
		}
		return nil
	})
	if err != nil || eq == "" {
		return def
	}
	return !strings.Contains(strings.ToLower(eq), "caseignore")
}

// equalityOf returns the EQUALITY rule of an attributeTypes description
// when it names attr.
func equalityOf(desc, attr string) (string, bool) {
	f := strings.Fields(strings.NewReplacer("(", " ( ", ")", " ) ").Replace(desc))
	named := false
	for i := 0; i < len(f); i++ {
		if f[i] != "NAME" {
			continue
		}
		for j := i + 1; j < len(f); j++ {
			n := strings.Trim(f[j], "'")
			if f[j] == "(" {
				continue
			}
			if f[j] == ")" || !strings.HasPrefix(f[j], "'") {
				break
			}
			named = named || strings.EqualFold(n, attr)
			if f[i+1] != "(" {
				break
			}
		}
		break
	}
	if !named {
		return "", false
	}
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "EQUALITY" {
			return f[i+1], true
		}
	}
	return "", true
}

// lockPolicies reads pwdLockoutDuration from every password policy the
// disabled expression names (locked(attr, "cn=default,ou=policies,…")).
// A policy that cannot be read fails the read: guessing its duration
// could disable or enable everyone.
func (s *session) lockPolicies(ctx context.Context, src *model.Source, m *userMapper) error {
	if m.disabled == nil {
		return nil
	}
	any, _ := ldap.CompileFilter("(objectClass=*)")
	for _, dn := range m.disabled.Policies() {
		val, found := "", false
		err := s.w.search(&searchReq{base: dn, scope: ldap.ScopeBaseObject, filter: any, attrs: []string{"pwdLockoutDuration"}}, func(e *rawEntry) error {
			found = true
			val = e.first("pwdLockoutDuration")
			return nil
		})
		if err != nil && !ldap.IsErrorAnyOf(err, ldap.LDAPResultNoSuchObject, ldap.LDAPResultInvalidDNSyntax) {
			return classify(ctx, src, s.url, "read password policy "+dn, err)
		}
		secs, perr := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if !found || perr != nil || secs < 0 {
			return newError(src, KindConfig, s.url, nil, "the disabled flag names the password policy %q, which %s", dn, map[bool]string{false: "was not found", true: "has no pwdLockoutDuration this account can read"}[found])
		}
		m.disabled.SetPolicyDuration(dn, time.Duration(secs)*time.Second)
	}
	return nil
}
