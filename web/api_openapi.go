package web

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/syncplan"
	"github.com/idsync/idsync/templates/pages"
)

// The OpenAPI 3.1 description of /api/v1 is built from apiOps below and
// the Go types the handlers read and write (their JSON schemas come from
// the types by reflection, so a field added to a response is documented
// by construction). TestOpenAPIRoutes checks apiOps against the routes
// registered in api_routes.go in both directions, and validates real
// responses against the document.

// apiParam is one query parameter of an operation.
type apiParam struct {
	Name, Type, Description string
}

// apiOp documents one API route.
type apiOp struct {
	Method  string
	Path    string // OpenAPI form under /api/v1: /users/{id}, /users:bulk
	Tag     string
	Summary string
	Admin   bool // admins only, also for reading
	Query   []apiParam
	Body    any // a value of the request body's type; nil: none
	Status  int // the success status
	Resp    any // a value of the response's type; nil: no body
	Media   string
}

var (
	pCursor = apiParam{"cursor", "string", "the next_cursor of the previous page"}
	pLimit  = apiParam{"limit", "integer", "items per page, 1–500 (default 50)"}
	pQ      = apiParam{"q", "string", "case-insensitive search"}
)

func pageQuery(extra ...apiParam) []apiParam {
	return append([]apiParam{pCursor, pLimit}, extra...)
}

