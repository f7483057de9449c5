package directory_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/directory/adtest"
	"github.com/idsync/idsync/internal/model"
)

// TestMain stops the shared Samba AD (adtest) after the package's tests.
func TestMain(m *testing.M) { os.Exit(adtest.Main(m)) }

// TestADBindNames binds to the real AD with each accepted form of bind
// name and checks that a wrong password still fails as a bind error.
func TestADBindNames(t *testing.T) {
	s := adtest.Start(t)
	c := directory.New(nil)
	for _, name := range []string{adtest.Domain + `\Administrator`, "Administrator@" + adtest.Realm, "CN=Administrator," + adtest.UsersDN} {
		src := s.Source()
		src.BindDN, src.BindPassword = name, adtest.AdminPassword
		if err := directory.ValidateBindName(name); err != nil {
			t.Errorf("%q: refused: %v", name, err)
		}
		r, err := c.Test(ctxT(t), &src)
		if err != nil {
			t.Errorf("bind as %q: %v", name, err)
			continue
		}
		if r.Users != adtest.Users {
			t.Errorf("bind as %q: %d users, want %d", name, r.Users, adtest.Users)
		}
		src.BindPassword = "wrong"
		if _, err := c.Test(ctxT(t), &src); directory.ErrorKind(err) != directory.KindBind {
			t.Errorf("bind as %q with a wrong password: %v, want a bind error", name, err)
		}
	}
}

// adAnswer computes from AD's own answers which users under the user base
// and filter are members of group dn, nested anywhere: the groups AD puts
// in dn's chain (LDAP_MATCHING_RULE_IN_CHAIN on memberOf), their direct
// members from AD's memberOf back links and, with primary groups, the
// users whose primaryGroupID is one of those groups. With exact, the users
// come straight from the in-chain rule on the users (Samba evaluates that
// slowly, about 4 s a group, so only a few groups use it).
type adAnswer struct {
	t     *testing.T
	c     *ldap.Conn
	src   model.Source
	users []*ldap.Entry
}

func (a *adAnswer) search(base, filter string, attrs ...string) []*ldap.Entry {
	a.t.Helper()
	r, err := a.c.SearchWithPaging(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil), 1000)
	if err != nil {
		a.t.Fatalf("search %s: %v", filter, err)
	}
	return r.Entries
}

func (a *adAnswer) members(dn string, exact bool) map[string]bool {
	if a.users == nil {
		a.users = a.search(a.src.UserBaseDN, a.src.UserFilter, "objectGUID", "memberOf", "primaryGroupID")
	}
	chain := map[string]bool{model.NormalizeDN(dn): true}
	tokens := map[string]bool{}
	for _, g := range a.search(adtest.BaseDN, "(&(objectClass=group)(|(distinguishedName="+ldap.EscapeFilter(dn)+")(memberOf:1.2.840.113556.1.4.1941:="+ldap.EscapeFilter(dn)+")))", "primaryGroupToken") {
		chain[model.NormalizeDN(g.DN)] = true
		tokens[g.GetAttributeValue("primaryGroupToken")] = true
	}
	got := map[string]bool{}
	if exact {
		for _, e := range a.search(a.src.UserBaseDN, "(&"+a.src.UserFilter+"(memberOf:1.2.840.113556.1.4.1941:="+ldap.EscapeFilter(dn)+"))", "objectGUID") {
			got[guidString(e.GetRawAttributeValue("objectGUID"))] = true
		}
	}
	for _, u := range a.users {
		in := a.src.PrimaryGroups && tokens[u.GetAttributeValue("primaryGroupID")]
		for _, g := range u.GetAttributeValues("memberOf") {
			in = in || (!exact && chain[model.NormalizeDN(g)])
		}
		if in {
			got[guidString(u.GetRawAttributeValue("objectGUID"))] = true
		}
	}
	return got
}

func guidString(b []byte) string {
	if len(b) != 16 {
		return ""
	}
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6]), binary.LittleEndian.Uint16(b[6:8]), b[8:10], b[10:16])
}

