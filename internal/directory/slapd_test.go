package directory_test

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/directory/slapdtest"
	"github.com/idsync/idsync/internal/model"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestSlapdRead(t *testing.T) {
	const users, teams = 25, 4
	srv := slapdtest.Start(t, slapdtest.Options{Users: users, Teams: teams})
	c := directory.New(nil)
	ctx := ctxT(t)

	t.Run("full read", func(t *testing.T) {
		src := srv.Source()
		snap, err := c.Read(ctx, &src)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if got, want := len(snap.Users), users; got != want {
			t.Fatalf("users = %d, want %d", got, want)
		}
		if !snap.Complete || snap.SourceID != src.ID {
			t.Errorf("Complete=%v SourceID=%d, want true, %d", snap.Complete, snap.SourceID, src.ID)
		}
		if !slices.IsSortedFunc(snap.Users, func(a, b model.DirUser) int { return cmp(a.ExternalID, b.ExternalID) }) {
			t.Error("users not sorted by external id")
		}
		if !slices.IsSortedFunc(snap.Groups, func(a, b model.DirGroup) int { return cmp(a.DN, b.DN) }) {
			t.Error("groups not sorted by DN")
		}
		// teams + 1 dept + all-staff + cycle-a + cycle-b + Sales
		if got, want := len(snap.Groups), teams+1+1+2+1; got != want {
			t.Errorf("groups = %d, want %d", got, want)
		}
	})

	t.Run("attribute mapping", func(t *testing.T) {
		src := srv.Source()
		snap, err := c.Read(ctx, &src)
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]model.DirUser{}
		for _, u := range snap.Users {
			byName[u.Username] = u
		}
		for i := 0; i < users; i++ {
			u, ok := byName[slapdtest.Username(i)]
			if !ok {
				t.Fatalf("user %s missing", slapdtest.Username(i))
			}
			if len(u.ExternalID) != 36 {
				t.Errorf("%s: external id %q is not an entryUUID", u.Username, u.ExternalID)
			}
			if u.DN != slapdtest.UserDN(i) {
				t.Errorf("%s: DN = %q, want %q", u.Username, u.DN, slapdtest.UserDN(i))
			}
			wantMail := ""
			if slapdtest.HasMail(i) {
				wantMail = slapdtest.Username(i) + "@example.org"
			}
			if u.Email != wantMail {
				t.Errorf("%s: email = %q, want %q", u.Username, u.Email, wantMail)
			}
			if got, want := u.Disabled, slapdtest.Disabled(i); got != want {
				t.Errorf("%s: disabled = %v, want %v", u.Username, got, want)
			}
			a := slapdtest.Attrs(i)
			want := model.Attributes{model.AttrLocation: a["l"], model.AttrCorporateUnit: a["ou"], model.AttrCostCenter: a["departmentNumber"],
				model.AttrDepartment: a["businessCategory"], model.AttrTitle: a["title"]}
			for k, v := range want {
				if u.Attributes[k] != v {
					t.Errorf("%s: %s = %q, want %q", u.Username, k, u.Attributes[k], v)
				}
			}
		}
	})

	t.Run("nested with cycle", func(t *testing.T) {
		src := srv.Source()
		snap, err := c.Read(ctx, &src)
		if err != nil {
			t.Fatal(err)
		}
		ix := model.NewIndex(snap)
		all, ok := ix.Members("cn=all-staff,"+slapdtest.GroupsDN, true)
		if !ok {
			t.Fatal("all-staff missing")
		}
		if got, want := len(all), users; got != want {
			t.Errorf("all-staff nested members = %d, want %d", got, want)
		}
		id := idOf(t, snap, slapdtest.Username(3))
		if got, want := all[id], []string{"cn=all-staff," + slapdtest.GroupsDN, slapdtest.DeptDN(0), slapdtest.TeamDN(slapdtest.Team(3, teams))}; !slices.Equal(got, want) {
			t.Errorf("path of user 3 = %q, want %q", got, want)
		}
		direct, _ := ix.Members("cn=all-staff,"+slapdtest.GroupsDN, false)
		if len(direct) != 0 {
			t.Errorf("all-staff direct members = %d, want 0", len(direct))
		}
		cyc, ok := ix.Members("cn=cycle-a,"+slapdtest.GroupsDN, true)
		if !ok || len(cyc) != 2 {
			t.Errorf("cycle-a nested members = %v, want users 0 and 1", cyc)
		}
		sales := ix.Group("cn=Sales (EMEA) *star*," + slapdtest.GroupsDN)
		if sales == nil {
			t.Fatal("Sales group missing")
		}
		if got, want := sales.Unresolved, []string{"uid=ghost," + slapdtest.PeopleDN}; !slices.Equal(got, want) {
			t.Errorf("unresolved = %q, want %q", got, want)
		}
	})

	t.Run("paging with a small page size", func(t *testing.T) {
		src := srv.Source()
		src.PageSize = 3
		snap, err := c.Read(ctx, &src)
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Users) != users {
			t.Errorf("users = %d, want %d", len(snap.Users), users)
		}
	})

	t.Run("test connection", func(t *testing.T) {
		src := srv.Source()
		res, err := c.Test(ctx, &src)
		if err != nil {
			t.Fatal(err)
		}
		if res.Users != users || res.Groups != teams+5 {
			t.Errorf("Test = %+v, want %d users, %d groups", res, users, teams+5)
		}
	})

	t.Run("failover", func(t *testing.T) {
		src := srv.Source()
		src.URLs = []string{"ldap://" + closedAddr(t), srv.URL}
		snap, err := c.Read(ctx, &src)
		if err != nil {
			t.Fatalf("Read with first URL dead: %v", err)
		}
		if len(snap.Users) != users {
			t.Errorf("users = %d", len(snap.Users))
		}
	})

	errCases := []struct {
		name   string
		mutate func(*model.Source)
		kind   directory.Kind
		code   string
	}{
		{"wrong password", func(s *model.Source) { s.BindPassword = "wrong" }, directory.KindBind, model.EINVALID},
		{"bad base DN", func(s *model.Source) { s.UserBaseDN = "ou=nowhere," + slapdtest.BaseDN }, directory.KindBaseDN, model.EINVALID},
		{"bad filter", func(s *model.Source) { s.UserFilter = "(objectClass=inetOrgPerson" }, directory.KindFilter, model.EINVALID},
		{"unreachable", func(s *model.Source) { s.URLs = []string{"ldap://" + closedAddr(t)} }, directory.KindUnreachable, model.EUNAVAILABLE},
		{"zero users", func(s *model.Source) { s.UserFilter = "(uid=nobody-at-all)" }, directory.KindEmpty, model.EINVALID},
		{"dns", func(s *model.Source) { s.URLs = []string{"ldap://no-such-host.invalid:389"} }, directory.KindDNS, model.EUNAVAILABLE},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			src := srv.Source()
			tc.mutate(&src)
			snap, err := c.Read(ctx, &src)
			if err == nil {
				t.Fatalf("Read succeeded with %d users, want an error", len(snap.Users))
			}
			if snap != nil {
				t.Error("a snapshot came back with the error")
			}
			if got := directory.ErrorKind(err); got != tc.kind {
				t.Errorf("kind = %q, want %q (%v)", got, tc.kind, err)
			}
			if got := model.ErrorCode(err); got != tc.code {
				t.Errorf("code = %q, want %q", got, tc.code)
			}
			if msg := model.ErrorMessage(err); !contains(msg, "slapdtest") {
				t.Errorf("message %q does not name the source", msg)
			}
			if msg := model.ErrorMessage(err); contains(msg, "wrong") || contains(msg, slapdtest.Password) {
				t.Errorf("message %q leaks the password", msg)
			}
		})
	}

	t.Run("cancelled context", func(t *testing.T) {
		src := srv.Source()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := c.Read(cctx, &src); err == nil {
			t.Fatal("Read with a cancelled context succeeded")
		}
	})

	t.Run("read user", func(t *testing.T) {
		src := srv.Source()
		full, err := c.Read(ctx, &src)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{0, 3} {
			id := idOf(t, full, slapdtest.Username(i))
			snap, err := c.ReadUser(ctx, &src, id)
			if err != nil {
				t.Fatalf("ReadUser: %v", err)
			}
			if snap.Complete || len(snap.Users) != 1 || snap.Users[0].ExternalID != id {
				t.Fatalf("ReadUser snapshot = complete %v, users %+v", snap.Complete, snap.Users)
			}
			// Every group that transitively contains the user in the full
			// read must be in the partial one, with the same nested path.
			fix, pix := model.NewIndex(full), model.NewIndex(snap)
			for _, g := range full.Groups {
				fm, _ := fix.Members(g.DN, true)
				want, in := fm[id]
				pm, ok := pix.Members(g.DN, true)
				if in != ok {
					t.Errorf("user %d, group %s: in full read %v, in ReadUser %v", i, g.DN, in, ok)
					continue
				}
				if in && !slices.Equal(pm[id], want) {
					t.Errorf("user %d, group %s: path %q, want %q", i, g.DN, pm[id], want)
				}
			}
		}
		_, err = c.ReadUser(ctx, &src, "00000000-0000-0000-0000-000000000000")
		if got := directory.ErrorKind(err); got != directory.KindNotFound || model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("ReadUser(unknown) kind = %q code %q (%v), want not_found", got, model.ErrorCode(err), err)
		}
		_, err = c.ReadUser(ctx, &src, "*)(uid=*")
		if directory.ErrorKind(err) != directory.KindNotFound {
			t.Errorf("ReadUser(injection) = %v, want not found", err)
		}
	})

	t.Run("read group", func(t *testing.T) {
		src := srv.Source()
		full, err := c.Read(ctx, &src)
		if err != nil {
			t.Fatal(err)
		}
		fix := model.NewIndex(full)
		for _, dn := range []string{"cn=all-staff," + slapdtest.GroupsDN, "cn=cycle-a," + slapdtest.GroupsDN, slapdtest.TeamDN(1)} {
			for _, nested := range []bool{false, true} {
				snap, err := c.ReadGroup(ctx, &src, dn, nested)
				if err != nil {
					t.Fatalf("ReadGroup(%s): %v", dn, err)
				}
				if snap.Complete {
					t.Error("ReadGroup snapshot marked complete")
				}
				want, _ := fix.Members(dn, nested)
				got, ok := model.NewIndex(snap).Members(dn, nested)
				if !ok || len(got) != len(want) {
					t.Errorf("ReadGroup(%s, nested=%v): %d members, want %d", dn, nested, len(got), len(want))
					continue
				}
				for id, path := range want {
					if !slices.Equal(got[id], path) {
						t.Errorf("ReadGroup(%s): path of %s = %q, want %q", dn, id, got[id], path)
					}
				}
			}
		}
		sales, err := c.ReadGroup(ctx, &src, "cn=Sales (EMEA) *star*,"+slapdtest.GroupsDN, false)
		if err != nil || len(sales.Groups) != 1 || len(sales.Groups[0].Unresolved) != 1 || len(sales.Users) != 1 {
			t.Errorf("ReadGroup(Sales) = %+v, %v", sales, err)
		}
		_, err = c.ReadGroup(ctx, &src, "cn=nope,"+slapdtest.GroupsDN, true)
		if directory.ErrorKind(err) != directory.KindNotFound {
			t.Errorf("ReadGroup(missing) = %v, want not found", err)
		}
	})

	t.Run("search groups escapes", func(t *testing.T) {
		src := srv.Source()
		got, err := c.SearchGroups(ctx, &src, "(EMEA) *", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Name != "Sales (EMEA) *star*" {
			t.Errorf("SearchGroups = %+v, want the Sales group only", got)
		}
		got, err = c.SearchGroups(ctx, &src, "*", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Errorf("SearchGroups(\"*\") = %+v: the star must match literally", got)
		}
		got, err = c.SearchGroups(ctx, &src, "team-", 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Errorf("SearchGroups limit 2 = %d results", len(got))
		}
	})
}

func TestSlapdZeroUsersTest(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{NoPeople: true})
	src := srv.Source()
	res, err := directory.New(nil).Test(ctxT(t), &src)
	if directory.ErrorKind(err) != directory.KindEmpty {
		t.Fatalf("Test on an empty directory = %+v, %v; want an empty error", res, err)
	}
	if res.Groups == 0 {
		t.Errorf("groups = 0, want the counted groups")
	}
}

func idOf(t *testing.T, s *model.Snapshot, username string) string {
	t.Helper()
	for _, u := range s.Users {
		if u.Username == username {
			return u.ExternalID
		}
	}
	t.Fatalf("user %s not in snapshot", username)
	return ""
}

func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func cmp(a, b string) int { return strings.Compare(a, b) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
