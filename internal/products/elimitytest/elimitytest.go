// Package elimitytest is a SCIM 2.0 service provider for tests and
// benchmarks built on a third-party library, github.com/elimity-com/scim:
// its server parses the requests, validates every resource and PATCH
// operation against the RFC 7643 User (with the enterprise extension) and
// Group schemas, parses filters and writes the answers. This package only
// stores the resources in memory and adds what the library leaves to its
// callers: bearer tokens, userName / displayName uniqueness, ETags with
// If-Match, and applying PATCH operations. Nobody on this project wrote the
// protocol handling, so a misreading of the RFC in idsync's client shows.
package elimitytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	filter "github.com/scim2/filter-parser/v2"
)

// Resource is a stored User or Group, as the provider holds it.
type Resource struct {
	ID         string
	ExternalID string
	Version    int
	Attrs      map[string]any // attributes as validated by the library
}

// UserName returns the userName attribute.
func (r *Resource) UserName() string { s, _ := r.Attrs["userName"].(string); return s }

// DisplayName returns the displayName attribute.
func (r *Resource) DisplayName() string { s, _ := r.Attrs["displayName"].(string); return s }

// Active reports the active attribute (absent counts as true).
func (r *Resource) Active() bool {
	a, ok := r.Attrs["active"].(bool)
	return !ok || a
}

// Str returns a string attribute by dotted path ("name.givenName") or an
// enterprise attribute by its URN-prefixed name.
func (r *Resource) Str(path string) string {
	if strings.HasPrefix(path, schemaEnterprise+":") {
		m, _ := r.Attrs[schemaEnterprise].(map[string]any)
		s, _ := m[strings.TrimPrefix(path, schemaEnterprise+":")].(string)
		return s
	}
	parts := strings.SplitN(path, ".", 2)
	v := r.Attrs[parts[0]]
	if len(parts) == 2 {
		m, _ := v.(map[string]any)
		v = m[parts[1]]
	}
	s, _ := v.(string)
	return s
}

