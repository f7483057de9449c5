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
	SchemaEnterprise   = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	SchemaListResponse = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	SchemaPatchOp      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SchemaError        = "urn:ietf:params:scim:api:messages:2.0:Error"
	SchemaSPConfig     = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	ContentTypeSCIM    = "application/scim+json"
)

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

type scimUser struct {
	Schemas     []string          `json:"schemas"`
	ID          string            `json:"id,omitempty"`
	ExternalID  string            `json:"externalId,omitempty"`
	UserName    string            `json:"userName"`
	DisplayName string            `json:"displayName,omitempty"`
	Name        *scimName         `json:"name,omitempty"`
	Title       string            `json:"title,omitempty"`
	Emails      []scimEmail       `json:"emails,omitempty"`
	Active      bool              `json:"active"`
	Enterprise  map[string]string `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User,omitempty"`
	Meta        *scimMeta         `json:"meta,omitempty"`
}

type scimName struct {
	Formatted string `json:"formatted,omitempty"`
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

// scimResource builds the SCIM User a product should hold for u.
func scimResource(p *model.Product, u *model.User, active bool) scimUser {
	r := scimUser{
		Schemas:     []string{SchemaUser},
		ExternalID:  strconv.FormatInt(u.ID, 10),
		UserName:    u.Username,
		DisplayName: u.DisplayName,
		Active:      active,
	}
	if u.DisplayName != "" {
		r.Name = &scimName{Formatted: u.DisplayName}
	}
	if u.Email != "" {
		r.Emails = []scimEmail{{Value: u.Email, Type: "work", Primary: true}}
	}
	keys := make([]string, 0, len(p.AttributeMap))
	for k := range p.AttributeMap {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		field, v := p.AttributeMap[k], u.Attributes[k]
		if v == "" || !ValidSCIMField(field) {
			continue
		}
		if field == "title" {
			r.Title = v
			continue
		}
		if r.Enterprise == nil {
			r.Enterprise = map[string]string{}
		}
		r.Enterprise[field] = v
	}
	if r.Enterprise != nil {
		r.Schemas = append(r.Schemas, SchemaEnterprise)
	}
	return r
}

// FilterUserName returns the SCIM filter `userName eq "name"` with quotes
// and backslashes escaped as JSON strings are (RFC 7644 §3.4.2.2).
func FilterUserName(name string) string {
	var b strings.Builder
	b.WriteString(`userName eq "`)
	for _, r := range name {
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
}

type scimClient struct {
	hc    *http.Client
	base  string
	token string
	last  exchange
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
	if body != nil {
		req.Header.Set("Content-Type", ContentTypeSCIM)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	c.last = exchange{Method: method, URL: c.base + path, Req: reqBody}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	c.last.Status, c.last.Resp, c.last.Header = resp.StatusCode, data, resp.Header
	ex := c.last
	return &ex, nil
}

// checkSCIMJSON requires a SCIM or JSON content type.
func checkSCIMJSON(ex *exchange) error {
	ct := ex.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != ContentTypeSCIM && mt != "application/json") {
		return fmt.Errorf("%w: content type %q is not %s", errInvalidAnswer, ct, ContentTypeSCIM)
	}
	return nil
}

// parseUser decodes and checks a User resource answer.
func parseUser(ex *exchange) (*scimUser, error) {
	if err := checkSCIMJSON(ex); err != nil {
		return nil, err
	}
	var u scimUser
	if err := json.Unmarshal(ex.Resp, &u); err != nil {
		return nil, fmt.Errorf("%w: %v", errInvalidAnswer, err)
	}
	if !slices.Contains(u.Schemas, SchemaUser) {
		return nil, fmt.Errorf("%w: resource lacks the User schema", errInvalidAnswer)
	}
	if u.ID == "" {
		return nil, fmt.Errorf("%w: resource has no id", errInvalidAnswer)
	}
	return &u, nil
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

// find looks a user up by userName; found is false when there is none.
func (c *scimClient) find(ctx context.Context, userName string) (id, etag string, found bool, err error) {
	ex, err := c.do(ctx, http.MethodGet, "/Users?filter="+url.QueryEscape(FilterUserName(userName)), nil, "")
	if err != nil {
		return "", "", false, err
	}
	if ex.Status != http.StatusOK {
		return "", "", false, statusErr(ex)
	}
	if err := checkSCIMJSON(ex); err != nil {
		return "", "", false, err
	}
	var l scimList
	if err := json.Unmarshal(ex.Resp, &l); err != nil {
		return "", "", false, fmt.Errorf("%w: %v", errInvalidAnswer, err)
	}
	if !slices.Contains(l.Schemas, SchemaListResponse) || l.TotalResults == nil {
		return "", "", false, fmt.Errorf("%w: not a ListResponse", errInvalidAnswer)
	}
	for _, raw := range l.Resources {
		var u scimUser
		if err := json.Unmarshal(raw, &u); err != nil {
			return "", "", false, fmt.Errorf("%w: %v", errInvalidAnswer, err)
		}
		if strings.EqualFold(u.UserName, userName) && u.ID != "" {
			v := ""
			if u.Meta != nil {
				v = u.Meta.Version
			}
			return u.ID, v, true, nil
		}
	}
	return "", "", false, nil
}

func statusErr(ex *exchange) error {
	msg := ""
	var e struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal(ex.Resp, &e) == nil && e.Detail != "" {
		msg = ": " + truncate(e.Detail, 200)
	}
	return fmt.Errorf("%s %s answered %d%s", ex.Method, ex.URL, ex.Status, msg)
}

// scimResult is what one SCIM delivery did.
type scimResult struct {
	remoteID, etag string
	gone           bool
}

// deliverSCIM brings the product to the latest state of the pair: u is nil
// when the user no longer exists.
func deliverSCIM(ctx context.Context, c *scimClient, p *model.Product, cl model.DeliveryClaim, u *model.User) (scimResult, error) {
	res := scimResult{remoteID: cl.RemoteID, etag: cl.RemoteVersion}
	userName := cl.Username
	if u != nil {
		userName = u.Username
	}
	locate := func() error {
		if res.remoteID != "" {
			return nil
		}
		id, etag, found, err := c.find(ctx, userName)
		if err != nil {
			return err
		}
		if found {
			res.remoteID, res.etag = id, etag
		}
		return nil
	}
	if cl.Deleted || u == nil {
		if err := locate(); err != nil {
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
	if err := locate(); err != nil {
		return res, err
	}
	if !active {
		if res.remoteID == "" {
			return res, nil // not at the product: nothing to deactivate
		}
		patch := map[string]any{
			"schemas":    []string{SchemaPatchOp},
			"Operations": []map[string]any{{"op": "replace", "path": "active", "value": false}},
		}
		for try := 0; try < 2; try++ {
			ex, err := c.do(ctx, http.MethodPatch, "/Users/"+url.PathEscape(res.remoteID), patch, res.etag)
			if err != nil {
				return res, err
			}
			switch ex.Status {
			case http.StatusOK:
				su, err := parseUser(ex)
				if err != nil {
					return res, err
				}
				res.etag = etagOf(ex, su)
				return res, nil
			case http.StatusNoContent:
				res.etag = ex.Header.Get("ETag")
				return res, nil
			case http.StatusNotFound:
				res.remoteID, res.etag = "", ""
				return res, nil
			case http.StatusPreconditionFailed:
				if err := c.refresh(ctx, &res); err != nil {
					return res, err
				}
				continue
			}
			return res, statusErr(ex)
		}
		return res, errors.New("version conflict persisted after re-reading the user")
	}
	body := scimResource(p, u, true)
	for try := 0; try < 3; try++ {
		if res.remoteID == "" {
			ex, err := c.do(ctx, http.MethodPost, "/Users", body, "")
			if err != nil {
				return res, err
			}
			switch ex.Status {
			case http.StatusCreated, http.StatusOK:
				su, err := parseUser(ex)
				if err != nil {
					return res, err
				}
				res.remoteID, res.etag = su.ID, etagOf(ex, su)
				return res, nil
			case http.StatusConflict:
				// Someone created it meanwhile (or our find missed it): adopt it.
				id, etag, found, err := c.find(ctx, userName)
				if err != nil {
					return res, err
				}
				if !found {
					return res, fmt.Errorf("POST /Users answered 409 but no user %q was found", userName)
				}
				res.remoteID, res.etag = id, etag
				continue
			}
			return res, statusErr(ex)
		}
		body.ID = res.remoteID
		ex, err := c.do(ctx, http.MethodPut, "/Users/"+url.PathEscape(res.remoteID), body, res.etag)
		if err != nil {
			return res, err
		}
		switch ex.Status {
		case http.StatusOK:
			su, err := parseUser(ex)
			if err != nil {
				return res, err
			}
			res.etag = etagOf(ex, su)
			return res, nil
		case http.StatusNotFound:
			res.remoteID, res.etag = "", "" // deleted at the product: create again
			body.ID = ""
			continue
		case http.StatusPreconditionFailed:
			if err := c.refresh(ctx, &res); err != nil {
				return res, err
			}
			continue
		}
		return res, statusErr(ex)
	}
	return res, errors.New("gave up after repeated conflicts")
}

// refresh re-reads the user to learn its current version (after 412).
func (c *scimClient) refresh(ctx context.Context, res *scimResult) error {
	ex, err := c.do(ctx, http.MethodGet, "/Users/"+url.PathEscape(res.remoteID), nil, "")
	if err != nil {
		return err
	}
	if ex.Status == http.StatusNotFound {
		res.remoteID, res.etag = "", ""
		return nil
	}
	if ex.Status != http.StatusOK {
		return statusErr(ex)
	}
	su, err := parseUser(ex)
	if err != nil {
		return err
	}
	res.etag = etagOf(ex, su)
	return nil
}

// testSCIM reads /ServiceProviderConfig (the "Test" button).
func testSCIM(ctx context.Context, c *scimClient) (*exchange, error) {
	ex, err := c.do(ctx, http.MethodGet, "/ServiceProviderConfig", nil, "")
	if err != nil {
		return nil, err
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
		return ex, fmt.Errorf("%w: %v", errInvalidAnswer, err)
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
	return s[:n] + "…"
}

// now is split out so the webhook event and log share one clock read.
func nowUTC() time.Time { return time.Now().UTC() }
