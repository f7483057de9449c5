package directory_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/directory/slapdtest"
	"github.com/idsync/idsync/internal/model"
)

// layout is one OpenLDAP layout of the matrix: how groups are written and
// how an admin of such a directory configures the source.
type layout struct {
	name       string
	opts       slapdtest.Options
	classes    []string // group classes, one per group in turn
	uidValues  bool     // uniqueMember values carry an optional UID
	ous        []string // user OUs below ou=people ("" = ou=people itself)
	outside    bool     // some members live in ou=external (outside the user base)
	dangling   bool     // some members do not exist
	badCase    bool     // some memberUid values differ in case from the uid
	filter     string
	memberAttr string
}

var layouts = []layout{
	{name: "groupOfNames with memberOf", classes: []string{"groupOfNames"}, filter: "(objectClass=groupOfNames)", memberAttr: "member"},
	{name: "groupOfNames without memberOf", opts: slapdtest.Options{NoMemberOf: true}, classes: []string{"groupOfNames"}, filter: "(objectClass=groupOfNames)", memberAttr: "member"},
	{name: "groupOfUniqueNames with UIDs", classes: []string{"groupOfUniqueNames"}, uidValues: true, filter: "(objectClass=groupOfUniqueNames)", memberAttr: "uniqueMember"},
	{name: "posixGroup memberUid", classes: []string{"posixGroup"}, badCase: true, filter: "(objectClass=posixGroup)", memberAttr: "memberUid"},
	{name: "RFC 2307bis", opts: slapdtest.Options{RFC2307bis: true}, classes: []string{"groupOfNames+posixGroup"}, filter: "(objectClass=posixGroup)", memberAttr: "member"},
	{name: "mixed classes", classes: []string{"groupOfNames", "groupOfUniqueNames", "posixGroup"}, uidValues: true, badCase: true,
		filter: "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))", memberAttr: "member, uniqueMember, memberUid"},
	{name: "several OUs", classes: []string{"groupOfNames"}, ous: []string{"ou=sales", "ou=it,ou=hq", ""}, outside: true, filter: "(objectClass=groupOfNames)", memberAttr: "member"},
	{name: "dangling members", classes: []string{"groupOfNames", "groupOfUniqueNames"}, dangling: true, outside: true,
		filter: "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))", memberAttr: "member, uniqueMember"},
}