// Members returns the member ids of a Group, sorted.
func (r *Resource) Members() []string {
	var out []string
	list, _ := r.Attrs["members"].([]any)
	for _, m := range list {
		if mm, ok := m.(map[string]any); ok {
			if v, ok := mm["value"].(string); ok {
				out = append(out, v)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Op is one successful write, for order assertions.
type Op struct {
	Method   string // POST, PUT, PATCH, DELETE
	Type     string // User or Group
	Name     string // userName or displayName
	ID       string
	Body     string // the request body
	Response int
}

const schemaEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// Server is the provider; create it with New.
type Server struct {
	URL   string // base URL, e.g. http://127.0.0.1:1234/scim/v2
	Token string

	srv *httptest.Server
	h   http.Handler

	mu         sync.Mutex
	users      store
	groups     store
	ops        []Op
	violations []string
	fault      func(w http.ResponseWriter, r *http.Request) bool
	lose       func(r *http.Request) bool
}

type store struct {
	kind   string // User, Group
	key    string // unique attribute: userName, displayName
	byID   map[string]*Resource
	byKey  map[string]string // lower(key) → id
	nextID int
}

// New starts a provider on 127.0.0.1 that requires the bearer token; it is
// stopped by t.Cleanup.
func New(t testing.TB, token string) *Server {
	t.Helper()
	s := &Server{Token: token,
		users:  store{kind: "User", key: "userName", byID: map[string]*Resource{}, byKey: map[string]string{}},
		groups: store{kind: "Group", key: "displayName", byID: map[string]*Resource{}, byKey: map[string]string{}},
	}
	// httptest listens on 127.0.0.1; s.h is set before the first request.
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL + "/scim/v2"
	cfg := &scim.ServiceProviderConfig{
		SupportFiltering: true, SupportPatch: true, MaxResults: 200,
		AuthenticationSchemes: []scim.AuthenticationScheme{{Type: scim.AuthenticationTypeOauthBearerToken,
			Name: "OAuth Bearer Token", Description: "Authentication scheme using the OAuth Bearer Token Standard", Primary: true}},
	}
	srv, err := scim.NewServer(&scim.ServerArgs{
		ServiceProviderConfig: cfg,
		ResourceTypes: []scim.ResourceType{
			{ID: optional.NewString("User"), Name: "User", Endpoint: "/Users", Description: optional.NewString("User Account"),
				Schema:           schema.CoreUserSchema(),
				SchemaExtensions: []scim.SchemaExtension{{Schema: schema.ExtensionEnterpriseUser()}},
				Handler:          &handler{s: s, st: &s.users}},
			{ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups", Description: optional.NewString("Group"),
				Schema: schema.CoreGroupSchema(), Handler: &handler{s: s, st: &s.groups}},
		},
	}, scim.WithBaseURL(s.URL))
	if err != nil {
		t.Fatalf("elimitytest: %v", err)
	}
	s.mu.Lock()
	s.h = http.StripPrefix("/scim", srv)
	s.mu.Unlock()
	return s
}

// SetFault installs (or with nil removes) a hook that may answer a request
// itself (return true): 500s, delays, garbage.
func (s *Server) SetFault(f func(w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// SetLoseAnswer installs (or with nil removes) a hook: when it returns
// true the request is applied but answered 500, as when a provider fails
// after its database commit.
func (s *Server) SetLoseAnswer(f func(r *http.Request) bool) {
	s.mu.Lock()
	s.lose = f
	s.mu.Unlock()
}

// recorder keeps the status and the start of the body of an answer.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(c int) { r.status = c; r.ResponseWriter.WriteHeader(c) }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.body.Len() < 2048 {
		r.body.Write(b[:min(len(b), 2048)])
	}
	return r.ResponseWriter.Write(b)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	fault, lose := s.fault, s.lose
	s.mu.Unlock()
	if fault != nil && fault(w, r) {
		return
	}
	if lose != nil && lose(r) {
		s.mu.Lock()
		h := s.h
		s.mu.Unlock()
		op := &Op{}
		h.ServeHTTP(httptest.NewRecorder(), r.WithContext(context.WithValue(r.Context(), opKey{}, op))) // applied, answer dropped
		if op.Method != "" {
			op.Response = -1
			s.mu.Lock()
			s.ops = append(s.ops, *op)
			s.mu.Unlock()
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "internal error after commit")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		w.Header().Set("Content-Type", "application/scim+json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"401","detail":"missing or wrong bearer token"}`)
		return
	}
	if r.Body != nil && (r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch) {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
			s.violation(fmt.Sprintf("%s %s: Content-Type %q", r.Method, r.URL.Path, ct))
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &recorder{ResponseWriter: w}
	// The library parses and validates concurrently; its callbacks (the
	// handler's methods) take the lock, like a serialising database. The
	// op the callback recorded is matched to this request by its pointer.
	s.mu.Lock()
	h := s.h
	s.mu.Unlock()
	op := &Op{}
	h.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), opKey{}, op)))
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec.status == http.StatusBadRequest {
		s.violations = append(s.violations, fmt.Sprintf("%s %s %s → 400 %s", r.Method, r.URL.RequestURI(), body, rec.body.String()))
	}
	if op.Method != "" && rec.status >= 200 && rec.status < 300 {
		op.Response, op.Body = rec.status, string(body)
		s.ops = append(s.ops, *op)
	}
}

type opKey struct{}

func (s *Server) violation(v string) {
	s.mu.Lock()
	s.violations = append(s.violations, v)
	s.mu.Unlock()
}

// Violations returns the requests the library refused as bad (400/415).
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// Ops returns the successful writes of one resource type ("" for all).
func (s *Server) Ops(kind string) []Op {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Op
	for _, o := range s.ops {
		if kind == "" || o.Type == kind {
			out = append(out, o)
		}
	}
	return out
}

// OpCount returns the number of successful writes so far.
func (s *Server) OpCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ops)
}

func clone(r *Resource) *Resource {
	c := *r
	c.Attrs = deepCopy(r.Attrs).(map[string]any)
	return &c
}

// Users returns copies of the stored users by userName (lower case).
func (s *Server) Users() map[string]*Resource {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*Resource{}
	for _, u := range s.users.byID {
		out[strings.ToLower(u.UserName())] = clone(u)
	}
	return out
}

// UserByName returns a copy of the user, or nil.
func (s *Server) UserByName(name string) *Resource {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.users.byKey[strings.ToLower(name)]; ok {
		return clone(s.users.byID[id])
	}
	return nil
}

// Groups returns copies of the stored groups by displayName.
func (s *Server) Groups() map[string]*Resource {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*Resource{}
	for _, g := range s.groups.byID {
		out[g.DisplayName()] = clone(g)
	}
	return out
}

