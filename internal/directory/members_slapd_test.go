package directory_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/directory/slapdtest"
	"github.com/idsync/idsync/internal/model"
)

const (
	pDN = slapdtest.PeopleDN
	gDN = slapdtest.GroupsDN
	bDN = slapdtest.BaseDN
)

func membersSource(srv *slapdtest.Server) model.Source {
	src := srv.Source()
	src.MemberAttr = "member, uniqueMember, memberUid"
	src.GroupFilter = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))"
	return src
}

func TestSlapdUnmatchedMembers(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{LDIF: slapdtest.UnmatchedLDIF})
	c := directory.New(nil)
	src := membersSource(srv)
	snap, err := c.Read(ctxT(t), &src)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, u := range snap.Users {
		names[u.ExternalID] = u.Username
	}
	if len(snap.Users) != 4 {
		t.Fatalf("users = %d, want 4 (ann, bob, carl, dave)", len(snap.Users))
	}
	ix := model.NewIndex(snap)
	members := func(dn string) string {
		g := ix.Group(dn)
		if g == nil {
			t.Fatalf("group %s not read", dn)
		}
		var l []string
		for _, id := range g.Users {
			l = append(l, names[id])
		}
		slices.Sort(l)
		return strings.Join(l, ",")
	}
	reasons := func(dn string) map[string]model.UnmatchedMember {
		g := ix.Group(dn)
		out := map[string]model.UnmatchedMember{}
		if len(g.Unmatched) != len(g.Unresolved) {
			t.Fatalf("%s: %d reasons for %d unresolved values", dn, len(g.Unmatched), len(g.Unresolved))
		}
		for i, um := range g.Unmatched {
			if um.Value != g.Unresolved[i] || um.Detail == "" {
				t.Errorf("%s: reason %d = %+v for value %q", dn, i, um, g.Unresolved[i])
			}
			out[um.Value] = um
		}
		return out
	}

	// uniqueMember with and without the optional UID.
	if got := members("cn=uniq," + gDN); got != "ann,bob" {
		t.Errorf("uniq members = %s, want ann,bob", got)
	}
	if r := reasons("cn=uniq," + gDN); r["uid=ghost,"+pDN+"#'1'B"].Reason != model.UnmatchedDangling || len(r) != 1 {
		t.Errorf("uniq unmatched = %+v", r)
	}
	// memberUid is case-exact in nis.schema: DAVE is not dave.
	if got := members("cn=posix," + gDN); got != "ann" {
		t.Errorf("posix members = %s, want ann", got)
	}
	r := reasons("cn=posix," + gDN)
	if um := r["DAVE"]; um.Reason != model.UnmatchedUnknownUID || !strings.Contains(um.Detail, "case") || um.Username != "dave" {
		t.Errorf("DAVE: %+v", um)
	}
	if um := r["nobody"]; um.Reason != model.UnmatchedUnknownUID {
		t.Errorf("nobody: %+v", um)
	}
	if um := r["frank"]; um.Reason != model.UnmatchedOutsideFilter || um.DN != "uid=frank,"+pDN {
		t.Errorf("frank (memberUid): %+v", um)
	}
	// groupOfNames: outside the filter, dangling (outside the base: staff); a
	// nested group is no unmatched value.
	if got := members("cn=names," + gDN); got != "carl" {
		t.Errorf("names members = %s, want carl", got)
	}
	if g := ix.Group("cn=names," + gDN); len(g.Groups) != 1 {
		t.Errorf("names nested groups = %v", g.Groups)
	}
	if um := reasons("cn=staff," + gDN)["uid=erin,ou=contractors,"+bDN]; um.Reason != model.UnmatchedOutsideBase || um.ExternalID == "" || um.Username != "erin" {
		t.Errorf("erin: %+v", um)
	}
	r = reasons("cn=names," + gDN)
	if um := r["uid=frank,"+pDN]; um.Reason != model.UnmatchedOutsideFilter {
		t.Errorf("frank (member): %+v", um)
	}
	if um := r["uid=ghost2,"+pDN]; um.Reason != model.UnmatchedDangling {
		t.Errorf("ghost2: %+v", um)
	}
	if len(r) != 2 {
		t.Errorf("names unmatched = %+v", r)
	}

	// The single-user read finds the same direct groups for every user as
	// the full read: uniqueMember with UID, memberUid case rule.
	for _, u := range snap.Users {
		want := directGroups(snap, u.ExternalID)
		one, err := c.ReadUser(ctxT(t), &src, u.ExternalID)
		if err != nil {
			t.Fatalf("ReadUser(%s): %v", u.Username, err)
		}
		if got := directGroups(one, u.ExternalID); !slices.Equal(got, want) {
			t.Errorf("ReadUser(%s) groups = %v, full read %v", u.Username, got, want)
		}
	}

	// The mapping preview's read agrees too.
	for _, dn := range []string{"cn=uniq," + gDN, "cn=posix," + gDN, "cn=names," + gDN} {
		one, err := c.ReadGroup(ctxT(t), &src, dn, false)
		if err != nil {
			t.Fatal(err)
		}
		full := ix.Group(dn)
		g := one.Groups[0]
		if !slices.Equal(g.Users, full.Users) || !slices.Equal(g.Unresolved, full.Unresolved) {
			t.Errorf("ReadGroup(%s) = users %v unresolved %v; full read %v %v", dn, g.Users, g.Unresolved, full.Users, full.Unresolved)
		}
		for i := range g.Unmatched {
			if g.Unmatched[i].Reason != full.Unmatched[i].Reason {
				t.Errorf("ReadGroup(%s) %q: reason %s, full read %s", dn, g.Unmatched[i].Value, g.Unmatched[i].Reason, full.Unmatched[i].Reason)
			}
		}
	}
}

