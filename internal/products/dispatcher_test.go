package products_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/products"
	"github.com/idsync/idsync/internal/products/scimtest"
	"github.com/idsync/idsync/internal/products/webhooktest"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

// startDispatcher runs a dispatcher with test-friendly timings until the
// test ends; it returns a function that stops it and waits.
func startDispatcher(t *testing.T, s *store.Store, tune func(*products.Options)) (*products.Dispatcher, func()) {
	t.Helper()
	o := products.Options{
		Policy:       products.URLPolicy{AllowLoopback: true},
		PollInterval: 20 * time.Millisecond,
		BackoffBase:  20 * time.Millisecond,
		BackoffMax:   100 * time.Millisecond,
		Timeout:      2 * time.Second,
		Registry:     prometheus.NewRegistry(),
	}
	if tune != nil {
		tune(&o)
	}
	d, err := products.New(s, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.Run(ctx)
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return d, stop
}

// eventually polls cond until it holds or 20 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, 20*time.Second, what, cond)
}

// eventuallyWithin polls cond until it holds or d passes.
func eventuallyWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ctx() context.Context { return model.WithActor(context.Background(), "tester") }

func newUser(t *testing.T, s *store.Store, name string) *model.User {
	t.Helper()
	u := &model.User{Username: name, Email: name + "@example.com", DisplayName: strings.ToUpper(name),
		Attributes: model.Attributes{model.AttrCostCenter: "CC-1", model.AttrDepartment: "Sales"}}
	if err := s.CreateUser(ctx(), u); err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return u
}

func pending(t *testing.T, s *store.Store, productID int64) model.ProductCounts {
	t.Helper()
	c, err := s.ProductCounts(ctx(), productID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func methods(ops []scimtest.Op) string {
	var m []string
	for _, o := range ops {
		m = append(m, o.Method)
	}
	return strings.Join(m, ",")
}

func TestDispatcherSCIMLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		srv := scimtest.New(t, "token-1")
		p := &model.Product{Name: "SCIM app", Kind: model.ProductSCIM, BaseURL: srv.URL, Secret: "token-1",
			AttributeMap: map[string]string{model.AttrCostCenter: "costCenter"}, AllUsers: true, Enabled: true}
		if err := s.CreateProduct(ctx(), p); err != nil {
			t.Fatal(err)
		}
		startDispatcher(t, s, nil)
		u := newUser(t, s, "ann")
		eventually(t, "create", func() bool { return srv.UserByName("ann") != nil })

		u.Attributes[model.AttrCostCenter] = "CC-2"
		if err := s.UpdateUser(ctx(), u); err != nil {
			t.Fatal(err)
		}
		eventually(t, "update", func() bool {
			ent, _ := srv.UserByName("ann").Raw[products.SchemaEnterprise].(map[string]any)
			return ent["costCenter"] == "CC-2"
		})
		u.Status = model.StatusDisabled
		if err := s.UpdateUser(ctx(), u); err != nil {
			t.Fatal(err)
		}
		eventually(t, "disable", func() bool { return !srv.UserByName("ann").Active })
		if err := s.DeleteUser(ctx(), u.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "delete", func() bool { return srv.UserByName("ann") == nil })

		if got, want := methods(srv.Ops("ann")), "POST,PATCH,PATCH,DELETE"; got != want {
			t.Fatalf("provider operations = %s, want %s", got, want)
		}
		eventually(t, "nothing pending", func() bool { return pending(t, s, p.ID).Pending == 0 })
		log, total, err := s.ListDeliveries(ctx(), p.ID, model.ListQuery{})
		if err != nil || total != 4 || len(log) != 4 {
			t.Fatalf("delivery log: %d entries (total %d), err %v; want 4", len(log), total, err)
		}
		if log[0].Method != http.MethodDelete || log[0].Status != http.StatusNoContent || log[3].Method != http.MethodPost {
			t.Fatalf("delivery log newest first = %s %d … %s", log[0].Method, log[0].Status, log[3].Method)
		}
		if strings.Contains(log[3].Request, "token-1") {
			t.Fatal("the bearer token leaked into the delivery log")
		}
		if v := srv.Violations(); len(v) != 0 {
			t.Fatalf("protocol violations: %v", v)
		}
	})
}

func TestDispatcherWebhookOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		rc := webhooktest.New(t, "hmac-secret", true)
		p := &model.Product{Name: "Hook", Kind: model.ProductWebhook, BaseURL: rc.URL, Secret: "hmac-secret", AllUsers: true, Enabled: true}
		if err := s.CreateProduct(ctx(), p); err != nil {
			t.Fatal(err)
		}
		startDispatcher(t, s, nil)
		u := newUser(t, s, "bea")
		eventually(t, "created", func() bool { return rc.Accepted() == 1 })
		u.DisplayName = "Bea B"
		if err := s.UpdateUser(ctx(), u); err != nil {
			t.Fatal(err)
		}
		eventually(t, "updated", func() bool { return rc.Accepted() == 2 })
		u.Status = model.StatusDisabled
		if err := s.UpdateUser(ctx(), u); err != nil {
			t.Fatal(err)
		}
		eventually(t, "disabled", func() bool { return rc.Accepted() == 3 })
		if err := s.DeleteUser(ctx(), u.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "deleted", func() bool { return rc.Accepted() == 4 })
		var types []string
		var last int64
		for _, ev := range rc.Events() {
			types = append(types, ev.Type)
			if ev.Version <= last {
				t.Errorf("event versions not increasing: %d after %d", ev.Version, last)
			}
			last = ev.Version
		}
		if got, want := strings.Join(types, ","), "user.created,user.updated,user.disabled,user.deleted"; got != want {
			t.Fatalf("events = %s, want %s", got, want)
		}
		if ev := rc.Events()[1]; ev.User == nil || ev.User.DisplayName != "Bea B" || ev.User.Attributes[model.AttrCostCenter] != "CC-1" {
			t.Fatalf("update event carries %+v", ev.User)
		}
		if rc.Rejected() != 0 {
			t.Fatalf("receiver rejected %d requests (bad signature?)", rc.Rejected())
		}
	})
}

func TestDispatcherRetriesServerErrors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		rc := webhooktest.New(t, "k", true)
		var fails atomic.Int32
		fails.Store(3)
		rc.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
			if fails.Add(-1) >= 0 {
				w.WriteHeader(http.StatusInternalServerError)
				return true
			}
			return false
		})
		p := &model.Product{Name: "Flaky", Kind: model.ProductWebhook, BaseURL: rc.URL, Secret: "k", AllUsers: true, Enabled: true}
		if err := s.CreateProduct(ctx(), p); err != nil {
			t.Fatal(err)
		}
		newUser(t, s, "cid")
		reg := prometheus.NewRegistry()
		startDispatcher(t, s, func(o *products.Options) { o.Registry = reg })
		eventually(t, "delivered after retries", func() bool { return rc.Accepted() == 1 && pending(t, s, p.ID).Pending == 0 })
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			if mf.GetName() != "idsync_product_deliveries_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "outcome" {
						got[l.GetValue()] = m.GetCounter().GetValue()
					}
				}
			}
		}
		if got["ok"] != 1 || got["failed"] != 3 {
			t.Fatalf("deliveries metric = %v, want ok 1, failed 3", got)
		}
		log, _, err := s.ListDeliveries(ctx(), p.ID, model.ListQuery{})
		if err != nil {
			t.Fatal(err)
		}
		var failed int
		for _, l := range log {
			if l.Status == 500 {
				failed++
				if !strings.Contains(l.Error, "answered 500") {
					t.Errorf("failed entry error = %q", l.Error)
				}
			}
		}
		if failed != 3 || len(log) != 4 {
			t.Fatalf("log has %d entries, %d failed; want 4 and 3", len(log), failed)
		}
	})
}

func TestDispatcherTimeouts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		rc := webhooktest.New(t, "k", true)
		var slow atomic.Int32
		slow.Store(2)
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		rc.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
			if slow.Add(-1) >= 0 {
				select {
				case <-release:
				case <-r.Context().Done():
				}
				return true
			}
			return false
		})
		p := &model.Product{Name: "Slow", Kind: model.ProductWebhook, BaseURL: rc.URL, Secret: "k", AllUsers: true, Enabled: true}
		if err := s.CreateProduct(ctx(), p); err != nil {
			t.Fatal(err)
		}
		newUser(t, s, "dan")
		startDispatcher(t, s, func(o *products.Options) { o.Timeout = 150 * time.Millisecond })
		eventually(t, "delivered after timeouts", func() bool { return rc.Accepted() == 1 && pending(t, s, p.ID).Pending == 0 })
		log, _, _ := s.ListDeliveries(ctx(), p.ID, model.ListQuery{})
		var timeouts int
		for _, l := range log {
			if strings.Contains(l.Error, "timed out") || strings.Contains(l.Error, "Timeout") {
				timeouts++
			}
		}
		if timeouts != 2 {
			t.Fatalf("log shows %d timeouts, want 2: %+v", timeouts, log)
		}
	})
}

func TestDispatcherProductDownThenBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		srv := scimtest.New(t, "tok")
		var down atomic.Bool
		down.Store(true)
		srv.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
			if down.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			}
			return false
		})
		p := &model.Product{Name: "Down", Kind: model.ProductSCIM, BaseURL: srv.URL, Secret: "tok", AllUsers: true, Enabled: true,
			AttributeMap: map[string]string{model.AttrDepartment: "department"}}
		if err := s.CreateProduct(ctx(), p); err != nil {
			t.Fatal(err)
		}
		startDispatcher(t, s, nil)
		var users []*model.User
		for i := range 30 {
			users = append(users, newUser(t, s, fmt.Sprintf("u%02d", i)))
		}
		eventually(t, "all failed at least once", func() bool { return pending(t, s, p.ID).Failed == 30 })
		// changes while down collapse into the latest state
		for _, u := range users[:10] {
			u.Attributes[model.AttrDepartment] = "Ops"
			if err := s.UpdateUser(ctx(), u); err != nil {
				t.Fatal(err)
			}
		}
		down.Store(false)
		eventually(t, "everything delivered once back", func() bool { return pending(t, s, p.ID).Pending == 0 })
		if srv.Count() != 30 {
			t.Fatalf("provider has %d users, want 30", srv.Count())
		}
		for i, u := range users {
			want := "Sales"
			if i < 10 {
				want = "Ops"
			}
			ent, _ := srv.UserByName(u.Username).Raw[products.SchemaEnterprise].(map[string]any)
			if ent["department"] != want {
				t.Fatalf("%s: department %v, want %s", u.Username, ent["department"], want)
			}
			// Changes made while the product was down collapse: one POST of
			// the latest state, or (when a claim of the older state was
			// already in flight as it came back) that POST and one PATCH.
			if ops := methods(srv.Ops(u.Username)); ops != "POST" && ops != "POST,PATCH" {
				t.Fatalf("%s: operations %s, want POST (or POST,PATCH)", u.Username, ops)
			}
		}
	})
}

func TestDispatcherCrashBetweenCommitAndDelivery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		rc := webhooktest.New(t, "k", true)
		p := &model.Product{Name: "Later", Kind: model.ProductWebhook, BaseURL: rc.URL, Secret: "k", AllUsers: true, Enabled: true}
		if err := s.CreateProduct(ctx(), p); err != nil {
			t.Fatal(err)
		}
		// Changes committed with no dispatcher running (it "crashed").
		for i := range 5 {
			newUser(t, s, fmt.Sprintf("c%d", i))
		}
		// A dispatcher that claimed and died: its leases expire.
		claims, err := s.ClaimDeliveries(ctx(), p.ID, "dead-replica", 2, 50*time.Millisecond)
		if err != nil || len(claims) != 2 {
			t.Fatalf("claim: %v, %d", err, len(claims))
		}
		if c := pending(t, s, p.ID); c.Pending != 5 {
			t.Fatalf("pending before start = %d, want 5", c.Pending)
		}
		startDispatcher(t, s, nil)
		eventually(t, "all delivered after restart", func() bool { return rc.Accepted() == 5 && pending(t, s, p.ID).Pending == 0 })
	})
}

func TestDispatcherInvalidSCIMAnswerIsAFailure(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		srv := scimtest.New(t, "tok")
		srv.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method == http.MethodPost {
				w.Header().Set("Content-Type", products.ContentTypeSCIM)
				w.WriteHeader(http.StatusCreated)
				w.Write([]byte(`{"schemas":["nonsense"],"userName":`))
				return true
			}
			return false
		})
		p := &model.Product{Name: "Broken", Kind: model.ProductSCIM, BaseURL: srv.URL, Secret: "tok", AllUsers: true, Enabled: true}
		if err := s.CreateProduct(ctx(), p); err != nil {
			t.Fatal(err)
		}
		newUser(t, s, "eve")
		startDispatcher(t, s, nil)
		eventually(t, "failure recorded", func() bool { return pending(t, s, p.ID).Failed == 1 })
		log, _, _ := s.ListDeliveries(ctx(), p.ID, model.ListQuery{})
		if len(log) == 0 || !strings.Contains(log[0].Error, "invalid SCIM answer") || log[0].Status != 201 {
			t.Fatalf("log = %+v, want an invalid-answer failure", log)
		}
		// fixed provider: retry failed delivers it
		srv.SetFault(nil)
		if _, err := s.RetryFailed(ctx(), p.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "delivered after the fix", func() bool { return srv.UserByName("eve") != nil && pending(t, s, p.ID).Pending == 0 })
	})
}

