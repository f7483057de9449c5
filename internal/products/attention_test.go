package products_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/products"
	"github.com/idsync/idsync/internal/products/elimitytest"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

func refuse(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", products.ContentTypeSCIM)
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"schemas":["%s"],"status":"%d","scimType":"invalidValue","detail":%q}`, products.SchemaError, status, detail)
}

// A 400 is retried MaxAttempts times, then needs attention with the request
// and answer kept; retry delivers it once fixed, drop resolves it, both
// audited; other users are not held up.
func TestPermanentFailureNeedsAttention(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		srv := elimitytest.New(t, "tok")
		var broken atomic.Bool
		broken.Store(true)
		srv.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
			if broken.Load() && r.Method == http.MethodPost {
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
				if strings.Contains(string(body), `"userName":"bad`) {
					refuse(w, http.StatusBadRequest, "emails is required by this product")
					return true
				}
			}
			return false
		})
		p := &model.Product{Name: "Strict", Kind: model.ProductSCIM, BaseURL: srv.URL, Secret: "tok", AllUsers: true, Enabled: true, MaxAttempts: 3}
		if err := s.CreateProduct(ctx(), p); err != nil {
			t.Fatal(err)
		}
		startDispatcher(t, s, nil)
		newUser(t, s, "good")
		bad1, bad2 := newUser(t, s, "bad1"), newUser(t, s, "bad2")
		eventually(t, "two need attention", func() bool { c := pending(t, s, p.ID); return c.Attention == 2 && c.Pending == 0 })
		if srv.UserByName("good") == nil {
			t.Fatal("a good user was held up by the bad ones")
		}
		items, total, err := s.ListAttention(ctx(), p.ID, model.ListQuery{})
		if err != nil || total != 2 || len(items) != 2 {
			t.Fatalf("attention list: %d items (total %d), %v", len(items), total, err)
		}
		a := items[0]
		if a.Username != "bad1" || a.Attempts != 3 || a.LastStatus != 400 || !strings.Contains(a.LastError, "emails is required") ||
			!strings.Contains(a.LastRequest, `"userName":"bad1"`) || !strings.Contains(a.LastResponse, "emails is required") {
			t.Fatalf("attention item = %+v", a)
		}
		// nothing more is tried while it waits
		n := len(srv.Ops(""))
		time.Sleep(300 * time.Millisecond)
		if c := pending(t, s, p.ID); c.Attention != 2 || len(srv.Ops("")) != n {
			t.Fatalf("still retried: %+v", c)
		}
		log, _, _ := s.ListDeliveries(ctx(), p.ID, model.ListQuery{Search: "bad1"})
		if len(log) != 3 {
			t.Fatalf("bad1 has %d log entries, want 3 failed attempts", len(log))
		}
		// drop one, fix the provider and retry the other
		if n, err := s.ResolveAttention(ctx(), p.ID, []int64{bad2.ID}, true); err != nil || n != 1 {
			t.Fatalf("drop: %d, %v", n, err)
		}
		broken.Store(false)
		if n, err := s.ResolveAttention(ctx(), p.ID, nil, false); err != nil || n != 1 {
			t.Fatalf("retry: %d, %v", n, err)
		}
		eventually(t, "retried delivery", func() bool { return srv.UserByName("bad1") != nil && pending(t, s, p.ID).Pending == 0 })
		if srv.UserByName("bad2") != nil {
			t.Fatal("a dropped delivery was delivered")
		}
		c := pending(t, s, p.ID)
		if c.Attention != 0 || c.Delivered != 3 || c.Pairs != 3 {
			t.Fatalf("counts after resolve = %+v", c)
		}
		entries, _, err := s.ListAudit(ctx(), model.ListQuery{Search: "needed attention"})
		if err != nil || len(entries) != 2 {
			t.Fatalf("audit: %d entries, %v", len(entries), err)
		}
		_ = bad1
	})
}

// A deleted user's undelivered pair is resolved by the delete: no
// "pending" or "failed" left behind, nothing sent to the provider.
func TestDeleteResolvesUndeliveredPair(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		srv := elimitytest.New(t, "tok")
		srv.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
			refuse(w, http.StatusBadRequest, "invalid filter")
			return true
		})
		p := &model.Product{Name: "Refuses", Kind: model.ProductSCIM, BaseURL: srv.URL, Secret: "tok", AllUsers: true, Enabled: true}
		if err := s.CreateProduct(ctx(), p); err != nil {
			t.Fatal(err)
		}
		u := newUser(t, s, "gone")
		startDispatcher(t, s, nil)
		eventually(t, "failed", func() bool { return pending(t, s, p.ID).Failed == 1 })
		if err := s.DeleteUser(ctx(), u.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "resolved", func() bool { return pending(t, s, p.ID) == model.ProductCounts{} })
		if n := len(srv.Ops("")); n != 0 {
			t.Fatalf("provider got %d writes", n)
		}
	})
}

