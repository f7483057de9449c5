package adtest

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// FixtureVersion keys the cached provisioned directory: bump it whenever
// the generated directory or the provisioning changes.
const FixtureVersion = 3

// Fixed names of the test domain.
const (
	Realm    = "EXAMPLE.TEST"
	DNSName  = "example.test"
	Domain   = "EXAMPLE"
	BaseDN   = "DC=example,DC=test"
	PeopleDN = "OU=People," + BaseDN
	ExtraDN  = "OU=Extra," + BaseDN // users outside the user base
	GroupsDN = "OU=Groups," + BaseDN
	OtherDN  = "OU=Other," + BaseDN // groups outside the groups OU
	UsersDN  = "CN=Users," + BaseDN // AD's built-in container
	// AdminPassword is the Administrator's password; ReaderPassword the
	// password of the least-privileged reader account svc-idsync.
	AdminPassword  = "Adm1n-Pass!x7"
	ReaderPassword = "Re4der-Pass!y8"
	ReaderSAM      = "svc-idsync"
)

// Sizes of the generated directory.
const (
	Users      = 1000 // in OU=People
	ExtraUsers = 600  // in OU=Extra (only in big-list)
	Teams      = 80   // team-00 … team-79, user i in team i%Teams
	Depts      = 8    // dept-0 … dept-7, team j in dept j/10
)

// User is one generated user.
type User struct {
	I        int
	CN       string
	DN       string
	SAM      string
	Given    string
	Surname  string
	Disabled bool // userAccountControl bit 2
	Expired  bool // accountExpires in the past
	Extra    bool // in OU=Extra, outside the user base
}

var (
	givenNames = []string{"Anna", "Jörg", "Zoë", "Łukasz", "François", "Ingrid", "Mei", "Ødegaard", "Sören", "José", "Ana", "Lars"}
	surnames   = []string{"Müller", "Smith", "Čapek", "Nakamura", "Øster", "García", "Olsen", "Weiß", "Dubois", "Kowalski", "Lee"}
)

// UserN returns generated user i: 0 … Users-1 in OU=People, Users …
// Users+ExtraUsers-1 in OU=Extra. Every 10th from 3 has a "Last, First"
// common name; given and surnames include non-ASCII letters. Every 10th
// from 5 is disabled, every 25th from 7 expired.
func UserN(i int) User {
	u := User{I: i, SAM: fmt.Sprintf("u%04d", i), Given: givenNames[i%len(givenNames)], Surname: surnames[i%len(surnames)]}
	if i%10 == 3 {
		u.CN = fmt.Sprintf("%s, %s %04d", u.Surname, u.Given, i)
	} else {
		u.CN = fmt.Sprintf("%s %s %04d", u.Given, u.Surname, i)
	}
	ou := PeopleDN
	if i >= Users {
		ou, u.Extra = ExtraDN, true
	}
	u.DN = "CN=" + escapeRDN(u.CN) + "," + ou
	u.Disabled = i%10 == 5
	u.Expired = i%25 == 7
	return u
}

// Group is one generated group with its direct members.
type Group struct {
	CN     string
	DN     string
	Users  []int    // generated user numbers
	Groups []string // DNs of nested groups
}

// TeamDN names the generated team group j.
func TeamDN(j int) string { return fmt.Sprintf("CN=team-%02d,%s", j, GroupsDN) }

// DeptDN names the generated department group d.
func DeptDN(d int) string { return fmt.Sprintf("CN=dept-%d,%s", d, GroupsDN) }

// Named groups of the fixture.
var (
	AllStaffDN    = "CN=all-staff," + GroupsDN
	CycleADN      = "CN=cycle-a," + GroupsDN
	CycleBDN      = "CN=cycle-b," + GroupsDN
	ServiceDN     = "CN=service-x," + GroupsDN   // contains outside-team
	OutsideDN     = "CN=outside-team," + UsersDN // outside OU=Groups
	OutsideSubDN  = "CN=outside-sub," + OtherDN  // nested in outside-team
	BigDN         = "CN=big-list," + GroupsDN    // > 1,500 members
	SpecialDN     = "CN=Sales (EMEA) *star*," + GroupsDN
	PrimaryDN     = "CN=contractors," + GroupsDN // primary group of some users
	PrimaryMapped = "CN=with-primary," + GroupsDN
)

// PrimaryUser reports whether user i has contractors as primary group
// (primaryGroupID; every 50th from 11). AD lists such a user in no member
// attribute of contractors.
func PrimaryUser(i int) bool { return i < Users && i%50 == 11 }

