package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/idsync/idsync/internal/config"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/products"
	"github.com/idsync/idsync/internal/products/webhooktest"
)

func productForm(csrf, name, base, secret string) url.Values {
	return url.Values{
		"_csrf": {csrf}, "name": {name}, "kind": {"webhook"}, "base_url": {base}, "secret": {secret},
		"all_users": {"on"}, "enabled": {"on"}, "max_concurrency": {"4"}, "rate_per_second": {"0"},
		"map_attr": {"cost_center", ""}, "map_field": {"costCenter", ""},
	}
}

func TestProductPagesURLPolicy(t *testing.T) {
	e := newPlatEnv(t, nil) // loopback products not allowed
	e.createAdmin("root", model.RoleAdmin)
	c := e.client()
	c.login("root")
	tests := []struct{ url, want string }{
		{"http://127.0.0.1:9/hook", "loopback"},
		{"http://169.254.169.254/latest", "metadata"},
		{"http://[fe80::1]/hook", "link-local"},
		{"ftp://example.com/hook", "Only http"},
	}
	for _, tt := range tests {
		r := c.post("/products", productForm(c.csrf(), "P", tt.url, "s3cret"))
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(strings.ToLower(r.body), strings.ToLower(tt.want)) {
			t.Errorf("create with %s: status %d, body lacks %q", tt.url, r.status, tt.want)
		}
		if strings.Contains(r.body, "s3cret") {
			t.Errorf("create with %s: the typed secret was rendered back", tt.url)
		}
	}
	ps, err := e.st.ListProducts(context.Background())
	if err != nil || len(ps) != 0 {
		t.Fatalf("refused forms created %d products (%v)", len(ps), err)
	}
}

func TestProductPagesLifecycle(t *testing.T) {
	var rc *webhooktest.Receiver
	e := newPlatEnv(t, func(cfg *config.Config, d *Deps) {
		cfg.AllowLoopbackProducts = true
		disp, err := products.New(d.Store, nil, products.Options{Policy: products.URLPolicy{AllowLoopback: true}, Registry: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		d.Products = disp
	})
	rc = webhooktest.New(t, "hook-secret-1", true)
	e.createAdmin("root", model.RoleAdmin)
	e.createAdmin("eve", model.RoleAuditor)
	c := e.client()
	c.login("root")

	r := c.post("/products", productForm(c.csrf(), "Hooks", rc.URL, "hook-secret-1"))
	if r.status != http.StatusSeeOther {
		t.Fatalf("create: status %d: %.400s", r.status, r.body)
	}
	loc := r.header.Get("Location")
	id, err := strconv.ParseInt(strings.TrimPrefix(loc, "/products/"), 10, 64)
	if err != nil {
		t.Fatalf("redirected to %q", loc)
	}
	p, err := e.st.GetProduct(context.Background(), id)
	if err != nil || p.Secret != "hook-secret-1" || p.AttributeMap["cost_center"] != "costCenter" {
		t.Fatalf("stored product %+v, %v", p, err)
	}

	// the edit page never shows the secret; saving with it empty keeps it
	r = c.get(loc + "/edit")
	if r.status != http.StatusOK || strings.Contains(r.body, "hook-secret-1") || !strings.Contains(r.body, "A secret is stored") {
		t.Fatalf("edit page: status %d, leaks secret or lacks the note", r.status)
	}
	f := productForm(c.csrf(), "Hooks renamed", rc.URL, "")
	if r = c.post(loc, f); r.status != http.StatusSeeOther {
		t.Fatalf("update: status %d: %.400s", r.status, r.body)
	}
	if p, _ = e.st.GetProduct(context.Background(), id); p.Secret != "hook-secret-1" || p.Name != "Hooks renamed" {
		t.Fatalf("after update: name %q, secret kept %v", p.Name, p.Secret == "hook-secret-1")
	}

	// Test button: a signed ping the receiver accepts
	r = c.do(http.MethodPost, loc+"/test", url.Values{"_csrf": {c.csrf()}}, map[string]string{"HX-Request": "true"})
	if r.status != http.StatusOK || !strings.Contains(r.body, `data-testid="test-ok"`) {
		t.Fatalf("test: status %d: %.300s", r.status, r.body)
	}
	if evs := rc.Events(); len(evs) != 1 || evs[0].Type != products.EventPing {
		t.Fatalf("receiver got %+v, want one ping", evs)
	}

	// Sync selected users from the users list (automatic sync off, so
	// only the selected users become pending)
	st, err := e.st.GetSettings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st.AutoProductSync = false
	if err := e.st.UpdateSettings(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, name := range []string{"ann", "bob", "cid"} {
		u := &model.User{Username: name}
		if err := e.st.CreateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, strconv.FormatInt(u.ID, 10))
	}
	if r = c.get("/users"); !strings.Contains(r.body, `data-testid="users-sync-products"`) {
		t.Fatal("users list lacks the sync button")
	}
	if r = c.get("/users/" + ids[0]); !strings.Contains(r.body, `data-testid="user-sync-products"`) {
		t.Fatal("user page lacks the sync button")
	}
	r = c.post("/products/sync-users", url.Values{"_csrf": {c.csrf()}, "user_id": ids[:2]})
	if r.status != http.StatusSeeOther {
		t.Fatalf("sync selected: status %d", r.status)
	}
	if got, _ := e.st.ProductCounts(context.Background(), id); got.Pending != 2 {
		t.Fatalf("pending after syncing 2 selected users = %d, want 2", got.Pending)
	}
	r = c.post(loc+"/sync-all", url.Values{"_csrf": {c.csrf()}})
	if got, _ := e.st.ProductCounts(context.Background(), id); r.status != http.StatusSeeOther || got.Pending != 3 {
		t.Fatalf("sync all: status %d, pending %d, want 3", r.status, got.Pending)
	}
	r = c.get(loc + "/progress")
	if r.status != http.StatusOK || !strings.Contains(r.body, `hx-trigger="every 1s"`) {
		t.Fatalf("progress fragment: %d %.300s", r.status, r.body)
	}
	if r = c.get(loc); r.status != http.StatusOK || !strings.Contains(r.body, `data-testid="product-progress"`) {
		t.Fatalf("product page: %d", r.status)
	}

	// auditors read, never change
	a := e.client()
	a.login("eve")
	if r = a.get(loc); r.status != http.StatusOK || strings.Contains(r.body, `data-testid="product-test"`) {
		t.Fatalf("auditor product page: status %d or shows admin buttons", r.status)
	}
	if r = a.post(loc+"/sync-all", url.Values{"_csrf": {a.csrf()}}); r.status != http.StatusForbidden {
		t.Fatalf("auditor sync-all: status %d, want 403", r.status)
	}

	// delete
	if r = c.post(loc+"/delete", url.Values{"_csrf": {c.csrf()}}); r.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.status)
	}
	if _, err := e.st.GetProduct(context.Background(), id); model.ErrorCode(err) != model.ENOTFOUND {
		t.Fatalf("after delete: %v", err)
	}
}

