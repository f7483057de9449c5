package products

import (
	"bytes"
	"context"
	"errors"
	"io"
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

// deliverAs runs deliverSCIM the way the dispatcher does: the claim
// carries what the last delivery left (remote id, ETag, delivered doc).
func deliverAs(t *testing.T, c *scimClient, p *model.Product, cl *model.DeliveryClaim, u *model.User) (scimResult, error) {
	t.Helper()
	c.log = nil
	res, err := deliverSCIM(context.Background(), c, p, *cl, u)
	if err == nil {
		cl.RemoteID, cl.RemoteVersion = res.remoteID, res.etag
		cl.DeliveredDoc = ""
		if res.doc != nil {
			cl.DeliveredDoc = res.doc.encode()
		}
	}
	return res, err
}

func TestSCIMLifecycle(t *testing.T) {
	srv, c, p := scimFixture(t)
	ctx := context.Background()
	u := testUser(`ann "the" \admin`)
	u.Attributes[model.AttrGivenName], u.Attributes[model.AttrFamilyName] = "Ann", "Example"
	cl := &model.DeliveryClaim{DeliveryState: model.DeliveryState{UserID: u.ID, WantedVersion: 1}, Username: u.Username, Assigned: true}

	res, err := deliverAs(t, c, p, cl, u)
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
	name, _ := got.Raw["name"].(map[string]any)
	if name["givenName"] != "Ann" || name["familyName"] != "Example" || name["formatted"] != "Ann Example" || got.Raw["externalId"] != "7" {
		t.Fatalf("names not delivered: %v", got.Raw)
	}

	// update: a PATCH of the changed attribute only, with the ETag
	var bodies []string
	srv.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPatch {
			b, _ := io.ReadAll(r.Body)
			bodies = append(bodies, string(b))
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		return false
	})
	u.Attributes[model.AttrCostCenter] = "CC-200"
	cl.WantedVersion = 2
	res2, err := deliverAs(t, c, p, cl, u)
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
	if len(bodies) != 1 || strings.Count(bodies[0], `"op"`) != 1 || !strings.Contains(bodies[0], SchemaEnterprise+":costCenter") {
		t.Fatalf("PATCH bodies = %v, want one replace of costCenter", bodies)
	}

	// a stale ETag gets 412, then the client re-reads and succeeds
	cl.RemoteVersion = res.etag
	u.Email = ""
	if _, err := deliverAs(t, c, p, cl, u); err != nil {
		t.Fatalf("update with stale ETag: %v", err)
	}
	if _, ok := srv.UserByName(u.Username).Raw["emails"]; ok {
		t.Fatalf("removed e-mail still at the provider: %v", srv.UserByName(u.Username).Raw)
	}

	// nothing changed: no request at all
	n := len(srv.Ops(u.Username))
	if _, err := deliverAs(t, c, p, cl, u); err != nil || len(srv.Ops(u.Username)) != n {
		t.Fatalf("unchanged user: %v, %d writes (had %d)", err, len(srv.Ops(u.Username)), n)
	}

	// disable → PATCH active=false
	u.Status = model.StatusDisabled
	if _, err := deliverAs(t, c, p, cl, u); err != nil {
		t.Fatalf("disable: %v", err)
	}
	if srv.UserByName(u.Username).Active {
		t.Fatal("user still active after disable")
	}

	// delete → DELETE, and the provider then answers 404
	cl.Deleted = true
	if _, err := deliverAs(t, c, p, cl, nil); err != nil {
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
	if _, err := deliverAs(t, c, p, cl, nil); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if got, want := methods(srv.Ops(u.Username)), "POST,PATCH,PATCH,PATCH,DELETE"; got != want {
		t.Fatalf("operations = %s, want %s", got, want)
	}
	if v := srv.Violations(); len(v) != 0 {
		t.Fatalf("provider saw protocol violations: %v", v)
	}
}

func methods(ops []scimtest.Op) string {
	var m []string
	for _, o := range ops {
		m = append(m, o.Method)
	}
	return strings.Join(m, ",")
}

func TestSCIMPutMode(t *testing.T) {
	srv, c, p := scimFixture(t)
	p.UpdateMode = model.UpdatePut
	u := testUser("pia")
	cl := &model.DeliveryClaim{DeliveryState: model.DeliveryState{UserID: u.ID, WantedVersion: 1}, Username: u.Username, Assigned: true}
	for range 2 {
		if _, err := deliverAs(t, c, p, cl, u); err != nil {
			t.Fatal(err)
		}
	}
	u.Status = model.StatusDisabled
	if _, err := deliverAs(t, c, p, cl, u); err != nil {
		t.Fatal(err)
	}
	if got, want := methods(srv.Ops("pia")), "POST,PUT,PATCH"; got != want {
		t.Fatalf("operations = %s, want %s", got, want)
	}
}

func TestSCIMAdoptsExistingAndConflict(t *testing.T) {
	srv, c, p := scimFixture(t)
	u := testUser("bob")
	cl := &model.DeliveryClaim{DeliveryState: model.DeliveryState{UserID: u.ID, WantedVersion: 1}, Username: u.Username, Assigned: true}
	if _, err := deliverAs(t, c, p, cl, u); err != nil {
		t.Fatal(err)
	}
	// pair lost its remote id and doc: find by filter, nothing to change
	lost := &model.DeliveryClaim{DeliveryState: model.DeliveryState{UserID: u.ID, WantedVersion: 2}, Username: u.Username, Assigned: true}
	res, err := deliverAs(t, c, p, lost, u)
	if err != nil || res.remoteID == "" {
		t.Fatalf("re-deliver: %v %+v", err, res)
	}
	// the filter search misses once: POST answers 409, then adopt + PATCH
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
	u.DisplayName = "Bob B"
	lost = &model.DeliveryClaim{DeliveryState: model.DeliveryState{UserID: u.ID, WantedVersion: 3}, Username: u.Username, Assigned: true}
	if _, err := deliverAs(t, c, p, lost, u); err != nil {
		t.Fatalf("deliver after 409: %v", err)
	}
	if got, want := methods(srv.Ops("bob")), "POST,PATCH"; got != want {
		t.Fatalf("operations = %s, want %s", got, want)
	}
	if srv.Count() != 1 || srv.UserByName("bob").Raw["displayName"] != "Bob B" {
		t.Fatalf("provider has %d users, %v", srv.Count(), srv.UserByName("bob").Raw)
	}

	// someone else's account with the same userName is not taken over
	other := testUser("cat")
	other.ID = 8
	cl8 := &model.DeliveryClaim{DeliveryState: model.DeliveryState{UserID: 8, WantedVersion: 1}, Username: "cat", Assigned: true}
	srv.SetFault(nil)
	if _, err := deliverAs(t, c, p, cl8, other); err != nil {
		t.Fatal(err)
	}
	before := srv.UserByName("cat").Raw
	mine := testUser("cat") // id 7: a different idsync user named cat
	mine.DisplayName = "Not Cat"
	cl7 := &model.DeliveryClaim{DeliveryState: model.DeliveryState{UserID: 7, WantedVersion: 1}, Username: "cat", Assigned: true}
	_, err = deliverAs(t, c, p, cl7, mine)
	var ce *conflictError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), `externalId "8"`) {
		t.Fatalf("adopting someone else's account: %v, want a conflict", err)
	}
	if after := srv.UserByName("cat").Raw; after["displayName"] != before["displayName"] || after["externalId"] != "8" {
		t.Fatalf("the other account changed: %v", after)
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