// 401 / 403 mark the product failing and pause it instead of retrying
// every user; saving it with the right token delivers everything.
func TestCredentialsFailureMarksProductFailing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		srv := elimitytest.New(t, "right")
		var requests atomic.Int32
		srv.SetFault(func(w http.ResponseWriter, r *http.Request) bool { requests.Add(1); return false })
		p := &model.Product{Name: "Locked", Kind: model.ProductSCIM, BaseURL: srv.URL, Secret: "wrong", AllUsers: true, Enabled: true, MaxAttempts: 2}
		if err := s.CreateProduct(ctx(), p); err != nil {
			t.Fatal(err)
		}
		for i := range 30 {
			newUser(t, s, fmt.Sprintf("l%02d", i))
		}
		startDispatcher(t, s, func(o *products.Options) { o.ProbeInterval = 400 * time.Millisecond })
		eventually(t, "failing", func() bool {
			got, err := s.GetProduct(ctx(), p.ID)
			return err == nil && !got.FailingSince.IsZero() && strings.Contains(got.FailingReason, "401")
		})
		time.Sleep(time.Second)
		if n := requests.Load(); n > 20 {
			t.Fatalf("%d requests while failing: users are retried one by one", n)
		}
		if c := pending(t, s, p.ID); c.Attention != 0 || c.Pending != 30 {
			t.Fatalf("counts while failing = %+v (a 401 must not make users need attention)", c)
		}
		got, _ := s.GetProduct(ctx(), p.ID)
		got.Secret = "right"
		if err := s.UpdateProduct(ctx(), got); err != nil {
			t.Fatal(err)
		}
		eventually(t, "delivered with the new token", func() bool { return pending(t, s, p.ID).Pending == 0 && len(srv.Users()) == 30 })
		if got, _ := s.GetProduct(ctx(), p.ID); !got.FailingSince.IsZero() {
			t.Fatalf("still failing: %+v", got)
		}
	})
}

// Saving a product restarts its runner; the claims it held are released,
// so deliveries resume at once instead of after the 2-minute lease.
func TestSaveProductDuringSyncAllResumesAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		srv := elimitytest.New(t, "tok")
		srv.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
			time.Sleep(2 * time.Millisecond) // a provider that takes its time
			return false
		})
		const n = 1000
		storetest.Seed(t, s, n, 0)
		p := &model.Product{Name: "Busy", Kind: model.ProductSCIM, BaseURL: srv.URL, Secret: "tok", AllUsers: true, Enabled: true, MaxConcurrency: 4}
		if err := s.CreateProduct(ctx(), p); err != nil {
			t.Fatal(err)
		}
		startDispatcher(t, s, func(o *products.Options) { o.Lease = 2 * time.Minute })
		eventually(t, "sync under way", func() bool { return srv.OpCount() >= 200 })
		got, err := s.GetProduct(ctx(), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		got.Secret = ""
		got.MaxConcurrency = 8
		if err := s.UpdateProduct(ctx(), got); err != nil {
			t.Fatal(err)
		}
		saved := time.Now()
		before := srv.OpCount()
		// The old runner stops and releases its claims; the new one claims
		// them. Deliveries must go on within a second (the dispatcher polls
		// products every 80 ms here); ten writes are more than the old
		// runner's four requests in flight could account for.
		for srv.OpCount() <= before+10 {
			if time.Since(saved) > 20*time.Second {
				t.Fatal("deliveries did not resume")
			}
			time.Sleep(5 * time.Millisecond)
		}
		resumed := time.Since(saved)
		t.Logf("deliveries resumed %v after the save", resumed)
		if resumed > raceSlowdown*time.Second {
			t.Errorf("deliveries resumed %v after the save, want under %d s (the lease is 2 minutes)", resumed, raceSlowdown)
		}
		eventuallyWithin(t, 2*time.Minute, "all delivered", func() bool { return pending(t, s, p.ID).Pending == 0 })
		active, _, err := s.ListUsers(ctx(), model.UserFilter{Status: model.StatusActive})
		if err != nil {
			t.Fatal(err)
		}
		_, total, _ := s.ListUsers(ctx(), model.UserFilter{Status: model.StatusActive})
		if got := len(srv.Users()); got != total || len(active) == 0 {
			t.Fatalf("provider has %d users, want the %d active ones", got, total)
		}
	})
}

// The delivery log keeps every failed request of a delivery with the
// provider's answer: a POST answered 409 appears with its 409 body, not
// hidden behind the lookup that followed.
func TestDeliveryLogKeepsFailedAttempts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		srv := elimitytest.New(t, "tok")
		u := newUser(t, s, "dup")
		srv.PutUser(map[string]any{"schemas": []any{products.SchemaUser}, "userName": "dup", "externalId": fmt.Sprint(u.ID)})
		misses := 1
		srv.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method == http.MethodGet && r.URL.Query().Get("filter") != "" && misses > 0 {
				misses-- // the first lookup misses: POST gets the provider's 409
				w.Header().Set("Content-Type", products.ContentTypeSCIM)
				_, _ = w.Write([]byte(`{"schemas":["` + products.SchemaListResponse + `"],"totalResults":0,"Resources":[]}`))
				return true
			}
			return false
		})
		p := &model.Product{Name: "Dup", Kind: model.ProductSCIM, BaseURL: srv.URL, Secret: "tok", AllUsers: true, Enabled: true}
		if err := s.CreateProduct(ctx(), p); err != nil {
			t.Fatal(err)
		}
		startDispatcher(t, s, nil)
		eventually(t, "delivered", func() bool { c := pending(t, s, p.ID); return c.Pending == 0 && c.Delivered == 1 })
		log, _, err := s.ListDeliveries(ctx(), p.ID, model.ListQuery{})
		if err != nil || len(log) != 2 {
			t.Fatalf("log = %+v, %v; want the 409 and the PATCH", log, err)
		}
		if log[1].Method != http.MethodPost || log[1].Status != http.StatusConflict || !strings.Contains(log[1].Response, "already taken") ||
			!strings.Contains(log[1].Request, `"userName":"dup"`) || !strings.Contains(log[1].Error, "409") {
			t.Fatalf("failed attempt logged as %+v", log[1])
		}
		if log[0].Method != http.MethodPatch || log[0].Status != http.StatusOK || log[0].Error != "" {
			t.Fatalf("final entry %+v", log[0])
		}
		if got := srv.UserByName("dup"); got.Str("displayName") != "DUP" || len(srv.Users()) != 1 {
			t.Fatalf("provider: %+v", got)
		}
	})
}
