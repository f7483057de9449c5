package products

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/idsync/idsync/internal/model"
)

// SCIM 2.0 (RFC 7643 / 7644) names used by the client.
const (
	SchemaUser         = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaGroup        = "urn:ietf:params:scim:schemas:core:2.0:Group"
	SchemaEnterprise   = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	SchemaListResponse = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	SchemaPatchOp      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SchemaError        = "urn:ietf:params:scim:api:messages:2.0:Error"
	SchemaSPConfig     = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	ContentTypeSCIM    = "application/scim+json"
)

// MaxAnswer is the largest provider answer read; a longer one is a failed
// attempt ("answer larger than 1 MiB"), not a truncated parse.
const MaxAnswer = 1 << 20

// ValidSCIMField reports whether f may be the target of an attribute
// mapping: a field of the enterprise extension, or the core "title".
func ValidSCIMField(f string) bool {
	switch f {
	case "employeeNumber", "costCenter", "organization", "division", "department", "title":
		return true
	}
	return false
}

// errInvalidAnswer marks answers that are not valid SCIM.
var errInvalidAnswer = errors.New("invalid SCIM answer")

// httpError is a provider's answer with an unexpected status.
type httpError struct {
	Status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// Permanent reports whether retrying the same request cannot help: a 4xx
// other than 404 (gone: handled), 409 / 412 (conflicts: handled), 429
// (slow down), and 401 / 403 (credentials: the product is failing).
func (e *httpError) Permanent() bool {
	switch e.Status {
	case http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed, http.StatusTooManyRequests,
		http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout:
		return false
	}
	return e.Status >= 400 && e.Status < 500
}

// Credentials reports a 401 / 403: the product refuses idsync itself.
func (e *httpError) Credentials() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}

// conflictError is a provider account that idsync must not take over: it
// needs an admin's attention, not a retry.
type conflictError struct{ msg string }

func (e *conflictError) Error() string { return e.msg }

type scimUser struct {
	Schemas     []string       `json:"schemas"`
	ID          string         `json:"id,omitempty"`
	ExternalID  string         `json:"externalId,omitempty"`
	UserName    string         `json:"userName"`
	DisplayName string         `json:"displayName,omitempty"`
	Name        *scimName      `json:"name,omitempty"`
	Title       string         `json:"title,omitempty"`
	Emails      []scimEmail    `json:"emails,omitempty"`
	Active      *bool          `json:"active,omitempty"`
	Enterprise  map[string]any `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User,omitempty"`
	Meta        *scimMeta      `json:"meta,omitempty"`
}

type scimName struct {
	Formatted  string `json:"formatted,omitempty"`
	GivenName  string `json:"givenName,omitempty"`
	FamilyName string `json:"familyName,omitempty"`
}

