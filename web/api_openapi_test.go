package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/idsync/idsync/internal/model"
)

// openAPIPath turns an echo route under /api/v1 into its OpenAPI path.
func openAPIPath(p string) string {
	p = strings.TrimPrefix(strings.ReplaceAll(p, `\:`, ":"), "/api/v1")
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") {
			parts[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

// TestOpenAPIRoutes: every /api/v1 route is documented, every documented
// operation is served, and the document is valid OpenAPI 3.1.
func TestOpenAPIRoutes(t *testing.T) {
	e := newPlatEnv(t, nil)
	served := map[string]bool{}
	for _, r := range e.srv.Echo().Routes() {
		if strings.HasPrefix(r.Path, "/api/v1/") && r.Method != echo.RouteNotFound {
			served[r.Method+" "+openAPIPath(r.Path)] = true
		}
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	res := e.api("GET", "/api/openapi.json", "", nil, nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET /api/openapi.json: %d", res.status)
	}
	if err := json.Unmarshal(res.raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for p, ops := range doc.Paths {
		for m := range ops {
			documented[strings.ToUpper(m)+" "+p] = true
		}
	}
	var missing, extra []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !served[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("served but not documented: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("documented but not served: %v", extra)
	}
	if len(served) < 20 {
		t.Errorf("only %d API routes seen", len(served))
	}
	d, err := libopenapi.NewDocument(res.raw)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(d)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, ve := range verrs {
			t.Errorf("document: %s: %s", ve.Message, ve.Reason)
		}
	}
	// The reference page lists every operation.
	br := e.client()
	e.createAdmin("alice", model.RoleAdmin)
	br.login("alice")
	page := br.get("/api-docs")
	if page.status != 200 || strings.Count(page.body, `data-testid="api-op"`) != len(apiOps) {
		t.Errorf("reference page: %d, %d operations, want %d", page.status, strings.Count(page.body, `data-testid="api-op"`), len(apiOps))
	}
}

// TestOpenAPIResponses validates real answers of the server (successes
// and errors) against the document, on both databases.
func TestOpenAPIResponses(t *testing.T) {
	for _, dialect := range apiDialects {
		t.Run(dialect, func(t *testing.T) { testOpenAPIResponses(t, dialect) })
	}
}

func testOpenAPIResponses(t *testing.T, dialect string) {
	w := newParityWorld(t, dialect)
	e := w.e
	d, err := libopenapi.NewDocument(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(d)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	hc := &http.Client{Timeout: time.Minute}
	check := func(method, path string, body any, wantStatus int) []byte {
		t.Helper()
		var raw []byte
		if body != nil {
			raw, _ = json.Marshal(body)
		}
		req, _ := http.NewRequest(method, e.ts.URL+path, bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+w.adminToken)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != wantStatus {
			t.Errorf("%s %s: %d %.300s, want %d", method, path, res.StatusCode, b, wantStatus)
		}
		res.Body = io.NopCloser(bytes.NewReader(b))
		vreq, _ := http.NewRequest(method, "/api/v1"+strings.TrimPrefix(path, "/api/v1"), bytes.NewReader(raw))
		if body != nil {
			vreq.Header.Set("Content-Type", "application/json")
		}
		if ok, verrs := v.ValidateHttpResponse(vreq, res); !ok {
			for _, ve := range verrs {
				t.Errorf("%s %s: response does not match the document: %s: %s %v", method, path, ve.Message, ve.Reason, ve.SchemaValidationErrors)
			}
		}
		return b
	}
	// The validator can fail: a made-up answer with a wrong type does.
	fake := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"id":"seven","username":"x","role":"admin"}`))}
	if ok, _ := v.ValidateHttpResponse(httptestRequest("GET", "/api/v1/me"), fake); ok {
		t.Fatal("a response with a string id passed validation: the validator checks nothing")
	}
	id := func(n int64) string { return fmt.Sprint(n) }
	check("GET", "/api/v1/me", nil, 200)
	check("GET", "/api/v1/users", nil, 200)
	check("GET", "/api/v1/users?limit=1", nil, 200)
	check("GET", "/api/v1/users/"+id(w.user), nil, 200)
	check("PATCH", "/api/v1/users/"+id(w.user), map[string]any{"service_group_id": w.sgA, "add_profiles": []int64{w.profile}}, 200)
	check("POST", "/api/v1/users", map[string]any{"username": "neo", "email": "neo@example.com"}, 201)
	check("POST", "/api/v1/users", map[string]any{"username": ""}, 422)
	check("GET", "/api/v1/users/999999", nil, 404)
	check("POST", "/api/v1/users:bulk", map[string]any{"changes": []any{map[string]any{"id": w.user, "display_name": "U"}}}, 200)
	check("POST", "/api/v1/users:bulk?mode=per_row", map[string]any{"changes": []any{map[string]any{"id": 424242}}}, 200)
	check("GET", "/api/v1/devices", nil, 200)
	check("GET", "/api/v1/devices/"+id(w.device), nil, 200)
	check("PATCH", "/api/v1/devices/"+id(w.device), map[string]any{"platform": "BSD"}, 200)
	check("POST", "/api/v1/devices", map[string]any{"name": "PHONE-1"}, 201)
	check("POST", "/api/v1/devices:bulk", map[string]any{"changes": []any{map[string]any{"id": w.device, "attributes": map[string]string{"location": "Rome"}}}}, 200)
	check("GET", "/api/v1/service-groups", nil, 200)
	check("GET", "/api/v1/service-groups/"+id(w.sgA), nil, 200)
	check("POST", "/api/v1/service-groups", map[string]any{"name": "Finance", "rules": []any{map[string]any{"attribute": "location", "value": "Paris"}}}, 201)
	check("PATCH", "/api/v1/service-groups/"+id(w.sgB), map[string]any{"description": "2nd level"}, 200)
	check("GET", "/api/v1/profiles", nil, 200)
	check("GET", "/api/v1/profiles/"+id(w.profile), nil, 200)
	check("GET", "/api/v1/attributes", nil, 200)
	check("GET", "/api/v1/settings", nil, 200)
	check("PATCH", "/api/v1/settings", map[string]any{"refresh_interval_hours": 24}, 200)
	check("PATCH", "/api/v1/settings", map[string]any{"refresh_interval_hours": -1}, 422)
	check("GET", "/api/v1/sources", nil, 200)
	check("GET", "/api/v1/mappings", nil, 200)
	check("GET", "/api/v1/products", nil, 200)
	check("POST", "/api/v1/products/sync", map[string]any{"user_ids": []int64{w.user}}, 202)
	ps, _ := e.st.ListProducts(context.Background())
	check("GET", "/api/v1/products/"+id(ps[0].ID), nil, 200)
	check("GET", "/api/v1/products/"+id(ps[0].ID)+"/deliveries", nil, 200)
	check("GET", "/api/v1/accounts", nil, 200)
	check("GET", "/api/v1/tokens", nil, 200)
	check("GET", "/api/v1/audit?limit=5", nil, 200)
	check("GET", "/api/v1/runs", nil, 200)
	check("DELETE", "/api/v1/profiles/"+id(w.profile)+"/members/"+id(w.user), nil, 204)
}

func httptestRequest(method, path string) *http.Request {
	r, _ := http.NewRequest(method, path, nil)
	return r
}
