package store_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

func newProduct(name string) *model.Product {
	return &model.Product{Name: name, Kind: model.ProductWebhook, BaseURL: "https://hooks.example.com/idsync",
		Secret: "very-secret-hmac", AllUsers: true, Enabled: true, AttributeMap: map[string]string{"cost_center": "costCenter"}}
}

func TestProductCRUD(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		p := newProduct("Hooks")
		if err := s.CreateProduct(ctxT(), p); err != nil {
			t.Fatal(err)
		}
		// sealed at rest: the plaintext is nowhere in the row
		var sealed string
		if err := s.DB().Raw("SELECT secret_sealed FROM products WHERE id = ?", p.ID).Scan(&sealed).Error; err != nil {
			t.Fatal(err)
		}
		if sealed == "" || strings.Contains(sealed, "very-secret-hmac") {
			t.Fatalf("secret stored as %q", sealed)
		}
		if a := lastAudit(t, s); a.ObjectType != "product" || strings.Contains(a.After, "very-secret-hmac") {
			t.Fatalf("audit entry %+v (must exist and not hold the secret)", a)
		}
		list, err := s.ListProducts(ctxT())
		if err != nil || len(list) != 1 || list[0].Secret != "" || list[0].MaxConcurrency != 4 {
			t.Fatalf("list = %+v, %v (secret must be empty, concurrency defaulted)", list, err)
		}
		// update with an empty secret keeps it
		got, _ := s.GetProduct(ctxT(), p.ID)
		got.Secret, got.Name = "", "Hooks 2"
		if err := s.UpdateProduct(ctxT(), got); err != nil {
			t.Fatal(err)
		}
		got, _ = s.GetProduct(ctxT(), p.ID)
		if got.Secret != "very-secret-hmac" || got.Name != "Hooks 2" {
			t.Fatalf("after update: %q / secret kept %v", got.Name, got.Secret == "very-secret-hmac")
		}
		// duplicate name, bad input: refused, nothing changed
		dup := newProduct("HOOKS 2")
		wantCode(t, s.CreateProduct(ctxT(), dup), model.ECONFLICT)
		bad := newProduct("Bad")
		bad.Kind, bad.BaseURL, bad.AllUsers, bad.MaxConcurrency = "ftp", "gopher://x", false, 1000
		err = s.CreateProduct(ctxT(), bad)
		wantCode(t, err, model.EINVALID)
		for _, f := range []string{"kind", "base_url", "service_group_ids", "max_concurrency"} {
			wantField(t, err, f)
		}
		noSecret := newProduct("No secret")
		noSecret.Secret = ""
		wantField(t, s.CreateProduct(ctxT(), noSecret), "secret")
		if n := count(t, s, "products"); n != 1 {
			t.Fatalf("%d products after refused creates, want 1", n)
		}
		wantCode(t, s.DeleteProduct(ctxT(), p.ID+100), model.ENOTFOUND)
		if err := s.DeleteProduct(ctxT(), p.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, func() error { _, err := s.GetProduct(ctxT(), p.ID); return err }(), model.ENOTFOUND)
	})
}