type scimEmail struct {
	Value   string `json:"value"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
}

type scimMeta struct {
	ResourceType string `json:"resourceType,omitempty"`
	Version      string `json:"version,omitempty"`
	Location     string `json:"location,omitempty"`
}

type scimList struct {
	Schemas      []string          `json:"schemas"`
	TotalResults *int              `json:"totalResults"`
	Resources    []json.RawMessage `json:"Resources"`
}

// userDoc is the part of a SCIM user idsync manages, flat: attribute path
// → value (string, or bool for "active"). "emails" is the work address.
// It is what a PATCH is computed from and what the outbox keeps as the
// pair's delivered_doc.
type userDoc map[string]any

const (
	docEmails = "emails"
	docActive = "active"
)

// buildDoc is what the product should hold for u.
func buildDoc(p *model.Product, u *model.User, active bool) userDoc {
	d := userDoc{"userName": u.Username, "externalId": strconv.FormatInt(u.ID, 10), docActive: active}
	set := func(k, v string) {
		if v = strings.TrimSpace(v); v != "" {
			d[k] = v
		}
	}
	set("displayName", u.DisplayName)
	set("name.formatted", u.DisplayName)
	set("name.givenName", u.Attributes[model.AttrGivenName])
	set("name.familyName", u.Attributes[model.AttrFamilyName])
	set(docEmails, u.Email)
	for k, field := range p.AttributeMap {
		if !ValidSCIMField(field) {
			continue
		}
		if field == "title" {
			set("title", u.Attributes[k])
		} else {
			set(SchemaEnterprise+":"+field, u.Attributes[k])
		}
	}
	return d
}

func (d userDoc) str(k string) string { s, _ := d[k].(string); return s }

// resource renders the doc as a full SCIM User (POST, PUT).
func (d userDoc) resource() scimUser {
	r := scimUser{Schemas: []string{SchemaUser}, UserName: d.str("userName"), ExternalID: d.str("externalId"),
		DisplayName: d.str("displayName"), Title: d.str("title")}
	a, _ := d[docActive].(bool)
	r.Active = &a
	n := scimName{Formatted: d.str("name.formatted"), GivenName: d.str("name.givenName"), FamilyName: d.str("name.familyName")}
	if n != (scimName{}) {
		r.Name = &n
	}
	if e := d.str(docEmails); e != "" {
		r.Emails = []scimEmail{{Value: e, Type: "work", Primary: true}}
	}
	for k, v := range d {
		if f, ok := strings.CutPrefix(k, SchemaEnterprise+":"); ok {
			if r.Enterprise == nil {
				r.Enterprise = map[string]any{}
			}
			r.Enterprise[f] = v
		}
	}
	if r.Enterprise != nil {
		r.Schemas = append(r.Schemas, SchemaEnterprise)
	}
	return r
}

// docOf reads the managed part of a provider's user (adoption, and pairs
// with no delivered doc): the PATCH is computed against what is there.
func docOf(u *scimUser) userDoc {
	d := userDoc{"userName": u.UserName}
	set := func(k, v string) {
		if v != "" {
			d[k] = v
		}
	}
	set("externalId", u.ExternalID)
	set("displayName", u.DisplayName)
	set("title", u.Title)
	if u.Name != nil {
		set("name.formatted", u.Name.Formatted)
		set("name.givenName", u.Name.GivenName)
		set("name.familyName", u.Name.FamilyName)
	}
	for _, e := range u.Emails {
		if strings.EqualFold(e.Type, "work") {
			set(docEmails, e.Value)
			break
		}
	}
	for k, v := range u.Enterprise {
		if s, ok := v.(string); ok && ValidSCIMField(k) {
			set(SchemaEnterprise+":"+k, s)
		}
	}
	d[docActive] = u.Active == nil || *u.Active
	return d
}

func (d userDoc) encode() string {
	b, _ := json.Marshal(d)
	return string(b)
}

func decodeDoc(s string) userDoc {
	if s == "" {
		return nil
	}
	var d userDoc
	if json.Unmarshal([]byte(s), &d) != nil {
		return nil
	}
	return d
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// patchOps returns the operations that bring a provider holding old to
// want. Only attributes idsync manages are touched, and an attribute is
// removed only when idsync set it itself (it is in owned, the doc last
// delivered): attributes someone else set at the provider stay.
func patchOps(old, want, owned userDoc) []patchOp {
	var ops []patchOp
	keys := make([]string, 0, len(want)+len(old))
	for k := range want {
		keys = append(keys, k)
	}
	for k := range old {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	const workEmail = `emails[type eq "work"]`
	for _, k := range keys {
		w, inWant := want[k]
		o, inOld := old[k]
		switch {
		case inWant && inOld && w == o:
		case inWant && k == docEmails && inOld:
			ops = append(ops, patchOp{Op: "replace", Path: workEmail + ".value", Value: w})
		case inWant && k == docEmails:
			ops = append(ops, patchOp{Op: "add", Path: docEmails, Value: []scimEmail{{Value: w.(string), Type: "work", Primary: true}}})
		case inWant:
			ops = append(ops, patchOp{Op: "replace", Path: k, Value: w})
		case owned[k] == nil:
			// not set by idsync: leave it
		case k == docEmails:
			ops = append(ops, patchOp{Op: "remove", Path: workEmail})
		default:
			ops = append(ops, patchOp{Op: "remove", Path: k})
		}
	}
	return ops
}

// FilterUserName returns the SCIM filter `userName eq "name"` with quotes
// and backslashes escaped as JSON strings are (RFC 7644 §3.4.2.2).
func FilterUserName(name string) string { return filterEq("userName", name) }

func filterEq(attr, value string) string {
	var b strings.Builder
	b.WriteString(attr + ` eq "`)
	for _, r := range value {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// exchange is one HTTP request/answer, kept for the delivery log.
type exchange struct {
	Method, URL string
	Status      int
	Req, Resp   []byte
	Header      http.Header
	Err         string // transport error, "" when answered
	At          time.Time
	Latency     time.Duration
}

func (e *exchange) failed() bool { return e.Err != "" || e.Status < 200 || e.Status > 299 }

type scimClient struct {
	hc    *http.Client
	base  string
	token string
	// log is every exchange of one delivery, in order.
	log []exchange
}

func (c *scimClient) last() *exchange {
	if len(c.log) == 0 {
		return nil
	}
	return &c.log[len(c.log)-1]
}

func (c *scimClient) do(ctx context.Context, method, path string, body any, ifMatch string) (*exchange, error) {
	var reqBody []byte
	if body != nil {
		var err error
		if reqBody, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("encode: %w", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(reqBody))
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Accept", ContentTypeSCIM)
	req.Header.Set("User-Agent", "idsync")
	if body != nil {
		req.Header.Set("Content-Type", ContentTypeSCIM)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	start := time.Now()
	c.log = append(c.log, exchange{Method: method, URL: c.base + path, Req: reqBody, At: start.UTC()})
	ex := &c.log[len(c.log)-1]
	resp, err := c.hc.Do(req)
	if err != nil {
		ex.Err, ex.Latency = err.Error(), time.Since(start)
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer+1))
	ex.Status, ex.Header, ex.Latency = resp.StatusCode, resp.Header, time.Since(start)
	if err != nil {
		ex.Err = err.Error()
		return nil, fmt.Errorf("%s %s: read answer: %w", method, ex.URL, err)
	}
	if len(data) > MaxAnswer {
		ex.Resp = data[:4096]
		ex.Err = "answer larger than 1 MiB"
		return nil, fmt.Errorf("%w: %s %s answered %d with more than 1 MiB", errInvalidAnswer, method, ex.URL, resp.StatusCode)
	}
	ex.Resp = data
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return nil, &httpError{Status: resp.StatusCode, msg: fmt.Sprintf("%s %s answered %d, a redirect to %q: redirects are not followed (check the base URL)",
			method, ex.URL, resp.StatusCode, truncate(resp.Header.Get("Location"), 200))}
	}
	cp := *ex
	return &cp, nil
}

// checkSCIMJSON requires a SCIM or JSON content type and a body.
func checkSCIMJSON(ex *exchange) error {
	ct := ex.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != ContentTypeSCIM && mt != "application/json") {
		return fmt.Errorf("%w: %s %s answered %d with content type %q, not %s", errInvalidAnswer, ex.Method, ex.URL, ex.Status, ct, ContentTypeSCIM)
	}
	if len(bytes.TrimSpace(ex.Resp)) == 0 {
		return fmt.Errorf("%w: %s %s answered %d with an empty body", errInvalidAnswer, ex.Method, ex.URL, ex.Status)
	}
	return nil
}

// ParseUser decodes and checks a User resource answer (exported for the
// fuzz test's sake via parseUserBody).
func parseUser(ex *exchange) (*scimUser, error) {
	if err := checkSCIMJSON(ex); err != nil {
		return nil, err
	}
	return parseUserBody(ex.Resp)
}

func parseUserBody(body []byte) (*scimUser, error) {
	var u scimUser
	if err := json.Unmarshal(body, &u); err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidAnswer, err)
	}
	if !slices.Contains(u.Schemas, SchemaUser) {
		return nil, fmt.Errorf("%w: resource lacks the User schema", errInvalidAnswer)
	}
	if u.ID == "" {
		return nil, fmt.Errorf("%w: resource has no id", errInvalidAnswer)
	}
	return &u, nil
}

