package products_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/products"
	"github.com/idsync/idsync/internal/products/elimitytest"
	"github.com/idsync/idsync/internal/products/scimmytest"
	"github.com/idsync/idsync/internal/products/scimtest"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

// remoteUser is a provider's user, read the same way from every provider.
type remoteUser struct {
	ID, UserName, ExternalID, DisplayName string
	Given, Family, Formatted, Email       string
	Active                                bool
	Enterprise                            map[string]string
	Title                                 string
}

type remoteGroup struct {
	DisplayName string
	Members     []string // provider user ids, sorted
}

// provider is one SCIM server under test.
type provider struct {
	name   string
	url    string
	token  string
	users  func(t *testing.T) map[string]remoteUser // by lower(userName)
	groups func(t *testing.T) map[string]remoteGroup
	// fault injects 500 / 503 answers into a share of writes (nil: the
	// provider cannot inject faults).
	fault func(f func(w http.ResponseWriter, r *http.Request) bool)
	// lose makes the provider apply a write but answer 500 when f says so
	// (nil: not supported).
	lose func(f func(r *http.Request) bool)
}

func fromAttrs(id, extID string, a map[string]any) remoteUser {
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	u := remoteUser{ID: id, ExternalID: extID, UserName: str(a, "userName"), DisplayName: str(a, "displayName"),
		Title: str(a, "title"), Active: true, Enterprise: map[string]string{}}
	if u.ExternalID == "" {
		u.ExternalID = str(a, "externalId")
	}
	if act, ok := a["active"].(bool); ok {
		u.Active = act
	}
	if n, ok := a["name"].(map[string]any); ok {
		u.Given, u.Family, u.Formatted = str(n, "givenName"), str(n, "familyName"), str(n, "formatted")
	}
	if list, ok := a["emails"].([]any); ok {
		for _, e := range list {
			if m, ok := e.(map[string]any); ok && (m["primary"] == true || u.Email == "") {
				u.Email = str(m, "value")
			}
		}
	}
	if ent, ok := a[products.SchemaEnterprise].(map[string]any); ok {
		for k, v := range ent {
			if s, ok := v.(string); ok {
				u.Enterprise[k] = s
			}
		}
	}
	return u
}

func ownProvider(t *testing.T) provider {
	srv := scimtest.New(t, "own-token")
	return provider{name: "scimtest", url: srv.URL, token: "own-token",
		users: func(t *testing.T) map[string]remoteUser {
			out := map[string]remoteUser{}
			for _, u := range srv.All() {
				out[strings.ToLower(u.UserName)] = fromAttrs(u.ID, "", u.Raw)
			}
			return out
		},
		fault: srv.SetFault}
}

func elimityProvider(t *testing.T) provider {
	srv := elimitytest.New(t, "elimity-token")
	t.Cleanup(func() {
		if v := srv.Violations(); len(v) > 0 {
			t.Errorf("elimity refused %d requests, first: %s", len(v), v[0])
		}
	})
	return provider{name: "elimity", url: srv.URL, token: "elimity-token",
		users: func(t *testing.T) map[string]remoteUser {
			out := map[string]remoteUser{}
			for k, u := range srv.Users() {
				out[k] = fromAttrs(u.ID, u.ExternalID, u.Attrs)
			}
			return out
		},
		groups: func(t *testing.T) map[string]remoteGroup {
			out := map[string]remoteGroup{}
			for k, g := range srv.Groups() {
				out[k] = remoteGroup{DisplayName: k, Members: g.Members()}
			}
			return out
		},
		fault: srv.SetFault, lose: srv.SetLoseAnswer}
}