// PutUser stores a user directly, as if another client had created it
// (for adoption tests); it returns the id.
func (s *Server) PutUser(attrs map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.users
	st.nextID++
	id := fmt.Sprintf("%s-%06d", strings.ToLower(st.kind), st.nextID)
	r := &Resource{ID: id, Version: 1, Attrs: deepCopy(attrs).(map[string]any)}
	r.ExternalID, _ = attrs["externalId"].(string)
	st.byID[id] = r
	st.byKey[strings.ToLower(r.UserName())] = id
	return id
}

// handler implements scim.ResourceHandler over one store; the server's
// method takes the server's mutex.
type handler struct {
	s  *Server
	st *store
}

func etag(v int) string { return `W/"` + strconv.Itoa(v) + `"` }

func (h *handler) resource(r *Resource) scim.Resource {
	now := time.Now()
	attrs := deepCopy(r.Attrs).(map[string]any)
	delete(attrs, "externalId")
	res := scim.Resource{ID: r.ID, Attributes: attrs, Meta: scim.Meta{LastModified: &now, Version: etag(r.Version)}}
	if r.ExternalID != "" {
		res.ExternalID = optional.NewString(r.ExternalID)
	}
	return res
}

func (h *handler) checkMatch(req *http.Request, r *Resource) error {
	if im := req.Header.Get("If-Match"); im != "" && im != "*" && im != etag(r.Version) {
		return scimerrors.ScimError{Status: http.StatusPreconditionFailed, Detail: "version mismatch: have " + etag(r.Version)}
	}
	return nil
}

func (h *handler) keyOf(attrs map[string]any) string {
	v, _ := attrs[h.st.key].(string)
	return v
}

func (h *handler) unique(key, self string) error {
	if id, ok := h.st.byKey[strings.ToLower(key)]; ok && id != self {
		e := scimerrors.ScimErrorUniqueness
		e.Detail = h.st.key + " " + key + " is already taken"
		return e
	}
	return nil
}

func (h *handler) record(req *http.Request, method string, r *Resource) {
	if op, ok := req.Context().Value(opKey{}).(*Op); ok {
		*op = Op{Method: method, Type: h.st.kind, Name: h.keyOf(r.Attrs), ID: r.ID}
	}
}

func (h *handler) Create(req *http.Request, attrs scim.ResourceAttributes) (scim.Resource, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	key := h.keyOf(attrs)
	if err := h.unique(key, ""); err != nil {
		return scim.Resource{}, err
	}
	h.st.nextID++
	id := fmt.Sprintf("%s-%06d", strings.ToLower(h.st.kind), h.st.nextID)
	r := &Resource{ID: id, Version: 1, Attrs: map[string]any(attrs)}
	r.ExternalID, _ = attrs["externalId"].(string)
	h.st.byID[id] = r
	h.st.byKey[strings.ToLower(key)] = id
	h.record(req, http.MethodPost, r)
	return h.resource(r), nil
}

