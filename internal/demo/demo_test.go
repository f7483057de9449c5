package demo_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/demo"
	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/model"
)

func TestDemoReadWithClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := demo.Start(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	src := d.Source()
	if !src.Demo || src.Name == "" || len(src.URLs) != 1 {
		t.Fatalf("Source() = %+v", src)
	}
	c := directory.New(nil)
	snap, err := c.Read(ctx, &src)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if got, want := len(snap.Users), demo.Users; got != want {
		t.Errorf("users = %d, want %d", got, want)
	}
	disabled, noMail := 0, 0
	locs := map[string]bool{}
	for _, u := range snap.Users {
		if u.Disabled {
			disabled++
		}
		if u.Email == "" {
			noMail++
		}
		if len(u.ExternalID) != 36 || u.Username == "" || u.DisplayName == "" {
			t.Fatalf("incomplete user %+v", u)
		}
		for _, k := range []string{model.AttrLocation, model.AttrCorporateUnit, model.AttrCostCenter, model.AttrDepartment, model.AttrTitle} {
			if u.Attributes[k] == "" {
				t.Fatalf("user %s has no %s", u.Username, k)
			}
		}
		locs[u.Attributes[model.AttrLocation]] = true
	}
	if disabled == 0 || disabled > demo.Users/10 {
		t.Errorf("disabled users = %d, want a few", disabled)
	}
	if noMail == 0 {
		t.Error("want some users without mail")
	}
	if len(locs) < 4 {
		t.Errorf("locations = %v, want several", locs)
	}
	ix := model.NewIndex(snap)
	dev, ok := ix.Members("cn=idsync-device-users,"+demo.GroupsDN, true)
	if !ok || len(dev) < 50 {
		t.Errorf("idsync-device-users nested members = %d (ok %v), want many", len(dev), ok)
	}
	if direct, _ := ix.Members("cn=idsync-device-users,"+demo.GroupsDN, false); len(direct) != 0 {
		t.Errorf("idsync-device-users direct users = %d, want 0 (all nested)", len(direct))
	}
	all, _ := ix.Members("cn=all-employees,"+demo.GroupsDN, true)
	if len(all) != demo.Users {
		t.Errorf("all-employees nested = %d, want %d", len(all), demo.Users)
	}
	for id, path := range all {
		if len(path) != 3 {
			t.Fatalf("path of %s = %q, want three levels", id, path)
		}
		break
	}
	alpha, _ := ix.Members("cn=project-alpha,"+demo.GroupsDN, true)
	beta, _ := ix.Members("cn=project-beta,"+demo.GroupsDN, true)
	if len(alpha) == 0 || len(alpha) != len(beta) {
		t.Errorf("cycle: alpha %d, beta %d members; want equal, non-zero", len(alpha), len(beta))
	}
	if g := ix.Group("cn=contractors," + demo.GroupsDN); g == nil || len(g.Unresolved) != 1 {
		t.Errorf("contractors group = %+v, want one unresolved member", g)
	}

	t.Run("deterministic", func(t *testing.T) {
		d2, err := demo.Start(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer d2.Close()
		src2 := d2.Source()
		snap2, err := c.Read(ctx, &src2)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(snap.Users, snap2.Users, func(a, b model.DirUser) bool {
			return a.ExternalID == b.ExternalID && a.Username == b.Username && a.Attributes[model.AttrLocation] == b.Attributes[model.AttrLocation]
		}) {
			t.Error("two starts generated different users")
		}
	})

	t.Run("read user and test", func(t *testing.T) {
		id := snap.Users[17].ExternalID
		one, err := c.ReadUser(ctx, &src, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(one.Users) != 1 || one.Users[0].ExternalID != id || len(one.Groups) == 0 {
			t.Errorf("ReadUser = %+v", one)
		}
		res, err := c.Test(ctx, &src)
		if err != nil || res.Users != demo.Users || res.Groups != len(snap.Groups) {
			t.Errorf("Test = %+v, %v; want %d users, %d groups", res, err, demo.Users, len(snap.Groups))
		}
		refs, err := c.SearchGroups(ctx, &src, "idsync", 10)
		if err != nil || len(refs) != 3 {
			t.Errorf("SearchGroups(idsync) = %+v, %v; want 3 groups", refs, err)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		bad := d.Source()
		bad.BindPassword = "nope"
		if _, err := c.Read(ctx, &bad); directory.ErrorKind(err) != directory.KindBind {
			t.Errorf("Read with a wrong password = %v, want a bind error", err)
		}
	})

	t.Run("stops with ctx", func(t *testing.T) {
		cctx, ccancel := context.WithCancel(ctx)
		d3, err := demo.Start(cctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		src3 := d3.Source()
		ccancel()
		time.Sleep(100 * time.Millisecond)
		if _, err := c.Test(ctx, &src3); err == nil {
			t.Error("demo still answers after its context ended")
		}
	})
}