// checkSame refuses an answer about another user than the one asked for.
func checkSame(su *scimUser, userName, id string) error {
	if id != "" && su.ID != id {
		return fmt.Errorf("%w: asked for user %q, the answer is user %q", errInvalidAnswer, id, truncate(su.ID, 100))
	}
	if userName != "" && su.UserName != "" && !strings.EqualFold(su.UserName, userName) {
		return fmt.Errorf("%w: the answer is about userName %q, not %q", errInvalidAnswer, truncate(su.UserName, 100), userName)
	}
	return nil
}

// checkLocation refuses a Location header that does not name the created
// resource under the product's base URL.
func (c *scimClient) checkLocation(ex *exchange, kind, id string) error {
	loc := ex.Header.Get("Location")
	if loc == "" {
		return nil
	}
	want := c.base + "/" + kind + "/" + url.PathEscape(id)
	lu, err := url.Parse(loc)
	if err == nil && !lu.IsAbs() { // relative: resolve against the base
		if b, err2 := url.Parse(c.base + "/"); err2 == nil {
			lu = b.ResolveReference(lu)
		}
	}
	if err != nil || !sameURL(lu.String(), want) {
		return fmt.Errorf("%w: the Location header %q is not %s", errInvalidAnswer, truncate(loc, 200), want)
	}
	return nil
}