func TestDispatcherUnassignedUserIsDeactivated(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		srv := scimtest.New(t, "tok")
		g := &model.ServiceGroup{Name: "Field staff"}
		if err := s.CreateServiceGroup(ctx(), g); err != nil {
			t.Fatal(err)
		}
		p := &model.Product{Name: "Field app", Kind: model.ProductSCIM, BaseURL: srv.URL, Secret: "tok",
			ServiceGroupIDs: []int64{g.ID}, Enabled: true}
		if err := s.CreateProduct(ctx(), p); err != nil {
			t.Fatal(err)
		}
		startDispatcher(t, s, nil)
		in := newUser(t, s, "fay")
		out := newUser(t, s, "gil") // not in the group: never delivered
		if err := s.AddServiceGroupMember(ctx(), g.ID, in.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "member delivered", func() bool { return srv.UserByName("fay") != nil })
		if err := s.RemoveServiceGroupMember(ctx(), g.ID, in.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "deactivated", func() bool { return !srv.UserByName("fay").Active })
		if got := methods(srv.Ops("fay")); got != "POST,PATCH" {
			t.Fatalf("operations = %s, want POST,PATCH", got)
		}
		if srv.UserByName(out.Username) != nil {
			t.Fatal("a user outside the assignment was delivered")
		}
	})
}

func TestTwoDispatchersNeverDeliverOnePairAtOnce(t *testing.T) {
	s := storetest.Open(t, store.DialectPostgres)
	rc := webhooktest.New(t, "k", true)
	var mu sync.Mutex
	inflight := map[int64]int{}
	var overlaps atomic.Int32
	rc.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var ev products.Event
		if json.Unmarshal(body, &ev) != nil || ev.User == nil {
			return false
		}
		mu.Lock()
		inflight[ev.User.ID]++
		if inflight[ev.User.ID] > 1 {
			overlaps.Add(1)
		}
		mu.Unlock()
		time.Sleep(2 * time.Millisecond) // widen the window a double delivery would hit
		mu.Lock()
		inflight[ev.User.ID]--
		mu.Unlock()
		return false
	})
	p := &model.Product{Name: "Shared", Kind: model.ProductWebhook, BaseURL: rc.URL, Secret: "k", AllUsers: true, Enabled: true, MaxConcurrency: 8}
	if err := s.CreateProduct(ctx(), p); err != nil {
		t.Fatal(err)
	}
	var users []*model.User
	for i := range 60 {
		users = append(users, newUser(t, s, fmt.Sprintf("m%02d", i)))
	}
	tune := func(o *products.Options) { o.BatchSize = 10 }
	d1, _ := startDispatcher(t, s, tune)
	d2, _ := startDispatcher(t, s, tune)
	if d1.Owner() == d2.Owner() {
		t.Fatal("two dispatchers share an owner name")
	}
	for round := range 3 {
		for _, u := range users {
			u.DisplayName = fmt.Sprintf("%s round %d", u.Username, round)
			if err := s.UpdateUser(ctx(), u); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually(t, "all delivered", func() bool { return pending(t, s, p.ID).Pending == 0 })
	if n := overlaps.Load(); n != 0 {
		t.Fatalf("%d deliveries of one pair overlapped", n)
	}
	// Per user, versions strictly increase (no duplicate, no reordering)
	// and the last event carries the latest state.
	last := map[int64]int64{}
	final := map[int64]string{}
	for _, ev := range rc.Events() {
		if ev.Version <= last[ev.User.ID] {
			t.Fatalf("user %d: version %d after %d", ev.User.ID, ev.Version, last[ev.User.ID])
		}
		last[ev.User.ID] = ev.Version
		final[ev.User.ID] = ev.User.DisplayName
	}
	for _, u := range users {
		if final[u.ID] != u.DisplayName {
			t.Fatalf("%s: product has %q, want %q", u.Username, final[u.ID], u.DisplayName)
		}
	}
}

func TestAutoProductSyncOff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		st, err := s.GetSettings(ctx())
		if err != nil {
			t.Fatal(err)
		}
		st.AutoProductSync = false
		if err := s.UpdateSettings(ctx(), st); err != nil {
			t.Fatal(err)
		}
		rc := webhooktest.New(t, "k", true)
		p := &model.Product{Name: "Manual", Kind: model.ProductWebhook, BaseURL: rc.URL, Secret: "k", AllUsers: true, Enabled: true}
		if err := s.CreateProduct(ctx(), p); err != nil {
			t.Fatal(err)
		}
		a, b := newUser(t, s, "hal"), newUser(t, s, "ida")
		if c := pending(t, s, p.ID); c.Pairs != 0 {
			t.Fatalf("auto sync off but %d pairs queued", c.Pairs)
		}
		n, err := s.MarkUsersPending(ctx(), nil, []int64{a.ID})
		if err != nil || n != 1 {
			t.Fatalf("mark selected: %d, %v", n, err)
		}
		startDispatcher(t, s, nil)
		eventually(t, "selected delivered", func() bool { return rc.Accepted() == 1 })
		n, err = s.MarkAllPending(ctx(), []int64{p.ID})
		if err != nil || n != 2 {
			t.Fatalf("mark all: %d, %v", n, err)
		}
		eventually(t, "all delivered", func() bool { return rc.Accepted() == 3 && pending(t, s, p.ID).Pending == 0 })
		_ = b
	})
}