// Groups returns every generated group (not AD's built-in ones).
func Groups() []Group {
	var gs []Group
	for j := 0; j < Teams; j++ {
		g := Group{CN: fmt.Sprintf("team-%02d", j), DN: TeamDN(j)}
		for i := j; i < Users; i += Teams {
			g.Users = append(g.Users, i)
		}
		gs = append(gs, g)
	}
	for d := 0; d < Depts; d++ {
		g := Group{CN: fmt.Sprintf("dept-%d", d), DN: DeptDN(d)}
		for j := d * 10; j < (d+1)*10 && j < Teams; j++ {
			g.Groups = append(g.Groups, TeamDN(j))
		}
		gs = append(gs, g)
	}
	all := Group{CN: "all-staff", DN: AllStaffDN}
	for d := 0; d < Depts; d++ {
		all.Groups = append(all.Groups, DeptDN(d))
	}
	gs = append(gs, all,
		Group{CN: "cycle-a", DN: CycleADN, Users: []int{1, 2}, Groups: []string{CycleBDN}},
		Group{CN: "cycle-b", DN: CycleBDN, Users: []int{3}, Groups: []string{CycleADN}},
		Group{CN: "outside-sub", DN: OutsideSubDN, Users: []int{40}},
		Group{CN: "outside-team", DN: OutsideDN, Users: []int{20, 21}, Groups: []string{OutsideSubDN}},
		Group{CN: "service-x", DN: ServiceDN, Users: []int{4}, Groups: []string{OutsideDN}},
		Group{CN: "Sales (EMEA) *star*", DN: SpecialDN, Users: []int{5, 6, Users + 1}},
		Group{CN: "contractors", DN: PrimaryDN, Users: []int{7}},
		Group{CN: "with-primary", DN: PrimaryMapped, Users: []int{8}, Groups: []string{PrimaryDN}},
	)
	big := Group{CN: "big-list", DN: BigDN}
	for i := 0; i < Users+ExtraUsers; i++ {
		big.Users = append(big.Users, i)
	}
	gs = append(gs, big)
	return gs
}

// writeLDIF writes the entries to add (users, groups without group
// members) and the modifications that nest groups and set primary groups.
func writeLDIF(add, mod io.Writer) error {
	w := bufio.NewWriter(add)
	entry := func(dn string, attrs ...string) {
		line(w, "dn", dn)
		for k := 0; k+1 < len(attrs); k += 2 {
			line(w, attrs[k], attrs[k+1])
		}
		w.WriteString("\n")
	}
	for _, ou := range []string{"People", "Extra", "Groups", "Other"} {
		entry("OU="+ou+","+BaseDN, "objectClass", "organizationalUnit", "ou", ou)
	}
	for i := 0; i < Users+ExtraUsers; i++ {
		u := UserN(i)
		uac := "544" // normal account, password not required
		if u.Disabled {
			uac = "546"
		}
		attrs := []string{"objectClass", "user", "sAMAccountName", u.SAM, "userPrincipalName", u.SAM + "@" + DNSName,
			"givenName", u.Given, "sn", u.Surname, "displayName", u.Given + " " + u.Surname,
			"mail", u.SAM + "@" + DNSName, "userAccountControl", uac,
			"l", []string{"Berlin", "Zürich", "Paris", "London"}[i%4], "title", []string{"Engineer", "Manager", "Analyst"}[i%3],
			"department", []string{"R&D", "Support", "Sales"}[i%3], "company", []string{"Sales", "Engineering"}[i%2]}
		if u.Expired {
			attrs = append(attrs, "accountExpires", "130000000000000000") // 2012-12-15
		} else if i%25 == 8 {
			attrs = append(attrs, "accountExpires", "9000000000000000000") // far future
		}
		entry(u.DN, attrs...)
	}
	gs := Groups()
	for _, g := range gs {
		sam := strings.Map(func(r rune) rune {
			if strings.ContainsRune("\"/\\[]:;|=,+*?<>() ", r) {
				return '-'
			}
			return r
		}, g.CN)
		attrs := []string{"objectClass", "group", "sAMAccountName", sam}
		for _, i := range g.Users {
			attrs = append(attrs, "member", UserN(i).DN)
		}
		entry(g.DN, attrs...)
	}
	entry("CN="+ReaderSAM+","+UsersDN, "objectClass", "user", "sAMAccountName", ReaderSAM, "userPrincipalName", ReaderSAM+"@"+DNSName, "userAccountControl", "544")
	if err := w.Flush(); err != nil {
		return err
	}
	m := bufio.NewWriter(mod)
	for _, g := range gs {
		if len(g.Groups) == 0 {
			continue
		}
		line(m, "dn", g.DN)
		m.WriteString("changetype: modify\nadd: member\n")
		for _, sub := range g.Groups {
			line(m, "member", sub)
		}
		m.WriteString("-\n\n")
	}
	return m.Flush()
}

// line writes one LDIF line, base64 when the value is not a safe string.
func line(w *bufio.Writer, attr, v string) {
	safe := utf8.ValidString(v) && v != "" && v[0] != ' ' && v[0] != ':' && v[0] != '<' && !strings.HasSuffix(v, " ")
	for _, r := range v {
		if r >= 0x80 || r == '\n' || r == '\r' || r == 0 {
			safe = false
			break
		}
	}
	if safe {
		fmt.Fprintf(w, "%s: %s\n", attr, v)
		return
	}
	fmt.Fprintf(w, "%s:: %s\n", attr, base64.StdEncoding.EncodeToString([]byte(v)))
}

// escapeRDN escapes an attribute value for a DN (RFC 4514).
func escapeRDN(v string) string {
	var b strings.Builder
	for i, r := range v {
		switch {
		case strings.ContainsRune(",+\"\\<>;=", r):
			b.WriteByte('\\')
			b.WriteRune(r)
		case i == 0 && (r == ' ' || r == '#'):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