func scimmyProvider(t *testing.T) provider {
	srv := scimmytest.Start(t, "scimmy-token")
	return provider{name: "scimmy", url: srv.URL, token: "scimmy-token",
		users: func(t *testing.T) map[string]remoteUser {
			users, _ := srv.State(t)
			out := map[string]remoteUser{}
			for _, u := range users {
				out[strings.ToLower(u.Str("userName"))] = fromAttrs(u.Str("id"), u.Str("externalId"), u)
			}
			return out
		},
		groups: func(t *testing.T) map[string]remoteGroup {
			_, groups := srv.State(t)
			out := map[string]remoteGroup{}
			for _, g := range groups {
				rg := remoteGroup{DisplayName: g.Str("displayName")}
				list, _ := g["members"].([]any)
				for _, m := range list {
					if mm, ok := m.(map[string]any); ok {
						if v, ok := mm["value"].(string); ok {
							rg.Members = append(rg.Members, v)
						}
					}
				}
				slices.Sort(rg.Members)
				out[rg.DisplayName] = rg
			}
			return out
		}}
}

// eachProvider runs fn against the project's own provider, the elimity
// one and (where node is installed) the scimmy one.
func eachProvider(t *testing.T, fn func(t *testing.T, p provider)) {
	for _, pv := range []struct {
		name string
		mk   func(*testing.T) provider
	}{{"scimtest", ownProvider}, {"elimity", elimityProvider}, {"scimmy", scimmyProvider}} {
		t.Run(pv.name, func(t *testing.T) { fn(t, pv.mk(t)) })
	}
}