// generate writes the layout's people and groups as LDIF: users spread
// over the OUs, groups of random members, some nested in others.
func (l layout) generate(users, groups int) string {
	rnd := rand.New(rand.NewPCG(uint64(len(l.name)), 42))
	var b strings.Builder
	ous := l.ous
	if len(ous) == 0 {
		ous = []string{""}
	}
	ouDN := func(ou string) string {
		if ou == "" {
			return slapdtest.PeopleDN
		}
		return ou + "," + slapdtest.PeopleDN
	}
	made := map[string]bool{}
	for _, ou := range ous {
		parts := strings.Split(ou, ",")
		for i := len(parts) - 1; i >= 0 && ou != ""; i-- {
			dn := strings.Join(parts[i:], ",") + "," + slapdtest.PeopleDN
			if !made[dn] {
				made[dn] = true
				fmt.Fprintf(&b, "dn: %s\nobjectClass: organizationalUnit\nou: %s\n\n", dn, strings.TrimPrefix(parts[i], "ou="))
			}
		}
	}
	if l.outside {
		fmt.Fprintf(&b, "dn: ou=external,%s\nobjectClass: organizationalUnit\nou: external\n\n", slapdtest.BaseDN)
	}
	type person struct{ dn, uid string }
	var people, external []person
	for i := 0; i < users; i++ {
		uid := fmt.Sprintf("u%05d", i)
		p := person{fmt.Sprintf("uid=%s,%s", uid, ouDN(ous[i%len(ous)])), uid}
		people = append(people, p)
		fmt.Fprintf(&b, "dn: %s\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nuid: %s\ncn: User %d\nsn: %d\nuidNumber: %d\ngidNumber: 100\nhomeDirectory: /home/%s\n\n", p.dn, uid, i, i, 1000+i, uid)
	}
	if l.outside {
		for i := 0; i < 5; i++ {
			uid := fmt.Sprintf("x%03d", i)
			p := person{fmt.Sprintf("uid=%s,ou=external,%s", uid, slapdtest.BaseDN), uid}
			external = append(external, p)
			fmt.Fprintf(&b, "dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: External %d\nsn: %d\n\n", p.dn, uid, i, i)
		}
	}
	groupDN := func(j int) string { return fmt.Sprintf("cn=g%03d,%s", j, slapdtest.GroupsDN) }
	for j := 0; j < groups; j++ {
		class := l.classes[j%len(l.classes)]
		fmt.Fprintf(&b, "dn: %s\n", groupDN(j))
		for _, c := range strings.Split(class, "+") {
			fmt.Fprintf(&b, "objectClass: %s\n", c)
		}
		fmt.Fprintf(&b, "cn: g%03d\n", j)
		if strings.Contains(class, "posixGroup") {
			fmt.Fprintf(&b, "gidNumber: %d\n", 5000+j)
		}
		n := 1 + rnd.IntN(users/2)
		picked := rnd.Perm(users)[:n]
		slices.Sort(picked)
		for k, i := range picked {
			p := people[i]
			switch {
			case class == "posixGroup":
				uid := p.uid
				if l.badCase && k%17 == 3 {
					uid = strings.ToUpper(uid)
				}
				fmt.Fprintf(&b, "memberUid: %s\n", uid)
			case class == "groupOfUniqueNames":
				v := p.dn
				if l.uidValues && k%3 == 1 {
					v += fmt.Sprintf("#'%b'B", 1+k%13)
				}
				fmt.Fprintf(&b, "uniqueMember: %s\n", v)
			default:
				fmt.Fprintf(&b, "member: %s\n", p.dn)
			}
		}
		attr := map[string]string{"posixGroup": "memberUid", "groupOfUniqueNames": "uniqueMember"}[class]
		if attr == "" {
			attr = "member"
		}
		if attr != "memberUid" {
			if j > 0 && j%4 == 0 { // nest an earlier group
				fmt.Fprintf(&b, "%s: %s\n", attr, groupDN(rnd.IntN(j)))
			}
			if l.outside && j%3 == 0 {
				fmt.Fprintf(&b, "%s: %s\n", attr, external[j%len(external)].dn)
			}
			if l.dangling && j%2 == 0 {
				fmt.Fprintf(&b, "%s: uid=gone%03d,%s\n", attr, j, slapdtest.PeopleDN)
			}
		} else if j%5 == 0 {
			fmt.Fprintf(&b, "memberUid: nosuch%03d\n", j)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// ldifEntry is one parsed entry: lower-case attribute name → values.
type ldifEntry struct {
	dn    string
	attrs map[string][]string
}

func parseLDIF(t *testing.T, s string) []ldifEntry {
	t.Helper()
	var out []ldifEntry
	var cur *ldifEntry
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			cur = nil
			continue
		}
		name, val, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("LDIF line %q", line)
		}
		if name == "dn" {
			out = append(out, ldifEntry{dn: val, attrs: map[string][]string{}})
			cur = &out[len(out)-1]
			continue
		}
		cur.attrs[strings.ToLower(name)] = append(cur.attrs[strings.ToLower(name)], val)
	}
	return out
}

// expectation is what a read of the layout must give, computed from the
// LDIF: per group DN, the users, nested groups and unmatched values.
type expectation struct {
	users  map[string]string // normalized DN → uid
	groups map[string][3]int // normalized group DN → users, nested, unmatched
	dangle int               // unmatched values naming no entry
}