func sameURL(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host) &&
		strings.TrimRight(ua.EscapedPath(), "/") == strings.TrimRight(ub.EscapedPath(), "/")
}

func etagOf(ex *exchange, u *scimUser) string {
	if e := ex.Header.Get("ETag"); e != "" {
		return e
	}
	if u != nil && u.Meta != nil {
		return u.Meta.Version
	}
	return ""
}

// parseList decodes a ListResponse.
func parseList(ex *exchange) (*scimList, error) {
	if err := checkSCIMJSON(ex); err != nil {
		return nil, err
	}
	return parseListBody(ex.Resp)
}

func parseListBody(body []byte) (*scimList, error) {
	var l scimList
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidAnswer, err)
	}
	if !slices.Contains(l.Schemas, SchemaListResponse) || l.TotalResults == nil {
		return nil, fmt.Errorf("%w: not a ListResponse", errInvalidAnswer)
	}
	return &l, nil
}

// find looks a user up by userName; nil when there is none.
func (c *scimClient) find(ctx context.Context, userName string) (*scimUser, string, error) {
	ex, err := c.do(ctx, http.MethodGet, "/Users?filter="+url.QueryEscape(FilterUserName(userName)), nil, "")
	if err != nil {
		return nil, "", err
	}
	if ex.Status != http.StatusOK {
		return nil, "", statusErr(ex)
	}
	l, err := parseList(ex)
	if err != nil {
		return nil, "", err
	}
	var found *scimUser
	for _, raw := range l.Resources {
		var u scimUser
		if err := json.Unmarshal(raw, &u); err != nil {
			return nil, "", fmt.Errorf("%w: %w", errInvalidAnswer, err)
		}
		if !strings.EqualFold(u.UserName, userName) || u.ID == "" {
			continue // a provider that ignored the filter
		}
		if found != nil && found.ID != u.ID {
			return nil, "", &conflictError{fmt.Sprintf("the provider has two users named %q (%s and %s)", userName, found.ID, u.ID)}
		}
		found = &u
	}
	if found == nil {
		return nil, "", nil
	}
	v := ""
	if found.Meta != nil {
		v = found.Meta.Version
	}
	return found, v, nil
}

func statusErr(ex *exchange) error {
	msg := ""
	var e struct {
		Detail   string `json:"detail"`
		ScimType string `json:"scimType"`
	}
	if json.Unmarshal(ex.Resp, &e) == nil && e.Detail != "" {
		msg = ": " + truncate(e.Detail, 200)
		if e.ScimType != "" {
			msg += " (" + truncate(e.ScimType, 40) + ")"
		}
	}
	return &httpError{Status: ex.Status, msg: fmt.Sprintf("%s %s answered %d%s", ex.Method, ex.URL, ex.Status, msg)}
}

