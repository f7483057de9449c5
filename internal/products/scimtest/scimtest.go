// Package scimtest is a strict in-process SCIM 2.0 service provider
// (RFC 7643 / 7644 subset: Users and ServiceProviderConfig) for tests and
// benchmarks. It is written independently of the client in package
// products so that a misunderstanding of the RFC does not cancel out.
package scimtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const (
	schemaUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	schemaList       = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	schemaPatch      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	schemaError      = "urn:ietf:params:scim:api:messages:2.0:Error"
	schemaSPConfig   = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	contentType      = "application/scim+json"
)

// User is a stored SCIM user resource.
type User struct {
	ID       string
	UserName string
	Active   bool
	Version  int
	Raw      map[string]any // the last representation accepted
}

// Op is one successful write, for order assertions.
type Op struct {
	Method   string // POST, PUT, PATCH, DELETE
	UserName string
	Active   bool
}

// Server is the provider. Zero value is not usable: call New.
type Server struct {
	URL   string // base URL, e.g. http://127.0.0.1:1234/scim/v2
	Token string

	srv *httptest.Server

	mu     sync.Mutex
	users  map[string]*User
	byName map[string]string // lower(userName) → id
	nextID int
	ops    []Op
	errs   []string // protocol violations seen (requests refused with 400/415)
	// Fault, when set, may answer a request itself (return true): tests use
	// it for 500s, delays, garbage answers.
	fault func(w http.ResponseWriter, r *http.Request) bool
}

// New starts a provider on 127.0.0.1 requiring the bearer token; it is
// stopped by t.Cleanup.
func New(t testing.TB, token string) *Server {
	t.Helper()
	s := &Server{Token: token, users: map[string]*User{}, byName: map[string]string{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("scimtest: listen: %v", err)
	}
	s.srv = httptest.NewUnstartedServer(http.StripPrefix("/scim/v2", http.HandlerFunc(s.serve)))
	s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.Start()
	s.URL = s.srv.URL + "/scim/v2"
	t.Cleanup(s.srv.Close)
	return s
}

// SetFault installs (or with nil removes) a fault hook.
func (s *Server) SetFault(f func(w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// Ops returns the successful writes for userName (all when ""), in order.
func (s *Server) Ops(userName string) []Op {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Op
	for _, o := range s.ops {
		if userName == "" || strings.EqualFold(o.UserName, userName) {
			out = append(out, o)
		}
	}
	return out
}

// Violations returns the protocol errors the provider refused.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.errs)
}

// UserByName returns a copy of the stored user, or nil.
func (s *Server) UserByName(name string) *User {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byName[strings.ToLower(name)]
	if !ok {
		return nil
	}
	u := *s.users[id]
	return &u
}

// All returns copies of every stored user.
func (s *Server) All() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, *u)
	}
	return out
}

// Count returns the number of stored users.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.users)
}