// apiOps lists every API route with its documentation.
var apiOps = []apiOp{
	{Method: "GET", Path: "/me", Tag: "accounts", Summary: "Who the request acts as (account, effective role, token)", Status: 200, Resp: apiAccount{}},

	{Method: "GET", Path: "/users", Tag: "users", Summary: "List users (keyset pages by id)", Status: 200, Resp: apiList[apiUser]{},
		Query: pageQuery(pQ, apiParam{"status", "string", "active or disabled"}, apiParam{"origin", "string", "directory, local or system"},
			apiParam{"service_group_id", "integer", "members of this service group"}, apiParam{"profile_id", "integer", "members of this profile"})},
	{Method: "POST", Path: "/users", Tag: "users", Summary: "Create a local user", Body: apiUserInput{}, Status: 201, Resp: apiUser{}},
	{Method: "POST", Path: "/users:bulk", Tag: "users", Summary: "Apply up to 10,000 user changes (all-or-nothing, or ?mode=per_row)",
		Query: []apiParam{{"mode", "string", "all_or_nothing (default) or per_row"}}, Body: apiBulkUsersBody{}, Status: 200, Resp: apiBulkResponse{}},
	{Method: "GET", Path: "/users/{id}", Tag: "users", Summary: "Get a user (with ETag)", Status: 200, Resp: apiUser{}},
	{Method: "PATCH", Path: "/users/{id}", Tag: "users", Summary: "Change a user (If-Match: a stale ETag is 412)", Body: apiUserInput{}, Status: 200, Resp: apiUser{}},
	{Method: "DELETE", Path: "/users/{id}", Tag: "users", Summary: "Delete a user", Status: 204},
	{Method: "POST", Path: "/users/{id}/refresh", Tag: "sync", Summary: "Refresh one user from the directory now", Status: 200, Resp: apiRun{}},
	{Method: "GET", Path: "/users/{id}/why", Tag: "sync", Summary: `"Why?": what puts the user where they are`, Status: 200, Resp: whyDoc{}},

	{Method: "GET", Path: "/devices", Tag: "devices", Summary: "List devices (keyset pages by id)", Status: 200, Resp: apiList[apiDevice]{},
		Query: pageQuery(pQ, apiParam{"user_id", "integer", "devices of this user"}, apiParam{"unassigned", "boolean", "only devices without a user"})},
	{Method: "POST", Path: "/devices", Tag: "devices", Summary: "Create a device", Body: apiDeviceInput{}, Status: 201, Resp: apiDevice{}},
	{Method: "POST", Path: "/devices:bulk", Tag: "devices", Summary: "Apply up to 10,000 device changes (all-or-nothing, or ?mode=per_row)",
		Query: []apiParam{{"mode", "string", "all_or_nothing (default) or per_row"}}, Body: apiBulkDevicesBody{}, Status: 200, Resp: apiBulkResponse{}},
	{Method: "GET", Path: "/devices/{id}", Tag: "devices", Summary: "Get a device (with ETag)", Status: 200, Resp: apiDevice{}},
	{Method: "PATCH", Path: "/devices/{id}", Tag: "devices", Summary: "Change or (user_id) assign a device (If-Match)", Body: apiDeviceInput{}, Status: 200, Resp: apiDevice{}},
	{Method: "DELETE", Path: "/devices/{id}", Tag: "devices", Summary: "Delete a device", Status: 204},
	{Method: "POST", Path: "/devices/reconcile", Tag: "sync", Summary: "Preview writing users' enterprise groups to their devices", Status: 202, Resp: apiRun{}},

	{Method: "GET", Path: "/runs", Tag: "sync", Summary: "List runs, newest first", Status: 200, Resp: apiList[apiRun]{},
		Query: pageQuery(apiParam{"kind", "string", "preview, apply, refresh_user, reconcile_devices, product_sync"},
			apiParam{"status", "string", "running, planned, succeeded, failed, held, cancelled, stale, applied"},
			apiParam{"trigger", "string", "schedule, admin, api, …"}, apiParam{"source_id", "integer", "runs of this source"})},
	{Method: "POST", Path: "/runs/preview", Tag: "sync", Summary: "Start a sync preview of a source (poll the run)", Body: apiPreviewInput{}, Status: 202, Resp: apiRun{}},
	{Method: "GET", Path: "/runs/{id}", Tag: "sync", Summary: "A run's status and progress", Status: 200, Resp: apiRun{}},
	{Method: "GET", Path: "/runs/{id}/items", Tag: "sync", Summary: "A run's plan or report items", Status: 200, Resp: apiList[apiRunItem]{},
		Query: pageQuery(pQ, apiParam{"phase", "string", "provisioning, attributes, service_groups, profiles, devices, products"},
			apiParam{"kind", "string", "an action kind"}, apiParam{"shown", "string", "yes (actions), no (skipped), failed"})},
	{Method: "POST", Path: "/runs/{id}/apply", Tag: "sync", Summary: "Apply exactly this preview (stale plan: 409, preview again; held: override)", Body: apiApplyInput{}, Status: 202, Resp: apiRun{}},
	{Method: "POST", Path: "/runs/{id}/cancel", Tag: "sync", Summary: "Cancel a running run", Status: 204},
	{Method: "GET", Path: "/runs/{id}/report.csv", Tag: "sync", Summary: "A run's report as CSV (escaped against CSV injection)", Status: 200, Media: "text/csv"},
	{Method: "GET", Path: "/runs/{id}/report.json", Tag: "sync", Summary: "A run's report as JSON", Status: 200, Media: "application/json"},

	{Method: "GET", Path: "/service-groups", Tag: "groups", Summary: "List service groups", Query: []apiParam{pQ}, Status: 200, Resp: apiList[apiGroup]{}},
	{Method: "POST", Path: "/service-groups", Tag: "groups", Summary: "Create a service group", Body: apiGroupInput{}, Status: 201, Resp: apiGroup{}},
	{Method: "GET", Path: "/service-groups/{id}", Tag: "groups", Summary: "Get a service group", Status: 200, Resp: apiGroup{}},
	{Method: "PATCH", Path: "/service-groups/{id}", Tag: "groups", Summary: "Change a service group (If-Match)", Body: apiGroupInput{}, Status: 200, Resp: apiGroup{}},
	{Method: "DELETE", Path: "/service-groups/{id}", Tag: "groups", Summary: "Delete a service group", Status: 204},
	{Method: "POST", Path: "/service-groups/{id}/members", Tag: "groups", Summary: "Add a manual member", Body: apiMemberInput{}, Status: 204},
	{Method: "DELETE", Path: "/service-groups/{id}/members/{uid}", Tag: "groups", Summary: "Remove a member", Status: 204},
	{Method: "GET", Path: "/profiles", Tag: "groups", Summary: "List profiles", Query: []apiParam{pQ}, Status: 200, Resp: apiList[apiGroup]{}},
	{Method: "POST", Path: "/profiles", Tag: "groups", Summary: "Create a profile", Body: apiGroupInput{}, Status: 201, Resp: apiGroup{}},
	{Method: "GET", Path: "/profiles/{id}", Tag: "groups", Summary: "Get a profile", Status: 200, Resp: apiGroup{}},
	{Method: "PATCH", Path: "/profiles/{id}", Tag: "groups", Summary: "Change a profile (If-Match)", Body: apiGroupInput{}, Status: 200, Resp: apiGroup{}},
	{Method: "DELETE", Path: "/profiles/{id}", Tag: "groups", Summary: "Delete a profile", Status: 204},
	{Method: "POST", Path: "/profiles/{id}/members", Tag: "groups", Summary: "Add a manual member", Body: apiMemberInput{}, Status: 204},
	{Method: "DELETE", Path: "/profiles/{id}/members/{uid}", Tag: "groups", Summary: "Remove a member", Status: 204},

	{Method: "GET", Path: "/attributes", Tag: "settings", Summary: "List enterprise attributes", Status: 200, Resp: apiList[apiAttribute]{}},
	{Method: "GET", Path: "/settings", Tag: "settings", Summary: "Get the system settings (with ETag)", Status: 200, Resp: apiSettings{}},
	{Method: "PATCH", Path: "/settings", Tag: "settings", Summary: "Change system settings (If-Match)", Body: apiSettingsInput{}, Status: 200, Resp: apiSettings{}},
	{Method: "GET", Path: "/sources", Tag: "directory", Summary: "List directory sources (bind passwords are never returned)", Status: 200, Resp: apiList[apiSource]{}},
	{Method: "GET", Path: "/sources/{id}", Tag: "directory", Summary: "Get a directory source", Status: 200, Resp: apiSource{}},
	{Method: "GET", Path: "/mappings", Tag: "directory", Summary: "Group and provisioning mappings", Status: 200, Resp: apiMappings{}},

	{Method: "GET", Path: "/products", Tag: "products", Summary: "List products with delivery counts (secrets are never returned)", Status: 200, Resp: apiList[apiProduct]{}},
	{Method: "POST", Path: "/products/sync", Tag: "products", Summary: "Sync all or selected users to all or selected products", Body: apiProductSyncInput{}, Status: 202, Resp: apiQueued{}},
	{Method: "GET", Path: "/products/{id}", Tag: "products", Summary: "Get a product", Status: 200, Resp: apiProduct{}},
	{Method: "GET", Path: "/products/{id}/deliveries", Tag: "products", Summary: "A product's delivery log, newest first", Query: pageQuery(), Status: 200, Resp: apiList[apiDelivery]{}},

	{Method: "GET", Path: "/accounts", Tag: "accounts", Summary: "List console accounts", Admin: true, Status: 200, Resp: apiList[apiAccountRow]{}},
	{Method: "GET", Path: "/tokens", Tag: "accounts", Summary: "List API tokens (own; every account's for admins)", Status: 200, Resp: apiList[apiToken]{}},
	{Method: "DELETE", Path: "/tokens/{id}", Tag: "accounts", Summary: "Revoke an API token", Status: 204},
	{Method: "GET", Path: "/audit", Tag: "accounts", Summary: "The audit log, newest first", Status: 200, Resp: apiList[apiAuditEntry]{},
		Query: pageQuery(pQ, apiParam{"object_type", "string", "user, device, service_group, …"}, apiParam{"object_id", "integer", "entries of one object"},
			apiParam{"token_id", "integer", "changes made with this API token"})},
}