// A delivery that needs attention shows on the product page with the
// request and the provider's answer (escaped); Drop resolves it (CSRF
// required, audited in the store).
func TestProductPageAttention(t *testing.T) {
	e := newPlatEnv(t, func(cfg *config.Config, d *Deps) { cfg.AllowLoopbackProducts = true })
	e.createAdmin("root", model.RoleAdmin)
	ctx := model.WithActor(context.Background(), "tester")
	p := &model.Product{Name: "Strict", Kind: model.ProductSCIM, BaseURL: "http://127.0.0.1:9/scim/v2", Secret: "tok", AllUsers: true, Enabled: true}
	if err := e.st.CreateProduct(ctx, p); err != nil {
		t.Fatal(err)
	}
	u := &model.User{Username: "ann", DisplayName: "Ann"}
	if err := e.st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	claims, err := e.st.ClaimDeliveries(ctx, p.ID, "test", 10, time.Minute)
	if err != nil || len(claims) != 1 {
		t.Fatalf("claims %v %v", claims, err)
	}
	o := model.DeliveryOutcome{ProductID: p.ID, UserID: u.ID, Version: claims[0].WantedVersion, Error: "POST /Users answered 400: <b>bad</b>",
		Attention: true, RetryAfter: time.Second, Log: model.Delivery{Method: "POST", URL: p.BaseURL + "/Users", Status: 400,
			Request: `{"userName":"ann"}`, Response: `{"detail":"<script>x</script>"}`}}
	if err := e.st.CompleteDeliveries(ctx, "test", []model.DeliveryOutcome{o}); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.login("root")
	r := c.get("/products/" + strconv.FormatInt(p.ID, 10))
	if r.status != http.StatusOK || !strings.Contains(r.body, `data-testid="attention-row"`) ||
		!strings.Contains(r.body, "&lt;script&gt;") || strings.Contains(r.body, "<script>x") || !strings.Contains(r.body, "1 need attention") {
		t.Fatalf("product page: %d\n%s", r.status, r.body)
	}
	if r := c.post("/products/"+strconv.FormatInt(p.ID, 10)+"/attention", url.Values{"action": {"drop"}}); r.status < 400 {
		t.Fatalf("drop without CSRF: %d", r.status)
	}
	r = c.post("/products/"+strconv.FormatInt(p.ID, 10)+"/attention", url.Values{"_csrf": {c.csrf()}, "action": {"drop"}, "user_id": {strconv.FormatInt(u.ID, 10)}})
	if r.status != http.StatusSeeOther && r.status != http.StatusOK {
		t.Fatalf("drop: %d %s", r.status, r.body)
	}
	cnt, err := e.st.ProductCounts(ctx, p.ID)
	if err != nil || cnt.Attention != 0 || cnt.Delivered != 1 {
		t.Fatalf("counts after drop %+v %v", cnt, err)
	}
}
