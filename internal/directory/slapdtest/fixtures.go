package slapdtest

import "fmt"

// UnmatchedLDIF (for Options.LDIF) holds member values of every kind that
// matches no user next to ones that do: uniqueMember with and without UID
// (cn=uniq), memberUid differing in case, unknown and outside the filter
// (cn=posix), members outside the user base (ou=contractors), outside the
// filter (an account entry) and dangling (cn=names, which nests cn=uniq).
// cn=staff holds every person, erin (outside ou=people) included.
var UnmatchedLDIF = fmt.Sprintf(`
dn: uid=ann,%[1]s
objectClass: inetOrgPerson
uid: ann
cn: Ann
sn: A

dn: uid=bob,%[1]s
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: B

dn: uid=carl,%[1]s
objectClass: inetOrgPerson
uid: carl
cn: Carl
sn: C

dn: uid=dave,%[1]s
objectClass: inetOrgPerson
uid: dave
cn: Dave
sn: D

dn: uid=frank,%[1]s
objectClass: account
uid: frank

dn: ou=contractors,%[3]s
objectClass: organizationalUnit
ou: contractors

dn: uid=erin,ou=contractors,%[3]s
objectClass: inetOrgPerson
uid: erin
cn: Erin
sn: E

dn: cn=staff,%[2]s
objectClass: groupOfNames
cn: staff
member: uid=ann,%[1]s
member: uid=bob,%[1]s
member: uid=carl,%[1]s
member: uid=dave,%[1]s
member: uid=erin,ou=contractors,%[3]s

dn: cn=uniq,%[2]s
objectClass: groupOfUniqueNames
cn: uniq
uniqueMember: uid=ann,%[1]s#'0101'B
uniqueMember: uid=bob,%[1]s
uniqueMember: uid=ghost,%[1]s#'1'B

dn: cn=posix,%[2]s
objectClass: posixGroup
cn: posix
gidNumber: 100
memberUid: ann
memberUid: DAVE
memberUid: nobody
memberUid: frank

dn: cn=names,%[2]s
objectClass: groupOfNames
cn: names
member: uid=carl,%[1]s
member: uid=frank,%[1]s
member: uid=ghost2,%[1]s
member: cn=uniq,%[2]s
`, PeopleDN, GroupsDN, BaseDN)