func expect(t *testing.T, ldif string, l layout) expectation {
	entries := parseLDIF(t, ldif)
	norm := func(dn string) string { return strings.ToLower(strings.ReplaceAll(dn, " ", "")) }
	under := func(dn, base string) bool { return strings.HasSuffix(norm(dn), ","+norm(base)) }
	hasClass := func(e ldifEntry, c string) bool {
		return slices.ContainsFunc(e.attrs["objectclass"], func(v string) bool { return strings.EqualFold(v, c) })
	}
	ex := expectation{users: map[string]string{}, groups: map[string][3]int{}}
	exists := map[string]bool{}
	byUID := map[string]bool{}
	for _, e := range entries {
		exists[norm(e.dn)] = true
		if hasClass(e, "inetOrgPerson") && under(e.dn, slapdtest.PeopleDN) {
			ex.users[norm(e.dn)] = e.attrs["uid"][0]
			byUID[e.attrs["uid"][0]] = true
		}
	}
	attrs := map[string]bool{}
	for _, a := range strings.Split(l.memberAttr, ",") {
		attrs[strings.ToLower(strings.TrimSpace(a))] = true
	}
	isGroup := map[string]bool{}
	for _, e := range entries {
		for _, c := range l.classes {
			if hasClass(e, strings.Split(c, "+")[len(strings.Split(c, "+"))-1]) && under(e.dn, slapdtest.GroupsDN) {
				if l.filter == "(objectClass=posixGroup)" && !hasClass(e, "posixGroup") {
					continue
				}
				isGroup[norm(e.dn)] = true
			}
		}
	}
	for _, e := range entries {
		if !isGroup[norm(e.dn)] {
			continue
		}
		var c [3]int
		for a, vals := range e.attrs {
			if !attrs[a] {
				continue
			}
			for _, v := range vals {
				switch {
				case a == "memberuid" && byUID[v]: // case-exact, as nis.schema says
					c[0]++
				case a == "memberuid":
					c[2]++
				default:
					if i := strings.Index(v, "#'"); i > 0 {
						v = v[:i]
					}
					switch {
					case ex.users[norm(v)] != "":
						c[0]++
					case isGroup[norm(v)]:
						c[1]++
					default:
						c[2]++
						if !exists[norm(v)] {
							ex.dangle++
						}
					}
				}
			}
		}
		ex.groups[norm(e.dn)] = c
	}
	return ex
}

// TestSlapdLayoutMatrix reads every layout from a real slapd and compares
// users, groups and each group's users, nested groups and unmatched
// values with what the generated LDIF says; and refresh of a sample of
// users agrees with the full read.
func TestSlapdLayoutMatrix(t *testing.T) {
	const users, groups = 150, 16
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			ldif := l.generate(users, groups)
			o := l.opts
			o.LDIF = ldif
			srv := slapdtest.Start(t, o)
			src := srv.Source()
			src.GroupFilter, src.MemberAttr = l.filter, l.memberAttr
			c := directory.New(nil)
			snap, err := c.Read(ctxT(t), &src)
			if err != nil {
				t.Fatal(err)
			}
			ex := expect(t, ldif, l)
			if len(snap.Users) != len(ex.users) || len(snap.Users) != users {
				t.Errorf("users = %d, LDIF says %d", len(snap.Users), len(ex.users))
			}
			if len(snap.Groups) != len(ex.groups) || len(snap.Groups) != groups {
				t.Errorf("groups = %d, LDIF says %d", len(snap.Groups), len(ex.groups))
			}
			dangling, unmatched := 0, 0
			for _, g := range snap.Groups {
				want, ok := ex.groups[model.NormalizeDN(g.DN)]
				got := [3]int{len(g.Users), len(g.Groups), len(g.Unresolved)}
				if !ok || got != want {
					t.Errorf("%s: users/nested/unmatched = %v, LDIF says %v", g.DN, got, want)
				}
				if len(g.Unmatched) != len(g.Unresolved) {
					t.Errorf("%s: %d reasons for %d unmatched", g.DN, len(g.Unmatched), len(g.Unresolved))
				}
				for _, um := range g.Unmatched {
					unmatched++
					if um.Reason == model.UnmatchedDangling {
						dangling++
					}
				}
			}
			t.Logf("%d users, %d groups, %d unmatched members (%d dangling)", len(snap.Users), len(snap.Groups), unmatched, dangling)
			if dangling != ex.dangle {
				t.Errorf("dangling members = %d, LDIF says %d", dangling, ex.dangle)
			}
			if (l.dangling || l.outside || l.badCase) != (unmatched > 0) {
				t.Errorf("unmatched members = %d; the layout has some: %v", unmatched, l.dangling || l.outside || l.badCase)
			}
			for i := 0; i < len(snap.Users); i += 37 {
				u := snap.Users[i]
				one, err := c.ReadUser(ctxT(t), &src, u.ExternalID)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := directGroups(one, u.ExternalID), directGroups(snap, u.ExternalID); !slices.Equal(got, want) {
					t.Errorf("ReadUser(%s) groups = %v, full read %v", u.Username, got, want)
				}
			}
		})
	}
}