func (h *handler) Get(_ *http.Request, id string) (scim.Resource, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	r, ok := h.st.byID[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	return h.resource(r), nil
}

func (h *handler) GetAll(_ *http.Request, p scim.ListRequestParams) (scim.Page, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	var ids []string
	// `key eq "v"` (the lookups idsync makes): the index narrows the
	// candidates; the library's filter still decides.
	if e, ok := h.eqKey(p); ok {
		if id, found := h.st.byKey[strings.ToLower(e)]; found {
			ids = []string{id}
		}
	} else {
		ids = slices.Sorted(maps.Keys(h.st.byID))
	}
	var match []*Resource
	for _, id := range ids {
		r := h.st.byID[id]
		if p.FilterValidator != nil {
			m := maps.Clone(r.Attrs)
			m["id"] = r.ID
			if r.ExternalID != "" {
				m["externalId"] = r.ExternalID
			}
			if p.FilterValidator.PassesFilter(m) != nil {
				continue
			}
		}
		match = append(match, r)
	}
	page := scim.Page{TotalResults: len(match), Resources: []scim.Resource{}}
	start := max(p.StartIndex, 1) - 1
	for i := start; i < len(match) && i < start+p.Count; i++ {
		page.Resources = append(page.Resources, h.resource(match[i]))
	}
	return page, nil
}

// eqKey returns v for a filter `<unique key> eq "v"`.
func (h *handler) eqKey(p scim.ListRequestParams) (string, bool) {
	if p.FilterValidator == nil {
		return "", false
	}
	e, ok := p.FilterValidator.GetFilter().(*filter.AttributeExpression)
	if !ok || e.Operator != filter.EQ || e.AttributePath.URIPrefix != nil || e.AttributePath.SubAttribute != nil ||
		!strings.EqualFold(e.AttributePath.AttributeName, h.st.key) {
		return "", false
	}
	v, ok := e.CompareValue.(string)
	return v, ok
}

func (h *handler) Replace(req *http.Request, id string, attrs scim.ResourceAttributes) (scim.Resource, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	r, ok := h.st.byID[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	if err := h.checkMatch(req, r); err != nil {
		return scim.Resource{}, err
	}
	key := h.keyOf(attrs)
	if err := h.unique(key, id); err != nil {
		return scim.Resource{}, err
	}
	delete(h.st.byKey, strings.ToLower(h.keyOf(r.Attrs)))
	r.Attrs = map[string]any(attrs)
	r.ExternalID, _ = attrs["externalId"].(string)
	r.Version++
	h.st.byKey[strings.ToLower(key)] = id
	h.record(req, http.MethodPut, r)
	return h.resource(r), nil
}

func (h *handler) Delete(req *http.Request, id string) error {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	r, ok := h.st.byID[id]
	if !ok {
		return scimerrors.ScimErrorResourceNotFound(id)
	}
	if err := h.checkMatch(req, r); err != nil {
		return err
	}
	h.record(req, http.MethodDelete, r)
	delete(h.st.byID, id)
	delete(h.st.byKey, strings.ToLower(h.keyOf(r.Attrs)))
	// a deleted user leaves every group
	if h.st.kind == "User" {
		for _, g := range h.s.groups.byID {
			list, _ := g.Attrs["members"].([]any)
			kept := slices.DeleteFunc(slices.Clone(list), func(m any) bool {
				mm, _ := m.(map[string]any)
				return mm["value"] == id
			})
			if len(kept) != len(list) {
				g.Attrs["members"] = kept
				g.Version++
			}
		}
	}
	return nil
}

func (h *handler) Patch(req *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	r, ok := h.st.byID[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	if err := h.checkMatch(req, r); err != nil {
		return scim.Resource{}, err
	}
	attrs := deepCopy(r.Attrs).(map[string]any)
	for _, op := range ops {
		if err := applyOp(attrs, op); err != nil {
			e := scimerrors.ScimErrorInvalidPath
			e.Detail = err.Error()
			return scim.Resource{}, e
		}
	}
	key := h.keyOf(attrs)
	if strings.TrimSpace(key) == "" {
		e := scimerrors.ScimErrorInvalidValue
		e.Detail = h.st.key + " is required"
		return scim.Resource{}, e
	}
	if err := h.unique(key, id); err != nil {
		return scim.Resource{}, err
	}
	delete(h.st.byKey, strings.ToLower(h.keyOf(r.Attrs)))
	r.Attrs = attrs
	r.ExternalID, _ = attrs["externalId"].(string)
	r.Version++
	h.st.byKey[strings.ToLower(key)] = id
	h.record(req, http.MethodPatch, r)
	return h.resource(r), nil
}

// lookup finds a key case-insensitively (SCIM attribute names are).
func lookup(m map[string]any, name string) string {
	for k := range m {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return name
}

// applyOp applies one validated PATCH operation (RFC 7644 §3.5.2) to attrs.
func applyOp(attrs map[string]any, op scim.PatchOperation) error {
	if op.Path == nil {
		m, ok := op.Value.(map[string]any)
		if !ok {
			return fmt.Errorf("a PATCH without path needs an object value")
		}
		for k, v := range m {
			if strings.HasPrefix(k, "urn:") && strings.Count(k, ":") > 6 && !strings.HasSuffix(k, ":User") {
				// "urn:…:User:costCenter" as a key
				i := strings.LastIndex(k, ":")
				ext, _ := attrs[k[:i]].(map[string]any)
				if ext == nil {
					ext = map[string]any{}
				}
				ext[k[i+1:]] = v
				attrs[k[:i]] = ext
				continue
			}
			k = lookup(attrs, k)
			if sub, ok := v.(map[string]any); ok {
				cur, _ := attrs[k].(map[string]any)
				if cur == nil {
					cur = map[string]any{}
				}
				maps.Copy(cur, sub)
				attrs[k] = cur
				continue
			}
			if list, ok := v.([]any); ok && op.Op == scim.PatchOperationAdd {
				cur, _ := attrs[k].([]any)
				attrs[k] = appendUnique(cur, list)
				continue
			}
			attrs[k] = v
		}
		return nil
	}
	target := attrs
	ap := op.Path.AttributePath
	if uri := ap.URI(); uri != "" {
		ext, _ := attrs[uri].(map[string]any)
		if ext == nil {
			ext = map[string]any{}
			attrs[uri] = ext
		}
		target = ext
	}
	name := lookup(target, ap.AttributeName)
	sub := ap.SubAttributeName()
	if op.Path.SubAttribute != nil {
		sub = *op.Path.SubAttribute
	}
	if op.Path.ValueExpression != nil {
		list, _ := target[name].([]any)
		match, err := matcher(op.Path.ValueExpression)
		if err != nil {
			return err
		}
		var out []any
		hit := false
		for _, el := range list {
			m, _ := el.(map[string]any)
			if m == nil || !match(m) {
				out = append(out, el)
				continue
			}
			hit = true
			switch {
			case op.Op == scim.PatchOperationRemove && sub == "":
				// dropped
			case op.Op == scim.PatchOperationRemove:
				m = maps.Clone(m)
				delete(m, lookup(m, sub))
				out = append(out, m)
			case sub != "":
				m = maps.Clone(m)
				m[lookup(m, sub)] = op.Value
				out = append(out, m)
			default:
				v, _ := op.Value.(map[string]any)
				out = append(out, v)
			}
		}
		if !hit && op.Op != scim.PatchOperationRemove {
			return fmt.Errorf("no value of %s matches the filter", name)
		}
		if len(out) == 0 {
			delete(target, name)
		} else {
			target[name] = out
		}
		return nil
	}
	if sub != "" {
		cur, _ := target[name].(map[string]any)
		if op.Op == scim.PatchOperationRemove {
			delete(cur, lookup(cur, sub))
			return nil
		}
		if cur == nil {
			cur = map[string]any{}
		}
		cur[lookup(cur, sub)] = op.Value
		target[name] = cur
		return nil
	}
	switch {
	case op.Op == scim.PatchOperationRemove:
		delete(target, name)
	case op.Op == scim.PatchOperationAdd:
		if list, ok := op.Value.([]any); ok {
			cur, _ := target[name].([]any)
			target[name] = appendUnique(cur, list)
		} else if m, ok := op.Value.(map[string]any); ok {
			cur, _ := target[name].(map[string]any)
			if cur == nil {
				cur = map[string]any{}
			}
			maps.Copy(cur, m)
			target[name] = cur
		} else {
			target[name] = op.Value
		}
	default:
		target[name] = op.Value
	}
	return nil
}

// appendUnique adds values whose "value" is not there yet (members).
func appendUnique(cur, add []any) []any {
	out := slices.Clone(cur)
	for _, a := range add {
		am, _ := a.(map[string]any)
		dup := false
		for _, c := range out {
			cm, _ := c.(map[string]any)
			if am != nil && cm != nil && am["value"] != nil && am["value"] == cm["value"] {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, a)
		}
	}
	return out
}

// matcher supports what value filters in PATCH paths need:
// `sub eq "v"`, combined with and / or.
func matcher(e filter.Expression) (func(map[string]any) bool, error) {
	switch x := e.(type) {
	case *filter.AttributeExpression:
		if x.Operator != filter.EQ {
			return nil, fmt.Errorf("unsupported operator %s in a PATCH path", x.Operator)
		}
		name := x.AttributePath.AttributeName
		if x.AttributePath.SubAttribute != nil {
			name = *x.AttributePath.SubAttribute
		}
		return func(m map[string]any) bool {
			return fmt.Sprint(m[lookup(m, name)]) == fmt.Sprint(x.CompareValue)
		}, nil
	case *filter.LogicalExpression:
		l, err := matcher(x.Left)
		if err != nil {
			return nil, err
		}
		r, err := matcher(x.Right)
		if err != nil {
			return nil, err
		}
		if x.Operator == filter.AND {
			return func(m map[string]any) bool { return l(m) && r(m) }, nil
		}
		return func(m map[string]any) bool { return l(m) || r(m) }, nil
	}
	return nil, fmt.Errorf("unsupported filter %v in a PATCH path", e)
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case scim.ResourceAttributes:
		return deepCopy(map[string]any(x))
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	case json.Number:
		return x
	}
	return v
}
