package products

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/products/scimtest"
)

func scimFixture(t *testing.T) (*scimtest.Server, *scimClient, *model.Product) {
	t.Helper()
	srv := scimtest.New(t, "tok")
	p := &model.Product{ID: 1, Name: "scim", Kind: model.ProductSCIM, BaseURL: srv.URL, Secret: "tok",
		AttributeMap: map[string]string{model.AttrCostCenter: "costCenter", model.AttrDepartment: "department", model.AttrTitle: "title"}}
	hc := NewHTTPClient(URLPolicy{AllowLoopback: true}, 5*time.Second)
	return srv, &scimClient{hc: hc, base: srv.URL, token: "tok"}, p
}

func testUser(name string) *model.User {
	return &model.User{ID: 7, Username: name, Email: name + "@example.com", DisplayName: "Ann Example",
		Status: model.StatusActive, Attributes: model.Attributes{model.AttrCostCenter: "CC-100", model.AttrTitle: "Boss", model.AttrLocation: "Berlin"}}
}

func TestSCIMLifecycle(t *testing.T) {
	srv, c, p := scimFixture(t)
	ctx := context.Background()
	u := testUser(`ann "the" \admin`)
	cl := model.DeliveryClaim{DeliveryState: model.DeliveryState{UserID: u.ID, WantedVersion: 1}, Username: u.Username, Assigned: true}

	res, err := deliverSCIM(ctx, c, p, cl, u)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	got := srv.UserByName(u.Username)
	if got == nil || got.ID != res.remoteID || !got.Active {
		t.Fatalf("after create provider has %+v, remote id %q", got, res.remoteID)
	}
	ent, _ := got.Raw[SchemaEnterprise].(map[string]any)
	if ent["costCenter"] != "CC-100" || got.Raw["title"] != "Boss" {
		t.Fatalf("mapped attributes not delivered: %v", got.Raw)
	}
	if _, ok := ent["location"]; ok {
		t.Fatal("unmapped attribute delivered")
	}

	// update with the ETag the provider gave
	u.Attributes[model.AttrCostCenter] = "CC-200"
	cl.RemoteID, cl.RemoteVersion, cl.WantedVersion = res.remoteID, res.etag, 2
	res2, err := deliverSCIM(ctx, c, p, cl, u)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if res2.etag == res.etag {
		t.Fatalf("ETag did not change on update: %q", res2.etag)
	}
	ent, _ = srv.UserByName(u.Username).Raw[SchemaEnterprise].(map[string]any)
	if ent["costCenter"] != "CC-200" {
		t.Fatalf("update not applied: %v", ent)
	}

	// a stale ETag gets 412, then the client re-reads and succeeds
	cl.RemoteVersion = res.etag
	if _, err := deliverSCIM(ctx, c, p, cl, u); err != nil {
		t.Fatalf("update with stale ETag: %v", err)
	}

	// disable → PATCH active=false
	u.Status = model.StatusDisabled
	cl.RemoteVersion = ""
	if _, err := deliverSCIM(ctx, c, p, cl, u); err != nil {
		t.Fatalf("disable: %v", err)
	}
	if srv.UserByName(u.Username).Active {
		t.Fatal("user still active after disable")
	}

	// delete → DELETE, and the provider then answers 404
	cl.Deleted = true
	if _, err := deliverSCIM(ctx, c, p, cl, nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if srv.UserByName(u.Username) != nil {
		t.Fatal("user still there after delete")
	}
	ex, err := c.do(ctx, http.MethodGet, "/Users/"+res.remoteID, nil, "")
	if err != nil || ex.Status != http.StatusNotFound {
		t.Fatalf("GET after delete = %v %v, want 404", ex, err)
	}
	// deleting again is fine: already gone
	if _, err := deliverSCIM(ctx, c, p, cl, nil); err != nil {
		t.Fatalf("second delete: %v", err)
	}

	var methods []string
	for _, o := range srv.Ops(u.Username) {
		methods = append(methods, o.Method)
	}
	if got, want := strings.Join(methods, ","), "POST,PUT,PUT,PATCH,DELETE"; got != want {
		t.Fatalf("operations = %s, want %s", got, want)
	}
	if v := srv.Violations(); len(v) != 0 {
		t.Fatalf("provider saw protocol violations: %v", v)
	}
}

func TestSCIMAdoptsExistingAndConflict(t *testing.T) {
	srv, c, p := scimFixture(t)
	ctx := context.Background()
	u := testUser("bob")
	cl := model.DeliveryClaim{DeliveryState: model.DeliveryState{UserID: u.ID, WantedVersion: 1}, Username: u.Username, Assigned: true}
	if _, err := deliverSCIM(ctx, c, p, cl, u); err != nil {
		t.Fatal(err)
	}
	// pair lost its remote id: find by filter, PUT (no second POST)
	res, err := deliverSCIM(ctx, c, p, cl, u)
	if err != nil || res.remoteID == "" {
		t.Fatalf("re-deliver: %v %+v", err, res)
	}
	// the filter search misses once: POST answers 409, then adopt + PUT
	misses := 1
	srv.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && r.URL.Query().Get("filter") != "" && misses > 0 {
			misses--
			w.Header().Set("Content-Type", ContentTypeSCIM)
			w.Write([]byte(`{"schemas":["` + SchemaListResponse + `"],"totalResults":0,"Resources":[]}`))
			return true
		}
		return false
	})
	if _, err := deliverSCIM(ctx, c, p, cl, u); err != nil {
		t.Fatalf("deliver after 409: %v", err)
	}
	var methods []string
	for _, o := range srv.Ops("bob") {
		methods = append(methods, o.Method)
	}
	if got, want := strings.Join(methods, ","), "POST,PUT,PUT"; got != want {
		t.Fatalf("operations = %s, want %s", got, want)
	}
	if srv.Count() != 1 {
		t.Fatalf("provider has %d users, want 1", srv.Count())
	}
}