// scimResult is what one SCIM delivery did.
type scimResult struct {
	remoteID, etag string
	doc            userDoc // idsync's attributes now at the product; nil after a delete
	gone           bool
}

// adopt checks that an existing provider account may become this user's:
// its externalId must be empty or this user's id.
func adopt(su *scimUser, externalID string) error {
	if su.ExternalID != "" && su.ExternalID != externalID {
		return &conflictError{fmt.Sprintf("the provider's account %q (id %s) belongs to externalId %q, not this user (%s): "+
			"not taken over; drop this delivery, or clear the account's externalId at the provider and retry",
			truncate(su.UserName, 100), truncate(su.ID, 100), truncate(su.ExternalID, 100), externalID)}
	}
	return nil
}

// deliverSCIM brings the product to the latest state of the pair: u is nil
// when the user no longer exists.
func deliverSCIM(ctx context.Context, c *scimClient, p *model.Product, cl model.DeliveryClaim, u *model.User) (scimResult, error) {
	res := scimResult{remoteID: cl.RemoteID, etag: cl.RemoteVersion}
	owned := decodeDoc(cl.DeliveredDoc) // what idsync delivered last
	var remote userDoc                  // what the provider was seen to hold
	userName := cl.Username
	if u != nil {
		userName = u.Username
	}
	externalID := strconv.FormatInt(cl.UserID, 10)
	// found adopts the account a lookup found, unless it is someone else's.
	found := func(su *scimUser, etag string) error {
		if err := adopt(su, externalID); err != nil {
			return err
		}
		res.remoteID, res.etag, remote = su.ID, etag, docOf(su)
		return nil
	}
	locate := func() error {
		if res.remoteID != "" {
			return nil
		}
		su, etag, err := c.find(ctx, userName)
		if err != nil || su == nil {
			return err
		}
		return found(su, etag)
	}
	if cl.Deleted || u == nil {
		if err := locate(); err != nil {
			var he *httpError
			if errors.As(err, &he) && he.Permanent() && cl.DeliveredVersion == 0 && cl.RemoteID == "" {
				// Never delivered, and the provider refuses the lookup:
				// the delete resolves the pair (nothing idsync knows of
				// is there to delete).
				res.gone = true
				return res, nil
			}
			return res, err
		}
		res.gone = true
		if res.remoteID == "" {
			return res, nil // never existed there: nothing to delete
		}
		ex, err := c.do(ctx, http.MethodDelete, "/Users/"+url.PathEscape(res.remoteID), nil, "")
		if err != nil {
			return res, err
		}
		if ex.Status != http.StatusNoContent && ex.Status != http.StatusOK && ex.Status != http.StatusNotFound {
			return res, statusErr(ex)
		}
		res.remoteID, res.etag = "", ""
		return res, nil
	}
	active := cl.Assigned && u.Status == model.StatusActive
	want := buildDoc(p, u, active)
	if err := locate(); err != nil {
		return res, err
	}
	if !active && res.remoteID == "" {
		return res, nil // not at the product: nothing to deactivate
	}
	for try := 0; try < 4; try++ {
		if res.remoteID == "" {
			ex, err := c.do(ctx, http.MethodPost, "/Users", want.resource(), "")
			if err != nil {
				return res, err
			}
			switch ex.Status {
			case http.StatusCreated, http.StatusOK:
				su, err := parseUser(ex)
				if err != nil {
					return res, err
				}
				if err := checkSame(su, userName, ""); err != nil {
					return res, err
				}
				if err := c.checkLocation(ex, "Users", su.ID); err != nil {
					return res, err
				}
				res.remoteID, res.etag, res.doc = su.ID, etagOf(ex, su), want
				return res, nil
			case http.StatusConflict:
				// Someone created it meanwhile (or our find missed it): adopt it.
				su, etag, err := c.find(ctx, userName)
				if err != nil {
					return res, err
				}
				if su == nil {
					return res, fmt.Errorf("POST /Users answered 409 but no user %q was found", userName)
				}
				if err := found(su, etag); err != nil {
					return res, err
				}
				continue
			}
			return res, statusErr(ex)
		}
		var (
			ex  *exchange
			err error
		)
		target := want
		if p.UpdateMode == model.UpdatePut && active {
			body := want.resource()
			body.ID = res.remoteID
			ex, err = c.do(ctx, http.MethodPut, "/Users/"+url.PathEscape(res.remoteID), body, res.etag)
		} else {
			old := remote
			if old == nil {
				old = owned
			}
			if old == nil { // delivered before idsync kept docs: read it
				if err := c.read(ctx, &res, &remote); err != nil {
					return res, err
				}
				if res.remoteID == "" {
					continue // gone at the product: create again
				}
				old = remote
			}
			if !active && p.UpdateMode == model.UpdatePut {
				// PUT products: a deactivation is a PATCH of active alone.
				target = maps(old)
				target[docActive] = false
			}
			ops := patchOps(old, target, owned)
			if len(ops) == 0 {
				res.doc = target
				return res, nil // the product has it already
			}
			ex, err = c.do(ctx, http.MethodPatch, "/Users/"+url.PathEscape(res.remoteID),
				map[string]any{"schemas": []string{SchemaPatchOp}, "Operations": ops}, res.etag)
		}
		if err != nil {
			return res, err
		}
		switch ex.Status {
		case http.StatusOK:
			su, err := parseUser(ex)
			if err != nil {
				return res, err
			}
			if err := checkSame(su, userName, res.remoteID); err != nil {
				return res, err
			}
			res.etag, res.doc = etagOf(ex, su), target
			return res, nil
		case http.StatusNoContent:
			res.etag, res.doc = ex.Header.Get("ETag"), target
			return res, nil
		case http.StatusNotFound:
			res.remoteID, res.etag, remote = "", "", nil // deleted at the product: create again
			if !active {
				return res, nil
			}
			continue
		case http.StatusPreconditionFailed:
			if err := c.read(ctx, &res, &remote); err != nil {
				return res, err
			}
			continue
		}
		return res, statusErr(ex)
	}
	return res, errors.New("gave up after repeated conflicts")
}