func (s *Server) scimError(w http.ResponseWriter, status int, scimType, detail string) {
	if status == http.StatusBadRequest || status == http.StatusUnsupportedMediaType {
		s.errs = append(s.errs, detail)
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	body := map[string]any{"schemas": []string{schemaError}, "status": strconv.Itoa(status), "detail": detail}
	if scimType != "" {
		body["scimType"] = scimType
	}
	_ = json.NewEncoder(w).Encode(body)
}

func etag(v int) string { return fmt.Sprintf(`W/"%d"`, v) }

func (s *Server) writeUser(w http.ResponseWriter, status int, u *User) {
	body := map[string]any{}
	for k, v := range u.Raw {
		body[k] = v
	}
	body["id"] = u.ID
	body["meta"] = map[string]any{"resourceType": "User", "version": etag(u.Version), "location": s.URL + "/Users/" + u.ID}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("ETag", etag(u.Version))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	fault := s.fault
	s.mu.Unlock()
	if fault != nil && fault(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		s.scimError(w, http.StatusUnauthorized, "", "missing or wrong bearer token")
		return
	}
	switch {
	case r.URL.Path == "/ServiceProviderConfig" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", contentType)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"schemas":        []string{schemaSPConfig},
			"patch":          map[string]any{"supported": true},
			"bulk":           map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
			"filter":         map[string]any{"supported": true, "maxResults": 200},
			"changePassword": map[string]any{"supported": false},
			"sort":           map[string]any{"supported": false},
			"etag":           map[string]any{"supported": true},
			"authenticationSchemes": []map[string]any{{"type": "oauthbearertoken", "name": "OAuth Bearer Token",
				"description": "Authentication scheme using the OAuth Bearer Token Standard"}},
		})
	case r.URL.Path == "/Users" && r.Method == http.MethodGet:
		s.search(w, r)
	case r.URL.Path == "/Users" && r.Method == http.MethodPost:
		s.create(w, r)
	case strings.HasPrefix(r.URL.Path, "/Users/"):
		id := strings.TrimPrefix(r.URL.Path, "/Users/")
		u, ok := s.users[id]
		if !ok {
			s.scimError(w, http.StatusNotFound, "", "Resource "+id+" not found")
			return
		}
		if r.Method != http.MethodGet {
			if im := r.Header.Get("If-Match"); im != "" && im != "*" && im != etag(u.Version) {
				s.scimError(w, http.StatusPreconditionFailed, "", "version mismatch")
				return
			}
		}
		switch r.Method {
		case http.MethodGet:
			s.writeUser(w, http.StatusOK, u)
		case http.MethodPut:
			s.replace(w, r, u)
		case http.MethodPatch:
			s.patch(w, r, u)
		case http.MethodDelete:
			delete(s.users, id)
			delete(s.byName, strings.ToLower(u.UserName))
			s.ops = append(s.ops, Op{Method: http.MethodDelete, UserName: u.UserName})
			w.WriteHeader(http.StatusNoContent)
		default:
			s.scimError(w, http.StatusMethodNotAllowed, "", "method not allowed")
		}
	default:
		s.scimError(w, http.StatusNotFound, "", "no such endpoint")
	}
}

// ParseUserNameFilter parses exactly `userName eq "value"` (attribute and
// operator case-insensitive, value a JSON string) and returns the value.
func ParseUserNameFilter(f string) (string, error) {
	f = strings.TrimSpace(f)
	i := strings.IndexByte(f, ' ')
	if i < 0 || !strings.EqualFold(f[:i], "userName") {
		return "", errors.New("only userName filters are supported")
	}
	rest := strings.TrimLeft(f[i:], " ")
	j := strings.IndexByte(rest, ' ')
	if j < 0 || !strings.EqualFold(rest[:j], "eq") {
		return "", errors.New("only the eq operator is supported")
	}
	lit := strings.TrimLeft(rest[j:], " ")
	if !strings.HasPrefix(lit, `"`) {
		return "", errors.New("the value must be a quoted string")
	}
	dec := json.NewDecoder(strings.NewReader(lit))
	var v string
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("bad string literal: %w", err)
	}
	if strings.TrimSpace(lit[dec.InputOffset():]) != "" {
		return "", errors.New("unexpected text after the value")
	}
	return v, nil
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	res := []any{}
	if f := r.URL.Query().Get("filter"); f != "" {
		name, err := ParseUserNameFilter(f)
		if err != nil {
			s.scimError(w, http.StatusBadRequest, "invalidFilter", err.Error())
			return
		}
		if id, ok := s.byName[strings.ToLower(name)]; ok {
			u := s.users[id]
			body := map[string]any{}
			for k, v := range u.Raw {
				body[k] = v
			}
			body["id"] = u.ID
			body["meta"] = map[string]any{"resourceType": "User", "version": etag(u.Version)}
			res = append(res, body)
		}
	} else {
		s.scimError(w, http.StatusBadRequest, "tooMany", "a filter is required")
		return
	}
	w.Header().Set("Content-Type", contentType)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"schemas": []string{schemaList}, "totalResults": len(res), "itemsPerPage": len(res), "startIndex": 1, "Resources": res,
	})
}