func TestProductOutboxVersions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		p := newProduct("Hooks")
		if err := s.CreateProduct(ctxT(), p); err != nil {
			t.Fatal(err)
		}
		u := mustUser(t, s, "ann", nil)
		claims, err := s.ClaimDeliveries(ctxT(), p.ID, "r1", 10, time.Minute)
		if err != nil || len(claims) != 1 || claims[0].UserID != u.ID || !claims[0].Assigned {
			t.Fatalf("claims = %+v, %v", claims, err)
		}
		// leased: nobody else gets it
		if other, _ := s.ClaimDeliveries(ctxT(), p.ID, "r2", 10, time.Minute); len(other) != 0 {
			t.Fatalf("second replica claimed a leased pair: %+v", other)
		}
		// the user changes while the delivery is in flight
		u.DisplayName = "Ann A"
		if err := s.UpdateUser(ctxT(), u); err != nil {
			t.Fatal(err)
		}
		out := model.DeliveryOutcome{ProductID: p.ID, UserID: u.ID, Version: claims[0].WantedVersion, OK: true,
			Log: model.Delivery{Username: "ann", Method: "POST", Status: 204}}
		if err := s.CompleteDeliveries(ctxT(), "r1", []model.DeliveryOutcome{out}); err != nil {
			t.Fatal(err)
		}
		c, _ := s.ProductCounts(ctxT(), p.ID)
		if c.Pending != 1 {
			t.Fatalf("pending = %d after an in-flight change, want 1 (latest version still owed)", c.Pending)
		}
		claims, _ = s.ClaimDeliveries(ctxT(), p.ID, "r2", 10, time.Minute)
		if len(claims) != 1 || claims[0].DeliveredVersion != out.Version || claims[0].WantedVersion <= out.Version {
			t.Fatalf("re-claim = %+v", claims)
		}
		// a failure schedules a retry and counts as failed
		fail := model.DeliveryOutcome{ProductID: p.ID, UserID: u.ID, Version: claims[0].WantedVersion, Error: "answered 500",
			RetryAfter: time.Hour, Log: model.Delivery{Status: 500, Error: "answered 500"}}
		if err := s.CompleteDeliveries(ctxT(), "r2", []model.DeliveryOutcome{fail}); err != nil {
			t.Fatal(err)
		}
		if c, _ = s.ProductCounts(ctxT(), p.ID); c.Failed != 1 {
			t.Fatalf("failed = %d, want 1", c.Failed)
		}
		if cl, _ := s.ClaimDeliveries(ctxT(), p.ID, "r2", 10, time.Minute); len(cl) != 0 {
			t.Fatal("a pair in backoff was claimed")
		}
		if n, err := s.RetryFailed(ctxT(), p.ID); err != nil || n != 1 {
			t.Fatalf("retry failed = %d, %v", n, err)
		}
		if cl, _ := s.ClaimDeliveries(ctxT(), p.ID, "r2", 10, time.Minute); len(cl) != 1 {
			t.Fatal("retried pair not claimable")
		}
		if err := s.ReleaseClaims(ctxT(), "r2"); err != nil {
			t.Fatal(err)
		}
		// delete: the pair survives the user row and asks for a delete
		if err := s.DeleteUser(ctxT(), u.ID); err != nil {
			t.Fatal(err)
		}
		cl, _ := s.ClaimDeliveries(ctxT(), p.ID, "r3", 10, time.Minute)
		if len(cl) != 1 || !cl[0].Deleted || cl[0].Username != "ann" {
			t.Fatalf("after delete claims = %+v", cl)
		}
		log, total, err := s.ListDeliveries(ctxT(), p.ID, model.ListQuery{})
		if err != nil || total != 2 || log[0].Status != 500 {
			t.Fatalf("log = %+v (%d), %v", log, total, err)
		}
		if n, err := s.PruneDeliveries(ctxT(), p.ID, 1); err != nil || n != 1 {
			t.Fatalf("prune = %d, %v; want 1", n, err)
		}
		log, total, _ = s.ListDeliveries(ctxT(), p.ID, model.ListQuery{})
		if total != 1 || log[0].Status != 500 {
			t.Fatalf("after prune the log holds %+v, want the newest entry only", log)
		}
	})
}

func TestProductAssignmentByServiceGroup(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		g := &model.ServiceGroup{Name: "Field"}
		if err := s.CreateServiceGroup(ctxT(), g); err != nil {
			t.Fatal(err)
		}
		in, out := mustUser(t, s, "in", nil), mustUser(t, s, "out", nil)
		if err := s.AddServiceGroupMember(ctxT(), g.ID, in.ID); err != nil {
			t.Fatal(err)
		}
		p := newProduct("Field app")
		p.AllUsers, p.ServiceGroupIDs = false, []int64{g.ID}
		if err := s.CreateProduct(ctxT(), p); err != nil { // marks assigned users pending
			t.Fatal(err)
		}
		cl, _ := s.ClaimDeliveries(ctxT(), p.ID, "r", 10, time.Minute)
		if len(cl) != 1 || cl[0].UserID != in.ID {
			t.Fatalf("claims = %+v, want only the member", cl)
		}
		_ = s.CompleteDeliveries(ctxT(), "r", []model.DeliveryOutcome{{ProductID: p.ID, UserID: in.ID, Version: cl[0].WantedVersion, OK: true}})
		if n, err := s.MarkUsersPending(ctxT(), nil, []int64{out.ID}); err != nil || n != 0 {
			t.Fatalf("marking a non-assigned user = %d, %v; want 0", n, err)
		}
		if err := s.RemoveServiceGroupMember(ctxT(), g.ID, in.ID); err != nil {
			t.Fatal(err)
		}
		cl, _ = s.ClaimDeliveries(ctxT(), p.ID, "r", 10, time.Minute)
		if len(cl) != 1 || cl[0].Assigned {
			t.Fatalf("after leaving the group claims = %+v, want one deactivation", cl)
		}
	})
}

func TestClaimsAreExclusiveUnderConcurrency(t *testing.T) {
	s := storetest.Open(t, store.DialectPostgres)
	mustSettings(t, s, func(st *model.Settings) { st.AutoProductSync = false })
	storetest.Seed(t, s, 2000, 0)
	p := newProduct("Hooks")
	if err := s.CreateProduct(ctxT(), p); err != nil {
		t.Fatal(err)
	}
	if n, err := s.MarkAllPending(ctxT(), []int64{p.ID}); err != nil || n != 2000 {
		t.Fatalf("mark all = %d, %v", n, err)
	}
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for _, owner := range []string{"a", "b", "c", "d"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				cl, err := s.ClaimDeliveries(ctxT(), p.ID, owner, 50, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(cl) == 0 {
					return
				}
				mu.Lock()
				for _, c := range cl {
					if prev, ok := seen[c.UserID]; ok {
						t.Errorf("user %d claimed by %s and %s", c.UserID, prev, owner)
					}
					seen[c.UserID] = owner
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 2000 {
		t.Fatalf("%d pairs claimed, want 2000", len(seen))
	}
}