// compareUsers checks that the provider holds exactly idsync's users of
// the product, each in its latest state; assigned tells who is in the
// product's assignment (the others must be deactivated).
func compareUsers(t *testing.T, s *store.Store, p provider, productID int64, attrMap map[string]string, assigned func(userID int64) bool) {
	t.Helper()
	remote := p.users(t)
	users, _, err := s.ListUsers(ctx(), model.UserFilter{ListQuery: model.ListQuery{PerPage: 500}})
	if err != nil {
		t.Fatal(err)
	}
	states := map[int64]model.DeliveryState{}
	for _, u := range users {
		st, err := s.DeliveryStates(ctx(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range st {
			if d.ProductID == productID {
				states[u.ID] = d
			}
		}
	}
	seen := map[string]bool{}
	for _, lu := range users {
		full, err := s.GetUser(ctx(), lu.ID)
		if err != nil {
			t.Fatal(err)
		}
		key := strings.ToLower(full.Username)
		r, ok := remote[key]
		st, known := states[full.ID]
		if !known {
			if ok {
				t.Errorf("%s: %s holds %s, which is not assigned to the product", p.name, key, key)
			}
			continue
		}
		seen[key] = true
		wantActive := full.Status == model.StatusActive && assigned(full.ID)
		if !ok {
			if wantActive || st.RemoteID != "" {
				t.Errorf("%s: user %s missing", p.name, key)
			}
			continue // inactive and never delivered: nothing to hold
		}
		if r.ID != st.RemoteID {
			t.Errorf("%s: %s id %q, idsync keeps %q", p.name, key, r.ID, st.RemoteID)
		}
		if r.ExternalID != strconv.FormatInt(full.ID, 10) {
			t.Errorf("%s: %s externalId %q, want %d", p.name, key, r.ExternalID, full.ID)
		}
		if r.DisplayName != full.DisplayName || r.Email != full.Email {
			t.Errorf("%s: %s has %q <%s>, idsync %q <%s>", p.name, key, r.DisplayName, r.Email, full.DisplayName, full.Email)
		}
		if r.Active != wantActive {
			t.Errorf("%s: %s active %v, want %v", p.name, key, r.Active, wantActive)
		}
		for attr, field := range attrMap {
			got := r.Enterprise[field]
			if field == "title" {
				got = r.Title
			}
			if got != full.Attributes[attr] {
				t.Errorf("%s: %s %s = %q, want %q", p.name, key, field, got, full.Attributes[attr])
			}
		}
	}
	for key := range remote {
		if !seen[key] {
			t.Errorf("%s: holds %s, which idsync does not have (deleted?)", p.name, key)
		}
	}
}

// TestThirdPartyProviders runs one life of a product against each
// provider: creates, renames, attribute changes, disables, deletes, scope
// changes, with 20 % injected 500 / 503 answers (some after the provider
// applied the write) where the provider allows it, and compares the
// provider's final users with idsync's.
func TestThirdPartyProviders(t *testing.T) {
	eachProvider(t, func(t *testing.T, pv provider) {
		s := storetest.Open(t, store.DialectPostgres)
		g := &model.ServiceGroup{Name: "Staff"}
		if err := s.CreateServiceGroup(ctx(), g); err != nil {
			t.Fatal(err)
		}
		attrMap := map[string]string{model.AttrCostCenter: "costCenter", model.AttrDepartment: "department", model.AttrTitle: "title"}
		p := &model.Product{Name: pv.name, Kind: model.ProductSCIM, BaseURL: pv.url, Secret: pv.token,
			AttributeMap: attrMap, ServiceGroupIDs: []int64{g.ID}, Enabled: true, MaxConcurrency: 8}
		if err := s.CreateProduct(ctx(), p); err != nil {
			t.Fatal(err)
		}
		var injected, lost atomic.Int32
		var rngMu sync.Mutex
		rng := rand.New(rand.NewPCG(1, 2))
		roll := func(r *http.Request) bool {
			if r.Method == http.MethodGet {
				return false
			}
			rngMu.Lock()
			defer rngMu.Unlock()
			return rng.IntN(10) == 0
		}
		if pv.fault != nil { // 10 %: refused before applying
			pv.fault(func(w http.ResponseWriter, r *http.Request) bool {
				if !roll(r) {
					return false
				}
				injected.Add(1)
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			})
		}
		if pv.lose != nil { // 10 %: applied, then 500
			pv.lose(func(r *http.Request) bool {
				if !roll(r) {
					return false
				}
				lost.Add(1)
				return true
			})
		}
		startDispatcher(t, s, nil)
		var users []*model.User
		for i := range 40 {
			u := &model.User{Username: fmt.Sprintf("user%02d", i), DisplayName: fmt.Sprintf("User %02d", i),
				Attributes: model.Attributes{model.AttrCostCenter: "CC-" + strconv.Itoa(i%3), model.AttrDepartment: "Sales"}}
			if i%7 != 0 {
				u.Email = u.Username + "@example.com" // some users have no mail
			}
			if i%5 == 0 {
				u.Attributes[model.AttrTitle] = "Lead"
			}
			if err := s.CreateUser(ctx(), u); err != nil {
				t.Fatal(err)
			}
			if i < 35 {
				if err := s.AddServiceGroupMember(ctx(), g.ID, u.ID); err != nil {
					t.Fatal(err)
				}
			}
			users = append(users, u)
		}
		eventually(t, "first delivery", func() bool { c := pending(t, s, p.ID); return c.Pending == 0 && c.Pairs == 35 })
		for i, u := range users {
			switch {
			case i%4 == 0:
				u.DisplayName += " renamed"
				delete(u.Attributes, model.AttrTitle)
			case i%4 == 1:
				u.Status = model.StatusDisabled
			case i%4 == 2:
				u.Username += "b"
				u.Email = ""
			default:
				continue
			}
			if err := s.UpdateUser(ctx(), u); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range users[30:33] {
			if err := s.RemoveServiceGroupMember(ctx(), g.ID, u.ID); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range users[35:38] {
			if err := s.AddServiceGroupMember(ctx(), g.ID, u.ID); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range users[20:24] {
			if err := s.DeleteUser(ctx(), u.ID); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, "all changes delivered", func() bool { return pending(t, s, p.ID).Pending == 0 })
		if pv.fault != nil {
			pv.fault(nil)
		}
		if pv.lose != nil {
			pv.lose(nil)
		}
		t.Logf("%s: %d writes refused with 503, %d applied then answered 500", pv.name, injected.Load(), lost.Load())
		members := map[int64]bool{}
		for _, u := range users[:30] {
			members[u.ID] = true
		}
		for _, u := range users[33:38] {
			members[u.ID] = true
		}
		compareUsers(t, s, pv, p.ID, attrMap, func(id int64) bool { return members[id] })
	})
}