// readUser checks content type and schemas and returns the body.
func (s *Server) readUser(w http.ResponseWriter, r *http.Request) (map[string]any, string, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != contentType {
		s.scimError(w, http.StatusUnsupportedMediaType, "", "Content-Type must be "+contentType+", got "+r.Header.Get("Content-Type"))
		return nil, "", false
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		s.scimError(w, http.StatusBadRequest, "invalidSyntax", "cannot read body")
		return nil, "", false
	}
	var body map[string]any
	if err := json.Unmarshal(data, &body); err != nil {
		s.scimError(w, http.StatusBadRequest, "invalidSyntax", "body is not a JSON object")
		return nil, "", false
	}
	schemas, _ := body["schemas"].([]any)
	var names []string
	for _, v := range schemas {
		if sv, ok := v.(string); ok {
			names = append(names, sv)
		}
	}
	if !slices.Contains(names, schemaUser) {
		s.scimError(w, http.StatusBadRequest, "invalidValue", "schemas must include "+schemaUser)
		return nil, "", false
	}
	for _, n := range names {
		if n != schemaUser && n != schemaEnterprise {
			s.scimError(w, http.StatusBadRequest, "invalidValue", "unknown schema "+n)
			return nil, "", false
		}
	}
	for k := range body {
		if strings.HasPrefix(k, "urn:") && !slices.Contains(names, k) {
			s.scimError(w, http.StatusBadRequest, "invalidValue", "extension "+k+" used but not listed in schemas")
			return nil, "", false
		}
	}
	if ext, ok := body[schemaEnterprise]; ok {
		m, ok := ext.(map[string]any)
		if !ok {
			s.scimError(w, http.StatusBadRequest, "invalidValue", "enterprise extension must be an object")
			return nil, "", false
		}
		for k := range m {
			switch k {
			case "employeeNumber", "costCenter", "organization", "division", "department", "manager":
			default:
				s.scimError(w, http.StatusBadRequest, "invalidPath", "unknown enterprise attribute "+k)
				return nil, "", false
			}
		}
	}
	name, _ := body["userName"].(string)
	if strings.TrimSpace(name) == "" {
		s.scimError(w, http.StatusBadRequest, "invalidValue", "userName is required")
		return nil, "", false
	}
	if a, ok := body["active"]; ok {
		if _, ok := a.(bool); !ok {
			s.scimError(w, http.StatusBadRequest, "invalidValue", "active must be a boolean")
			return nil, "", false
		}
	}
	delete(body, "id")
	delete(body, "meta")
	return body, name, true
}

func active(body map[string]any) bool {
	a, ok := body["active"].(bool)
	return !ok || a
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	body, name, ok := s.readUser(w, r)
	if !ok {
		return
	}
	if _, taken := s.byName[strings.ToLower(name)]; taken {
		s.scimError(w, http.StatusConflict, "uniqueness", "userName "+name+" is already taken")
		return
	}
	s.nextID++
	u := &User{ID: fmt.Sprintf("u%06d", s.nextID), UserName: name, Active: active(body), Version: 1, Raw: body}
	s.users[u.ID] = u
	s.byName[strings.ToLower(name)] = u.ID
	s.ops = append(s.ops, Op{Method: http.MethodPost, UserName: name, Active: u.Active})
	s.writeUser(w, http.StatusCreated, u)
}

