package memldap

import (
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/jimlambrt/gldap"
)

func TestFilterEvaluation(t *testing.T) {
	s := &Server{oper: map[string]bool{}}
	e := &entry{dn: "uid=Ann,ou=People,dc=x", ndn: "uid=ann,ou=people,dc=x", attrs: []attr{
		{name: "objectClass", lname: "objectclass", values: []string{"top", "inetOrgPerson"}},
		{name: "uid", lname: "uid", values: []string{"Ann"}},
		{name: "cn", lname: "cn", values: []string{"Ann (R&D) *lead*"}},
		{name: "memberOf", lname: "memberof", values: []string{"cn=Staff,dc=x"}},
		{name: "uidNumber", lname: "uidnumber", values: []string{"1500"}},
	}}
	for _, tc := range []struct {
		filter string
		want   bool
	}{
		{"(uid=ann)", true},
		{"(uid=bob)", false},
		{"(objectClass=*)", true},
		{"(mail=*)", false},
		{"(&(objectClass=inetOrgPerson)(uid=ann))", true},
		{"(&(objectClass=inetOrgPerson)(uid=bob))", false},
		{"(|(uid=bob)(uid=ann))", true},
		{"(!(uid=ann))", false},
		{"(!(uid=bob))", true},
		{"(cn=ann*)", true},
		{"(cn=*lead*)", true},
		{"(cn=*" + ldap.EscapeFilter("(R&D) *") + "*)", true},
		{"(cn=*" + ldap.EscapeFilter("(X)") + "*)", false},
		{"(cn=a*d*d)", false},
		{"(memberOf=CN=staff, DC=x)", true},
		{"(uidNumber>=1000)", true},
		{"(uidNumber<=1000)", false},
	} {
		f, err := ldap.CompileFilter(tc.filter)
		if err != nil {
			t.Fatalf("compile %s: %v", tc.filter, err)
		}
		if got := s.match(f, e); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.filter, got, tc.want)
		}
	}
}

func TestScope(t *testing.T) {
	for _, tc := range []struct {
		dn, base string
		scope    gldap.Scope
		want     bool
	}{
		{"uid=a,ou=p,dc=x", "dc=x", gldap.WholeSubtree, true},
		{"uid=a,ou=p,dc=x", "dc=x", gldap.SingleLevel, false},
		{"ou=p,dc=x", "dc=x", gldap.SingleLevel, true},
		{"dc=x", "dc=x", gldap.BaseObject, true},
		{"uid=a,ou=p,dc=x", "dc=x", gldap.BaseObject, false},
		{"uid=a,ou=p,dc=xy", "dc=y", gldap.WholeSubtree, false},
		{"uid=a\\,b,ou=p,dc=x", "ou=p,dc=x", gldap.SingleLevel, true},
	} {
		if got := inScope(tc.dn, tc.base, tc.scope); got != tc.want {
			t.Errorf("inScope(%s, %s, %d) = %v, want %v", tc.dn, tc.base, tc.scope, got, tc.want)
		}
	}
}