// directGroups lists the DNs of the groups of snap that hold user ext directly.
func directGroups(snap *model.Snapshot, ext string) []string {
	var out []string
	for _, g := range snap.Groups {
		if slices.Contains(g.Users, ext) {
			out = append(out, model.NormalizeDN(g.DN))
		}
	}
	slices.Sort(out)
	return out
}

// Disabled-flag expressions on a real slapd: ppolicy locks (permanent,
// timed within and after pwdLockoutDuration), shadowExpire, employeeType.
func TestSlapdDisabledExpressions(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	day := now.Unix() / 86400
	person := func(uid, extra string) string {
		return "dn: uid=" + uid + "," + pDN + "\nobjectClass: inetOrgPerson\nobjectClass: shadowAccount\nuid: " + uid + "\ncn: " + uid + "\nsn: " + uid + "\n" + extra + "\n"
	}
	ldif := person("perm", "pwdAccountLockedTime: "+directory.PermanentLock+"\n") +
		person("recent", "pwdAccountLockedTime: "+now.Add(-5*time.Minute).Format("20060102150405Z")+"\n") +
		person("old", "pwdAccountLockedTime: "+now.Add(-time.Hour).Format("20060102150405Z")+"\n") +
		person("expired", "shadowExpire: "+strconv.FormatInt(day-1, 10)+"\n") +
		person("later", "shadowExpire: "+strconv.FormatInt(day+30, 10)+"\nemployeeType: Inactive\n") +
		person("plain", "") +
		"dn: ou=policies," + bDN + "\nobjectClass: organizationalUnit\nou: policies\n\n" +
		"dn: cn=default,ou=policies," + bDN + "\nobjectClass: device\nobjectClass: pwdPolicy\ncn: default\npwdAttribute: userPassword\npwdLockout: TRUE\npwdLockoutDuration: 900\n\n"
	srv := slapdtest.Start(t, slapdtest.Options{LDIF: ldif})
	c := directory.New(nil)
	c.SetClock(func() time.Time { return now })
	for _, tc := range []struct {
		expr     string
		disabled string // users disabled, sorted
	}{
		{"locked(pwdAccountLockedTime)", "perm"},
		{"locked(pwdAccountLockedTime, 900)", "perm,recent"},
		{"locked(pwdAccountLockedTime, 0)", "old,perm,recent"},
		{`locked(pwdAccountLockedTime, "cn=default,ou=policies,` + bDN + `")`, "perm,recent"},
		{"present(pwdAccountLockedTime)", "old,perm,recent"},
		{"past(shadowExpire)", "expired"},
		{"employeeType=inactive", "later"},
		{"past(shadowExpire) || employeeType=inactive || locked(pwdAccountLockedTime)", "expired,later,perm"},
		{"", ""},
	} {
		src := srv.Source()
		src.Attributes.Disabled = tc.expr
		snap, err := c.Read(ctxT(t), &src)
		if err != nil {
			t.Fatalf("%q: %v", tc.expr, err)
		}
		var got []string
		for _, u := range snap.Users {
			if u.Disabled {
				got = append(got, u.Username)
			}
		}
		slices.Sort(got)
		if strings.Join(got, ",") != tc.disabled {
			t.Errorf("%q disables %v, want %s", tc.expr, got, tc.disabled)
		}
		if _, err := c.Test(ctxT(t), &src); err != nil {
			t.Errorf("%q: Test: %v", tc.expr, err)
		}
		// A single-user read agrees.
		for _, u := range snap.Users {
			one, err := c.ReadUser(ctxT(t), &src, u.ExternalID)
			if err != nil || one.Users[0].Disabled != u.Disabled {
				t.Errorf("%q: ReadUser(%s) = %v, %v; full read %v", tc.expr, u.Username, one, err, u.Disabled)
			}
		}
	}
}

// A disabled flag naming a password policy that does not exist fails the
// read (and Test connection) with a message naming it; nothing is guessed.
func TestSlapdMissingLockPolicy(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{Users: 3, Teams: 1})
	src := srv.Source()
	src.Attributes.Disabled = `locked(pwdAccountLockedTime, "cn=nope,` + bDN + `")`
	c := directory.New(nil)
	if _, err := c.Read(ctxT(t), &src); directory.ErrorKind(err) != directory.KindConfig || !strings.Contains(model.ErrorMessage(err), "cn=nope") {
		t.Errorf("Read: %v", err)
	}
	if _, err := c.Test(ctxT(t), &src); directory.ErrorKind(err) != directory.KindConfig {
		t.Errorf("Test: %v", err)
	}
}