func TestSCIMInvalidAnswers(t *testing.T) {
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter)
		want   string
	}{
		{"html", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(201)
			w.Write([]byte("<html>hi</html>"))
		}, "content type"},
		{"garbage json", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", ContentTypeSCIM)
			w.WriteHeader(201)
			w.Write([]byte("{not json"))
		}, "invalid SCIM answer"},
		{"no schema", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", ContentTypeSCIM)
			w.WriteHeader(201)
			w.Write([]byte(`{"id":"x","userName":"carl"}`))
		}, "User schema"},
		{"no id", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", ContentTypeSCIM)
			w.WriteHeader(201)
			w.Write([]byte(`{"schemas":["` + SchemaUser + `"],"userName":"carl"}`))
		}, "no id"},
		{"server error", func(w http.ResponseWriter) { w.WriteHeader(500) }, "answered 500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, p := scimFixture(t)
			srv.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodPost {
					tt.answer(w)
					return true
				}
				return false
			})
			u := testUser("carl")
			cl := model.DeliveryClaim{DeliveryState: model.DeliveryState{UserID: u.ID, WantedVersion: 1}, Username: u.Username, Assigned: true}
			_, err := deliverSCIM(context.Background(), c, p, cl, u)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestSCIMProviderIsStrict(t *testing.T) {
	srv, c, _ := scimFixture(t)
	ctx := context.Background()
	post := func(ct, token, body string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/Users", bytes.NewBufferString(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	good := `{"schemas":["` + SchemaUser + `"],"userName":"dora"}`
	tests := []struct {
		name, ct, token, body string
		want                  int
	}{
		{"wrong token", ContentTypeSCIM, "nope", good, 401},
		{"json content type", "text/plain", "tok", good, 415},
		{"no schemas", ContentTypeSCIM, "tok", `{"userName":"dora"}`, 400},
		{"unlisted extension", ContentTypeSCIM, "tok", `{"schemas":["` + SchemaUser + `"],"userName":"dora","` + SchemaEnterprise + `":{"costCenter":"1"}}`, 400},
		{"unknown enterprise field", ContentTypeSCIM, "tok", `{"schemas":["` + SchemaUser + `","` + SchemaEnterprise + `"],"userName":"dora","` + SchemaEnterprise + `":{"shoeSize":"1"}}`, 400},
		{"created", ContentTypeSCIM, "tok", good, 201},
		{"duplicate", ContentTypeSCIM, "tok", `{"schemas":["` + SchemaUser + `"],"userName":"DORA"}`, 409},
	}
	for _, tt := range tests {
		if got := post(tt.ct, tt.token, tt.body); got != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, got, tt.want)
		}
	}
	ex, err := c.do(ctx, http.MethodGet, "/Users?filter=name+co+%22x%22", nil, "")
	if err != nil || ex.Status != 400 {
		t.Errorf("unsupported filter: %v %v, want 400", ex, err)
	}
}

func TestFilterRoundTrip(t *testing.T) {
	for _, name := range []string{"plain", `qu"ote`, `back\slash`, `"\"`, "ünï cödé"} {
		got, err := scimtest.ParseUserNameFilter(FilterUserName(name))
		if err != nil || got != name {
			t.Errorf("round trip %q: got %q, %v", name, got, err)
		}
	}
	for _, bad := range []string{`userName eq "a" or 1`, `userName co "a"`, `emails eq "a"`, `userName eq a`} {
		if _, err := scimtest.ParseUserNameFilter(bad); err == nil {
			t.Errorf("filter %q accepted", bad)
		}
	}
}

func TestSCIMTestButton(t *testing.T) {
	srv, c, _ := scimFixture(t)
	if _, err := testSCIM(context.Background(), c); err != nil {
		t.Fatalf("test: %v", err)
	}
	bad := &scimClient{hc: c.hc, base: srv.URL, token: "wrong"}
	if _, err := testSCIM(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("test with wrong token: %v", err)
	}
}