func maps(d userDoc) userDoc {
	out := make(userDoc, len(d))
	for k, v := range d {
		out[k] = v
	}
	return out
}

// read re-reads the user to learn its current version and content (after
// 412, or when no delivered doc is known); a user gone at the product
// clears res.remoteID.
func (c *scimClient) read(ctx context.Context, res *scimResult, remote *userDoc) error {
	ex, err := c.do(ctx, http.MethodGet, "/Users/"+url.PathEscape(res.remoteID), nil, "")
	if err != nil {
		return err
	}
	if ex.Status == http.StatusNotFound {
		res.remoteID, res.etag, *remote = "", "", nil
		return nil
	}
	if ex.Status != http.StatusOK {
		return statusErr(ex)
	}
	su, err := parseUser(ex)
	if err != nil {
		return err
	}
	if err := checkSame(su, "", res.remoteID); err != nil {
		return err
	}
	res.etag, *remote = etagOf(ex, su), docOf(su)
	return nil
}

// testSCIM reads /ServiceProviderConfig (the "Test" button).
func testSCIM(ctx context.Context, c *scimClient) (*exchange, error) {
	ex, err := c.do(ctx, http.MethodGet, "/ServiceProviderConfig", nil, "")
	if err != nil {
		return c.last(), err
	}
	if ex.Status != http.StatusOK {
		return ex, statusErr(ex)
	}
	if err := checkSCIMJSON(ex); err != nil {
		return ex, err
	}
	var cfg struct {
		Schemas []string `json:"schemas"`
	}
	if err := json.Unmarshal(ex.Resp, &cfg); err != nil {
		return ex, fmt.Errorf("%w: %w", errInvalidAnswer, err)
	}
	if !slices.Contains(cfg.Schemas, SchemaSPConfig) {
		return ex, fmt.Errorf("%w: not a ServiceProviderConfig", errInvalidAnswer)
	}
	return ex, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// now is split out so the webhook event and log share one clock read.
func nowUTC() time.Time { return time.Now().UTC() }
