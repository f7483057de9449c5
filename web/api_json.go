package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
)

// Body limits of the API: one object, or a bulk request of up to
// apiBulkMaxRows rows.
const (
	apiBodyLimit     = 1 << 20
	apiBulkBodyLimit = 32 << 20
	apiBulkMaxRows   = 10000
)

// decodeJSON reads the request body, at most limit bytes, into v: exactly
// one JSON value, no unknown fields. Errors are EINVALID naming the field
// (a wrong type) or the position (malformed JSON); an oversized body is 413.
func decodeJSON(c echo.Context, limit int64, v any) error {
	r := c.Request()
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return echo.NewHTTPError(http.StatusUnsupportedMediaType)
		}
	}
	if r.ContentLength > limit {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
		}
		return model.Errorf(model.EINVALID, "The request body could not be read.")
	}
	if bytes.HasPrefix(body, []byte("\xef\xbb\xbf")) {
		return model.Errorf(model.EINVALID, "The body starts with a byte-order mark; send plain UTF-8 JSON.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return model.Errorf(model.EINVALID, "The request body is empty; send a JSON object.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(body, err)
	}
	if dec.More() {
		return model.Errorf(model.EINVALID, "The body holds more than one JSON value.")
	}
	return nil
}

// jsonError turns a decoding error into a precise EINVALID.
func jsonError(body []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := position(body, se.Offset)
		return model.Errorf(model.EINVALID, "Malformed JSON at line %d, column %d: %s.", line, col, se.Error())
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(body)"
		}
		return &model.Error{Code: model.EINVALID, Message: "A field has the wrong type.",
			Fields: map[string]string{field: fmt.Sprintf("must be %s, not %s", jsonKind(te.Type.Kind().String()), te.Value)}}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return model.Errorf(model.EINVALID, "Malformed JSON: the body ends too early.")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &model.Error{Code: model.EINVALID, Message: "The body has a field this endpoint does not know.",
			Fields: map[string]string{name: "is not a known field"}}
	}
	return model.Errorf(model.EINVALID, "Malformed JSON.")
}

func jsonKind(k string) string {
	switch k {
	case "int64", "int", "int32":
		return "an integer"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	}
	return k
}

func position(b []byte, off int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < off && i < int64(len(b)); i++ {
		if b[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// etagOf returns the strong ETag of a resource's JSON representation.
func etagOf(v any) string {
	b, _ := json.Marshal(v)
	h := sha256.Sum256(b)
	return `"` + hex.EncodeToString(h[:12]) + `"`
}

// checkIfMatch answers 412 when the request's If-Match names another
// version of the resource than current (whose ETag is etag). No If-Match:
// the write goes ahead (last writer wins, as in the console).
func checkIfMatch(c echo.Context, etag string) error {
	im := strings.TrimSpace(c.Request().Header.Get("If-Match"))
	if im == "" || im == "*" {
		return nil
	}
	for _, t := range strings.Split(im, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag {
			return nil
		}
	}
	return errPrecondition
}

var errPrecondition = echo.NewHTTPError(http.StatusPreconditionFailed)

// writeResource answers with v and its ETag.
func writeResource(c echo.Context, status int, v any) error {
	c.Response().Header().Set("ETag", etagOf(v))
	return c.JSON(status, v)
}

// cursor is the opaque position of a keyset page: the sort key and id of
// the last row of the previous page.
type cursor struct {
	Key string `json:"k,omitempty"`
	ID  int64  `json:"i"`
}

func (c cursor) String() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseCursor(s string) (cursor, error) {
	var cur cursor
	if s == "" {
		return cur, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &cur)
	}
	if err != nil || cur.ID < 0 {
		return cursor{}, &model.Error{Code: model.EINVALID, Message: "The cursor is not valid; start from the first page.",
			Fields: map[string]string{"cursor": "is not a cursor this API returned"}}
	}
	return cur, nil
}

// pageParams reads ?cursor= and ?limit= (1–500, default 50).
func pageParams(c echo.Context) (cursor, int, error) {
	cur, err := parseCursor(c.QueryParam("cursor"))
	if err != nil {
		return cur, 0, err
	}
	limit := 50
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return cur, 0, &model.Error{Code: model.EINVALID, Message: "Please correct the query.",
				Fields: map[string]string{"limit": "must be a whole number from 1 to 500"}}
		}
		limit = n
	}
	return cur, limit, nil
}

// apiList is every list answer: one page of items and, when more follow,
// the cursor of the next page.
type apiList[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// queryID reads an optional positive integer query parameter.
func queryID(c echo.Context, name string) (int64, error) {
	v := c.QueryParam(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, &model.Error{Code: model.EINVALID, Message: "Please correct the query.",
			Fields: map[string]string{name: "must be a positive integer"}}
	}
	return n, nil
}
