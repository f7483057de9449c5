package directory

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/model"
)

// Console sign-in with the directory: the account's entry is found with
// the source's user filter and username attribute (the typed name escaped
// into the filter), its disabled flag evaluated, its membership of the
// configured groups checked with the service account, and — for a sign-in —
// its password checked by binding as the entry's DN.

// ErrBadCredentials is returned by Authenticate for an unknown user or a
// wrong password (the caller cannot tell which, on purpose).
var ErrBadCredentials = errors.New("directory: wrong username or password")

// Account is what the directory says of one console account.
type Account struct {
	DN       string
	Username string
	Disabled bool
	// Member reports, for each group DN asked about, whether the account
	// is a direct member (by DN in a membership attribute, by its username
	// in memberUid, or by memberOf on the entry).
	Member map[string]bool
}

// Authenticate checks username's password against src and returns the
// account with its membership of groups. An unknown user or a wrong
// password is ErrBadCredentials; a directory that cannot be reached is a
// classified *Error (the caller refuses the sign-in and may let local
// accounts in).
func (c *Client) Authenticate(ctx context.Context, src *model.Source, username, password string, groups []string) (*Account, error) {
	if password == "" {
		// An empty password would be an unauthenticated bind, which
		// servers accept: never send one.
		return nil, ErrBadCredentials
	}
	return c.lookupAccount(ctx, src, username, password, groups)
}

// LookupAccount finds username in src without a password (the periodic
// re-check of a signed-in account). A user that is gone is
// ErrBadCredentials.
func (c *Client) LookupAccount(ctx context.Context, src *model.Source, username string, groups []string) (*Account, error) {
	return c.lookupAccount(ctx, src, username, "", groups)
}

func (c *Client) lookupAccount(ctx context.Context, src *model.Source, username, password string, groups []string) (*Account, error) {
	username = strings.TrimSpace(username)
	if username == "" {
		return nil, ErrBadCredentials
	}
	m, err := newUserMapper(src)
	if err != nil {
		return nil, err
	}
	m.now = c.now()
	s, err := c.connect(ctx, src)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	uattr := src.Attributes.Username
	if uattr == "" {
		uattr = "uid"
	}
	filter := fmt.Sprintf("(&%s(%s=%s))", orAll(src.UserFilter), uattr, ldap.EscapeFilter(username))
	fp, err := ldap.CompileFilter(filter)
	if err != nil {
		return nil, newError(src, KindFilter, s.url, err, "sign-in: filter %q does not parse: %v", filter, filterReason(err))
	}
	attrs := append(append([]string(nil), m.attrs...), "memberOf")
	var found []model.DirUser
	var memberOf []string
	err = s.w.search(&searchReq{base: src.UserBaseDN, scope: ldap.ScopeWholeSubtree, filter: fp, attrs: attrs, sizeLimit: 2}, func(e *rawEntry) error {
		var u model.DirUser
		if err := m.mapUser(e, &u); err != nil {
			return newError(src, KindProtocol, s.url, nil, "user %v", err)
		}
		found = append(found, u)
		for _, a := range e.attrs {
			if strings.EqualFold(string(a.name), "memberOf") {
				for _, v := range a.vals {
					memberOf = append(memberOf, string(v))
				}
			}
		}
		return nil
	})
	if err != nil {
		var le *ldap.Error
		if errors.As(err, &le) && le.ResultCode == ldap.LDAPResultNoSuchObject {
			return nil, ErrBadCredentials
		}
		return nil, classify(ctx, src, s.url, "sign-in: find the user", err)
	}
	if len(found) != 1 || !strings.EqualFold(found[0].Username, username) {
		// Zero entries, or two that match one name: sign nobody in.
		return nil, ErrBadCredentials
	}
	acc := &Account{DN: found[0].DN, Username: found[0].Username, Disabled: found[0].Disabled, Member: map[string]bool{}}
	for _, g := range groups {
		if g == "" {
			continue
		}
		ok, err := s.isMember(ctx, src, g, acc, memberOf)
		if err != nil {
			return nil, err
		}
		acc.Member[g] = ok
	}
	if password != "" {
		// Last, after the service account's searches: the connection is
		// the user's from here on.
		if err := s.w.bind(acc.DN, password); err != nil {
			var le *ldap.Error
			if errors.As(err, &le) && le.ResultCode == ldap.LDAPResultInvalidCredentials {
				return nil, ErrBadCredentials
			}
			return nil, classify(ctx, src, s.url, "sign-in: bind as the user", err)
		}
	}
	return acc, nil
}

// isMember reports whether acc is a direct member of the group groupDN,
// reading the group entry with the source's membership attributes.
func (s *session) isMember(ctx context.Context, src *model.Source, groupDN string, acc *Account, memberOf []string) (bool, error) {
	for _, g := range memberOf {
		if sameDN(g, groupDN) {
			return true, nil
		}
	}
	var parts []string
	for _, a := range src.MemberAttrs() {
		v := acc.DN
		if strings.EqualFold(a, "memberUid") {
			v = acc.Username
		}
		parts = append(parts, fmt.Sprintf("(%s=%s)", a, ldap.EscapeFilter(v)))
	}
	fp, err := ldap.CompileFilter("(|" + strings.Join(parts, "") + ")")
	if err != nil {
		return false, newError(src, KindFilter, s.url, err, "sign-in: membership filter does not parse: %v", filterReason(err))
	}
	n := 0
	err = s.w.search(&searchReq{base: groupDN, scope: ldap.ScopeBaseObject, filter: fp, attrs: []string{"1.1"}}, func(*rawEntry) error {
		n++
		return nil
	})
	if err != nil {
		var le *ldap.Error
		if errors.As(err, &le) && le.ResultCode == ldap.LDAPResultNoSuchObject {
			return false, nil
		}
		return false, classify(ctx, src, s.url, "sign-in: read group "+groupDN, err)
	}
	return n > 0, nil
}

func sameDN(a, b string) bool {
	pa, err1 := ldap.ParseDN(a)
	pb, err2 := ldap.ParseDN(b)
	if err1 != nil || err2 != nil {
		return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
	}
	return pa.EqualFold(pb)
}
