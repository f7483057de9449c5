package model

import (
	"errors"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// ValidateBindName checks a bind name for what it is: a DN
// (cn=reader,dc=example,dc=org), an Active Directory user principal name
// (reader@example.com) or a down-level logon name (EXAMPLE\reader). ""
// (anonymous) is valid. The error says what is wrong with the form used.
func ValidateBindName(name string) error {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return nil
	case strings.Contains(name, "="):
		if _, err := ldap.ParseDN(name); err != nil {
			return errors.New("is not a valid DN (for example cn=reader,dc=example,dc=org)")
		}
		return nil
	case strings.Contains(name, `\`):
		domain, user, _ := strings.Cut(name, `\`)
		switch {
		case domain == "":
			return errors.New(`names no domain before the backslash (DOMAIN\user)`)
		case user == "":
			return errors.New(`names no user after the backslash (DOMAIN\user)`)
		case strings.ContainsAny(user, `\/[]:;|=,+*?<>"@`) || strings.ContainsAny(domain, `/[]:;|=,+*?<>"@ `):
			return errors.New(`is not a valid DOMAIN\user name: a character is not allowed in it`)
		case len(domain) > 15:
			return errors.New(`is not a valid DOMAIN\user name: the domain (NetBIOS name) has more than 15 characters`)
		}
		return nil
	case strings.Contains(name, "@"):
		i := strings.LastIndex(name, "@")
		user, realm := name[:i], name[i+1:]
		switch {
		case user == "":
			return errors.New("names no user before the @ (user@realm)")
		case realm == "":
			return errors.New("names no realm after the @ (user@realm, for example reader@example.com)")
		case strings.ContainsAny(realm, ` \/@,;:=`) || strings.HasPrefix(realm, ".") || strings.HasSuffix(realm, ".") || strings.Contains(realm, ".."):
			return errors.New("is not a valid user principal name: the realm must be a DNS name (user@example.com)")
		case strings.ContainsAny(user, ` \/[]:;|=,+*?<>"`):
			return errors.New("is not a valid user principal name: a character is not allowed before the @")
		}
		return nil
	}
	return errors.New(`must be a DN (cn=reader,dc=example,dc=org), a user principal name (reader@example.com) or DOMAIN\user`)
}