func (s *Server) replace(w http.ResponseWriter, r *http.Request, u *User) {
	body, name, ok := s.readUser(w, r)
	if !ok {
		return
	}
	if id, taken := s.byName[strings.ToLower(name)]; taken && id != u.ID {
		s.scimError(w, http.StatusConflict, "uniqueness", "userName "+name+" is already taken")
		return
	}
	delete(s.byName, strings.ToLower(u.UserName))
	u.UserName, u.Active, u.Raw = name, active(body), body
	u.Version++
	s.byName[strings.ToLower(name)] = u.ID
	s.ops = append(s.ops, Op{Method: http.MethodPut, UserName: name, Active: u.Active})
	s.writeUser(w, http.StatusOK, u)
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request, u *User) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != contentType {
		s.scimError(w, http.StatusUnsupportedMediaType, "", "Content-Type must be "+contentType)
		return
	}
	var body struct {
		Schemas    []string `json:"schemas"`
		Operations []struct {
			Op    string `json:"op"`
			Path  string `json:"path"`
			Value any    `json:"value"`
		} `json:"Operations"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		s.scimError(w, http.StatusBadRequest, "invalidSyntax", "body is not a PatchOp")
		return
	}
	if !slices.Equal(body.Schemas, []string{schemaPatch}) || len(body.Operations) == 0 {
		s.scimError(w, http.StatusBadRequest, "invalidValue", "schemas must be ["+schemaPatch+"] with Operations")
		return
	}
	raw := cloneMap(u.Raw)
	for _, op := range body.Operations {
		if err := applyPatch(raw, strings.ToLower(op.Op), op.Path, op.Value); err != nil {
			s.scimError(w, http.StatusBadRequest, "invalidPath", err.Error())
			return
		}
	}
	name, _ := raw["userName"].(string)
	if strings.TrimSpace(name) == "" {
		s.scimError(w, http.StatusBadRequest, "invalidValue", "userName is required")
		return
	}
	if id, taken := s.byName[strings.ToLower(name)]; taken && id != u.ID {
		s.scimError(w, http.StatusConflict, "uniqueness", "userName "+name+" is already taken")
		return
	}
	if a, ok := raw["active"]; ok {
		if _, ok := a.(bool); !ok {
			s.scimError(w, http.StatusBadRequest, "invalidValue", "active must be a boolean")
			return
		}
	}
	delete(s.byName, strings.ToLower(u.UserName))
	s.byName[strings.ToLower(name)] = u.ID
	u.UserName, u.Raw, u.Active = name, raw, active(raw)
	u.Version++
	s.ops = append(s.ops, Op{Method: http.MethodPatch, UserName: u.UserName, Active: u.Active})
	s.writeUser(w, http.StatusOK, u)
}

func cloneMap(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	if out == nil {
		out = map[string]any{}
	}
	return out
}

// Attributes a PATCH may target, by path (RFC 7643 §4.1 subset).
var patchable = map[string]bool{
	"userName": true, "externalId": true, "displayName": true, "nickName": true, "title": true, "active": true,
	"name.formatted": true, "name.givenName": true, "name.familyName": true, "emails": true,
}

// applyPatch applies one operation with the paths this provider supports:
// a core attribute, name.<sub>, an enterprise attribute by its URN-prefixed
// name, emails, and emails[type eq "work"] (optionally .value).
func applyPatch(raw map[string]any, op, path string, value any) error {
	if op != "add" && op != "replace" && op != "remove" {
		return fmt.Errorf("unsupported op %q", op)
	}
	if path == "" {
		return errors.New("a path is required")
	}
	if (op == "add" || op == "replace") && value == nil {
		return fmt.Errorf("%s %s needs a value", op, path)
	}
	if ent, ok := strings.CutPrefix(path, schemaEnterprise+":"); ok {
		switch ent {
		case "employeeNumber", "costCenter", "organization", "division", "department":
		default:
			return fmt.Errorf("unknown enterprise attribute %q", ent)
		}
		m, _ := raw[schemaEnterprise].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		if op == "remove" {
			delete(m, ent)
		} else {
			v, ok := value.(string)
			if !ok {
				return fmt.Errorf("%s must be a string", path)
			}
			m[ent] = v
		}
		if len(m) == 0 {
			delete(raw, schemaEnterprise)
		} else {
			raw[schemaEnterprise] = m
		}
		return nil
	}
	const work = `emails[type eq "work"]`
	if path == work || path == work+".value" {
		list, _ := raw["emails"].([]any)
		var out []any
		hit := false
		for _, e := range list {
			m, _ := e.(map[string]any)
			if m == nil || m["type"] != "work" {
				out = append(out, e)
				continue
			}
			hit = true
			switch {
			case op == "remove" && path == work:
			case path == work+".value":
				v, ok := value.(string)
				if !ok || v == "" {
					return errors.New("an e-mail value must be a non-empty string")
				}
				m["value"] = v
				out = append(out, m)
			default:
				return fmt.Errorf("unsupported %s of %s", op, path)
			}
		}
		if !hit && op == "replace" {
			return fmt.Errorf("no work e-mail to replace (noTarget)")
		}
		if len(out) == 0 {
			delete(raw, "emails")
		} else {
			raw["emails"] = out
		}
		return nil
	}
	if !patchable[path] {
		return fmt.Errorf("unsupported path %q", path)
	}
	if sub, ok := strings.CutPrefix(path, "name."); ok {
		m, _ := raw["name"].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		if op == "remove" {
			delete(m, sub)
		} else {
			v, ok := value.(string)
			if !ok {
				return fmt.Errorf("%s must be a string", path)
			}
			m[sub] = v
		}
		raw["name"] = m
		return nil
	}
	switch {
	case op == "remove":
		delete(raw, path)
	case path == "emails":
		list, ok := value.([]any)
		if !ok {
			return errors.New("emails must be a list")
		}
		cur, _ := raw["emails"].([]any)
		if op == "replace" {
			cur = nil
		}
		raw["emails"] = append(cur, list...)
	case path == "active":
		if _, ok := value.(bool); !ok {
			return errors.New("active must be a boolean")
		}
		raw[path] = value
	default:
		if _, ok := value.(string); !ok {
			return fmt.Errorf("%s must be a string", path)
		}
		raw[path] = value
	}
	return nil
}