// TestADNestedMatchesInChain reads the test AD and compares, for every
// group under the groups OU, the nested member set with AD's own in-chain
// answer (see adAnswer): nesting through a group outside
// the groups OU, a cycle and a group of 1,600 members included.
func TestADNestedMatchesInChain(t *testing.T) {
	s := adtest.Start(t)
	src := s.Source()
	snap, err := directory.New(nil).Read(ctxT(t), &src)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Users) != adtest.Users {
		t.Fatalf("%d users, want %d", len(snap.Users), adtest.Users)
	}
	ix := model.NewIndex(snap)
	ad := &adAnswer{t: t, c: s.Admin(t), src: src}
	start := time.Now()
	defer func() { t.Logf("compared with AD's answers in %s", time.Since(start)) }()
	groups := 0
	for _, g := range adtest.Groups() {
		if !strings.HasSuffix(g.DN, ","+adtest.GroupsDN) {
			dg := ix.Group(g.DN)
			if dg == nil || !dg.Outside {
				t.Errorf("%s (outside the groups OU, nested): read = %v, want it read and marked outside", g.DN, dg != nil)
			}
			continue
		}
		groups++
		members, ok := ix.Members(g.DN, true)
		if !ok {
			t.Errorf("%s: not in the snapshot", g.DN)
			continue
		}
		exact := g.DN == adtest.ServiceDN || g.DN == adtest.CycleADN
		want := ad.members(g.DN, exact)
		if len(members) != len(want) {
			t.Errorf("%s: %d nested members, AD's in-chain answer %d", g.DN, len(members), len(want))
		}
		for id := range want {
			if _, ok := members[id]; !ok {
				t.Errorf("%s: AD counts %s, the read does not", g.DN, id)
				break
			}
		}
		if dg := ix.Group(g.DN); dg.ID == "" || dg.Outside {
			t.Errorf("%s: stable id %q, outside %v", g.DN, dg.ID, dg.Outside)
		}
	}
	if groups < 90 {
		t.Errorf("compared %d groups", groups)
	}
	// The service group reaches two levels outside the groups OU.
	m, _ := ix.Members(adtest.ServiceDN, true)
	for _, i := range []int{4, 20, 21, 40} {
		found := false
		for id := range m {
			if ix.UserByID[id].DN == adtest.UserN(i).DN {
				found = true
			}
		}
		if !found {
			t.Errorf("service-x lacks user %d", i)
		}
	}
	if m, _ := ix.Members(adtest.PrimaryMapped, true); len(m) != 2+20 {
		t.Errorf("with-primary: %d members, want 22 (2 by member, 20 by primaryGroupID)", len(m))
	}
	// Without primary groups the 20 primary members are not counted.
	src.PrimaryGroups = false
	snap, err = directory.New(nil).Read(ctxT(t), &src)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := model.NewIndex(snap).Members(adtest.PrimaryMapped, true); len(m) != 2 {
		t.Errorf("with-primary without primary groups: %d members, want 2", len(m))
	}
}

// groupsOf returns, for user ext, the DNs (normalized) of the groups under
// the groups OU that hold them nested and directly, per ix.
func groupsOf(ix *model.Index, ext string) (nested, direct []string) {
	for _, g := range adtest.Groups() {
		if !strings.HasSuffix(g.DN, ","+adtest.GroupsDN) {
			continue
		}
		if m, ok := ix.Members(g.DN, true); ok {
			if _, in := m[ext]; in {
				nested = append(nested, model.NormalizeDN(g.DN))
			}
		}
		if m, ok := ix.Members(g.DN, false); ok {
			if _, in := m[ext]; in {
				direct = append(direct, model.NormalizeDN(g.DN))
			}
		}
	}
	return nested, direct
}

// TestADRefreshEqualsFullRead refreshes users one by one (tokenGroups) and
// compares the groups that hold each of them, nested and direct, with the
// full read: nesting outside the groups OU, the cycle, primary groups and
// the big group included.
func TestADRefreshEqualsFullRead(t *testing.T) {
	s := adtest.Start(t)
	src := s.Source()
	c := directory.New(nil)
	full, err := c.Read(ctxT(t), &src)
	if err != nil {
		t.Fatal(err)
	}
	fix := model.NewIndex(full)
	byDN := map[string]string{}
	for _, u := range full.Users {
		byDN[model.NormalizeDN(u.DN)] = u.ExternalID
	}
	users := []int{0, 1, 2, 3, 4, 7, 8, 11, 20, 21, 40, 61, 99, 500, 999}
	for _, i := range users {
		ext := byDN[model.NormalizeDN(adtest.UserN(i).DN)]
		if ext == "" {
			t.Fatalf("user %d not in the full read", i)
		}
		part, err := c.ReadUser(ctxT(t), &src, ext)
		if err != nil {
			t.Fatalf("refresh user %d: %v", i, err)
		}
		if len(part.Users) != 1 || !reflect.DeepEqual(part.Users[0], *fix.UserByID[ext]) {
			t.Errorf("user %d: refresh read %+v, full read %+v", i, part.Users, fix.UserByID[ext])
		}
		wn, wd := groupsOf(fix, ext)
		gn, gd := groupsOf(model.NewIndex(part), ext)
		if strings.Join(gn, ";") != strings.Join(wn, ";") || strings.Join(gd, ";") != strings.Join(wd, ";") {
			t.Errorf("user %d: refresh groups\n nested %v\n direct %v\nfull read\n nested %v\n direct %v", i, gn, gd, wn, wd)
		}
		if len(wn) < 2 {
			t.Errorf("user %d is in %d groups: the test compares too little", i, len(wn))
		}
	}
}