// apiBulkUsersBody and apiBulkDevicesBody document the bulk bodies (the
// handlers read the rows one by one to report each row's errors).
type apiBulkUsersBody struct {
	Changes []apiUserInput `json:"changes"`
}

type apiBulkDevicesBody struct {
	Changes []apiDeviceInput `json:"changes"`
}

// whyDoc documents the "Why?" answer, syncplan.Explanation as it encodes.
type whyDoc = syncplan.Explanation

var (
	openAPIOnce sync.Once
	openAPIDoc  []byte
)

// OpenAPI returns the API's OpenAPI 3.1 document.
func OpenAPI() []byte {
	openAPIOnce.Do(func() {
		b, err := json.MarshalIndent(buildOpenAPI(), "", "  ")
		if err != nil {
			panic(err) // only plain maps and strings: cannot fail
		}
		openAPIDoc = b
	})
	return openAPIDoc
}

// serveOpenAPI is GET /api/openapi.json (public: it holds no data).
func (s *Server) serveOpenAPI(c echo.Context) error {
	return c.JSONBlob(http.StatusOK, OpenAPI())
}

type schemaGen struct {
	components map[string]any
}

func buildOpenAPI() map[string]any {
	g := &schemaGen{components: map[string]any{}}
	errSchema := g.schema(reflect.TypeOf(apiErrorBody{}))
	paths := map[string]map[string]any{}
	for _, op := range apiOps {
		o := map[string]any{
			"summary":     op.Summary,
			"tags":        []string{op.Tag},
			"operationId": strings.ToLower(op.Method) + strings.NewReplacer("/", "_", "{", "", "}", "", ":", "_", ".", "_", "-", "_").Replace(op.Path),
		}
		var params []any
		for _, seg := range strings.Split(op.Path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, map[string]any{"name": strings.Trim(seg, "{}"), "in": "path", "required": true,
					"schema": map[string]any{"type": "integer", "minimum": 1}})
			}
		}
		for _, q := range op.Query {
			params = append(params, map[string]any{"name": q.Name, "in": "query", "description": q.Description,
				"schema": map[string]any{"type": q.Type}})
		}
		if op.Method == "PATCH" || op.Method == "DELETE" {
			params = append(params, map[string]any{"name": "If-Match", "in": "header",
				"description": "the ETag of a GET; another version answers 412", "schema": map[string]any{"type": "string"}})
		}
		if len(params) > 0 {
			o["parameters"] = params
		}
		if op.Body != nil {
			o["requestBody"] = map[string]any{"required": op.Method != "POST" || !strings.HasSuffix(op.Path, "/apply"),
				"content": map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(op.Body))}}}
		}
		ok := map[string]any{"description": http.StatusText(op.Status)}
		switch {
		case op.Media != "":
			ok["content"] = map[string]any{op.Media: map[string]any{"schema": map[string]any{"type": "string"}}}
		case op.Resp != nil:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(op.Resp))}}
		}
		if strings.HasPrefix(op.Method, "P") || op.Method == "GET" && op.Resp != nil && strings.Contains(op.Path, "{id}") {
			ok["headers"] = map[string]any{"ETag": map[string]any{"schema": map[string]any{"type": "string"}}}
		}
		o["responses"] = map[string]any{
			strconv.Itoa(op.Status): ok,
			"default": map[string]any{"description": "an error: the code, a message, and per-field messages",
				"content": map[string]any{"application/json": map[string]any{"schema": errSchema}}},
		}
		if paths[op.Path] == nil {
			paths[op.Path] = map[string]any{}
		}
		paths[op.Path][strings.ToLower(op.Method)] = o
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "idsync API", "version": "1",
			"description": "The JSON API of the idsync console. Authenticate with \"Authorization: Bearer <API token>\" (tokens are created on the console's API tokens page; never put one in a URL). Errors are {\"error\":{\"code\",\"message\",\"fields\"}}. Lists answer {\"items\",\"next_cursor\"}; pass next_cursor as ?cursor= for the next page."},
		"servers":  []any{map[string]any{"url": "/api/v1"}},
		"security": []any{map[string]any{"bearer": []string{}}, map[string]any{"session": []string{}}},
		"paths":    paths,
		"components": map[string]any{"schemas": g.components, "securitySchemes": map[string]any{
			"bearer":  map[string]any{"type": "http", "scheme": "bearer", "description": "an API token: idsync_…"},
			"session": map[string]any{"type": "apiKey", "in": "cookie", "name": SessionCookie, "description": "the console's session; state changes also need the X-CSRF-Token header"},
		}},
	}
}

