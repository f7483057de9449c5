package directory_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/directory/memldap"
	"github.com/idsync/idsync/internal/model"
)

// A member value that is not a DN (gldap stores anything; a real slapd
// refuses it at load) is unmatched with the reason "unparseable".
func TestUnparseableMember(t *testing.T) {
	es := []memldap.Entry{
		{DN: "dc=x", Attrs: map[string][]string{"objectClass": {"domain"}}},
		{DN: "uid=ann,dc=x", Attrs: map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {"ann"}, "entryUUID": {"id-ann"}}},
		{DN: "cn=g,dc=x", Attrs: map[string][]string{"objectClass": {"groupOfNames"}, "cn": {"g"}, "member": {"uid=ann,dc=x", "not a DN at all", "uid=ann,dc=x#'01'B"}}},
	}
	srv := startMem(t, es, memldap.Options{BindDN: "cn=r,dc=x", Password: "p"})
	src := model.DefaultSource(model.SourceOpenLDAP)
	src.Name, src.URLs, src.BindDN, src.BindPassword = "mem", []string{srv.URL()}, "cn=r,dc=x", "p"
	src.UserBaseDN, src.GroupBaseDN = "dc=x", "dc=x"
	snap, err := directory.New(nil).Read(ctxT(t), &src)
	if err != nil {
		t.Fatal(err)
	}
	g := model.NewIndex(snap).Group("cn=g,dc=x")
	if len(g.Users) != 1 || len(g.Unmatched) != 1 || g.Unmatched[0].Reason != model.UnmatchedUnparseable || g.Unmatched[0].Value != "not a DN at all" {
		t.Fatalf("group = %+v", g)
	}
}

// Disabled-flag expressions on gldap, AD style: bit 2, accountExpires in
// the past (FILETIME; 0 and the maximum mean never), lockoutTime as an
// option; clearing them enables the account again.
func TestADDisabledState(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	ft := func(t time.Time) string { return strconv.FormatInt((t.Unix()+11644473600)*1e7, 10) }
	user := func(name, uac, expires, lockout string) memldap.Entry {
		a := map[string][]string{"objectClass": {"user"}, "objectCategory": {"person"}, "sAMAccountName": {name}, "objectGUID": {strings.Repeat(name[:1], 8) + strings.Repeat(name[len(name)-1:], 8)}, "userAccountControl": {uac}, "accountExpires": {expires}}
		if lockout != "" {
			a["lockoutTime"] = []string{lockout}
		}
		return memldap.Entry{DN: "CN=" + name + "," + adBase, Attrs: a}
	}
	entries := func(expired string) []memldap.Entry {
		return []memldap.Entry{
			{DN: adBase, Attrs: map[string][]string{"objectClass": {"domain"}}},
			user("active", "512", "0", ""),
			user("never", "512", "9223372036854775807", ""),
			user("off", "514", "0", ""),
			user("expired", "512", expired, ""),
			user("future", "512", ft(now.Add(24*time.Hour)), ""),
			user("locked", "512", "0", ft(now.Add(-time.Minute))),
			user("unlocked", "512", "0", "0"),
		}
	}
	c := directory.New(nil)
	c.SetClock(func() time.Time { return now })
	read := func(es []memldap.Entry, disabled string) map[string]bool {
		srv := startMem(t, es, memldap.Options{Operational: []string{"objectGUID"}})
		src := adSource(srv.URL())
		if disabled != "-" {
			src.Attributes.Disabled = disabled
		}
		snap, err := c.Read(ctxT(t), &src)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, u := range snap.Users {
			out[u.Username] = u.Disabled
		}
		return out
	}
	got := read(entries(ft(now.Add(-time.Hour))), "-") // the default: bit 2 || past(accountExpires)
	want := map[string]bool{"active": false, "never": false, "off": true, "expired": true, "future": false, "locked": false, "unlocked": false}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("default flag: %s disabled = %v, want %v", k, got[k], v)
		}
	}
	got = read(entries(ft(now.Add(-time.Hour))), model.DefaultADDisabled+" || locked(lockoutTime)")
	if !got["locked"] || got["unlocked"] || got["active"] {
		t.Errorf("with lockoutTime: %v", got)
	}
	// The expiry cleared (set to never): enabled again.
	if got := read(entries("0"), "-"); got["expired"] {
		t.Error("an account whose accountExpires was cleared is still disabled")
	}
}

// Test connection warns about a group class without its membership
// attribute (mixed directories).
func TestMembershipWarnings(t *testing.T) {
	src := model.DefaultSource(model.SourceOpenLDAP)
	src.MemberAttr = "member"
	w := directory.MembershipWarnings(&src)
	if len(w) != 1 || !strings.Contains(w[0], "groupOfUniqueNames") || !strings.Contains(w[0], "uniqueMember") {
		t.Errorf("warnings = %q, want one about groupOfUniqueNames", w)
	}
	src.MemberAttr = "member, uniqueMember"
	if w := directory.MembershipWarnings(&src); len(w) != 0 {
		t.Errorf("warnings = %q, want none", w)
	}
	src.GroupFilter = "(&(objectClass=posixGroup)(!(objectClass=groupOfNames)))"
	src.MemberAttr = "uniqueMember"
	if w := directory.MembershipWarnings(&src); len(w) != 1 || !strings.Contains(w[0], "posixGroup") {
		t.Errorf("warnings = %q, want one about posixGroup", w)
	}
	src.MemberAttr = "member" // RFC 2307bis posixGroup
	if w := directory.MembershipWarnings(&src); len(w) != 0 {
		t.Errorf("warnings = %q, want none", w)
	}
}