var timeType = reflect.TypeOf(time.Time{})

// schema returns the JSON Schema of t as encoding/json writes and reads
// it; named structs become components.
func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t.Kind() == reflect.Pointer:
		return nullable(g.schema(t.Elem()))
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return map[string]any{"type": "integer"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		s := map[string]any{"type": "array", "items": g.schema(t.Elem())}
		if !ownType(t.Elem()) {
			return nullable(s) // other packages' nil slices encode as null
		}
		return s
	case reflect.Map:
		s := map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
		if !ownType(t) {
			return nullable(s)
		}
		return s
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		name := componentName(t)
		if _, ok := g.components[name]; !ok {
			g.components[name] = map[string]any{} // recursion guard
			props, req := map[string]any{}, []string{}
			g.fields(t, props, &req)
			s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
			if len(req) > 0 {
				s["required"] = req
			}
			g.components[name] = s
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

func (g *schemaGen) fields(t reflect.Type, props map[string]any, req *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			g.fields(f.Type, props, req)
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.schema(f.Type)
		if !strings.Contains(opts, "omitempty") {
			*req = append(*req, name)
		}
	}
}

// ownType reports whether t is this package's (its nil slices and maps
// are replaced by empty ones before encoding).
func ownType(t reflect.Type) bool {
	for t.Kind() == reflect.Slice || t.Kind() == reflect.Map || t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath() == reflect.TypeOf(apiUser{}).PkgPath() || t.PkgPath() == ""
}

func nullable(s map[string]any) map[string]any {
	if ref, ok := s["$ref"]; ok {
		return map[string]any{"oneOf": []any{map[string]any{"$ref": ref}, map[string]any{"type": "null"}}}
	}
	if typ, ok := s["type"].(string); ok {
		out := map[string]any{}
		for k, v := range s {
			out[k] = v
		}
		out["type"] = []string{typ, "null"}
		return out
	}
	return s
}

func componentName(t reflect.Type) string {
	n := t.Name()
	if i := strings.IndexByte(n, '['); i >= 0 { // apiList[web.apiUser] → ListOfUser
		inner := n[i+1 : len(n)-1]
		if j := strings.LastIndexByte(inner, '.'); j >= 0 {
			inner = inner[j+1:]
		}
		n = "ListOf" + strings.TrimPrefix(inner, "api")
	}
	n = strings.TrimPrefix(n, "api")
	if pkg := t.PkgPath(); !strings.HasSuffix(pkg, "/web") {
		n = pkg[strings.LastIndexByte(pkg, '/')+1:] + "." + n
	}
	return strings.ToUpper(n[:1]) + n[1:]
}

// showAPIReference is GET /api-docs: the API reference in the console.
func (s *Server) showAPIReference(c echo.Context) error {
	v := pages.APIReferenceView{BaseURL: "http://" + c.Request().Host}
	if c.Request().TLS != nil {
		v.BaseURL = "https://" + c.Request().Host
	}
	for _, op := range apiOps {
		row := pages.APIOp{Method: op.Method, Path: op.Path, Tag: op.Tag, Summary: op.Summary, Admin: op.Admin}
		for _, q := range op.Query {
			row.Params = append(row.Params, q.Name)
		}
		v.Ops = append(v.Ops, row)
	}
	return s.renderTitled(c, http.StatusOK, "API reference", pages.APIReferencePage(v))
}
