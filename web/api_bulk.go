package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
)

// A bulk request is {"changes":[…]} with up to apiBulkMaxRows rows, each
// the body a single PATCH (with "id") or POST (without) would take. By
// default it is all-or-nothing; ?mode=per_row applies what it can and
// answers one result per row. Every row goes through the store's one
// change path (store.ApplyUserChanges / ApplyDeviceChanges), as a console
// edit does.

type apiBulkRequest struct {
	Changes []json.RawMessage `json:"changes"`
}

type apiBulkResult struct {
	Row    int             `json:"row"` // 1-based position in changes
	ID     int64           `json:"id,omitempty"`
	Status string          `json:"status"` // created, updated, refused, not_applied
	Error  *apiErrorDetail `json:"error,omitempty"`
}

type apiBulkResponse struct {
	Mode    string          `json:"mode"`
	Applied int             `json:"applied"`
	Refused int             `json:"refused"`
	Results []apiBulkResult `json:"results"`
}

// bulkMode reads ?mode= (all_or_nothing, the default, or per_row).
func bulkMode(c echo.Context) (bool, error) {
	switch c.QueryParam("mode") {
	case "", "all_or_nothing":
		return false, nil
	case "per_row":
		return true, nil
	}
	return false, model.Invalid(map[string]string{"mode": "must be all_or_nothing or per_row"})
}

// decodeBulk reads the rows into T, strictly, reporting every row that
// cannot be read (which row, which field) before anything is applied.
func decodeBulk[T any](c echo.Context, key func(*T) (string, string)) ([]T, error) {
	var req apiBulkRequest
	if err := decodeJSON(c, apiBulkBodyLimit, &req); err != nil {
		return nil, err
	}
	if req.Changes == nil {
		return nil, model.Invalid(map[string]string{"changes": "is required (an array of changes)"})
	}
	if len(req.Changes) == 0 {
		return nil, model.Invalid(map[string]string{"changes": "must hold at least one change"})
	}
	if len(req.Changes) > apiBulkMaxRows {
		return nil, &model.Error{Code: model.EINVALID, Message: fmt.Sprintf("A bulk request holds at most %d changes; this one holds %d. Split it.", apiBulkMaxRows, len(req.Changes)),
			Fields: map[string]string{"changes": fmt.Sprintf("must hold at most %d changes", apiBulkMaxRows)}}
	}
	rows := make([]T, len(req.Changes))
	bad := map[string]string{}
	seen := map[string]int{}
	for i, raw := range req.Changes {
		prefix := fmt.Sprintf("changes[%d]", i)
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rows[i]); err != nil {
			for f, m := range rowFields(jsonError(raw, err)) {
				bad[prefix+f] = m
			}
			continue
		}
		if kind, k := key(&rows[i]); k != "" {
			sk := kind + "\x00" + strings.ToLower(k)
			if j, dup := seen[sk]; dup {
				bad[prefix+"."+kind] = fmt.Sprintf("repeats row %d (%s %q); each object may appear once", j+1, kind, k)
			} else {
				seen[sk] = i
			}
		}
		if len(bad) >= 100 {
			break
		}
	}
	if len(bad) > 0 {
		first := slices.Sorted(maps.Keys(bad))[0]
		return nil, &model.Error{Code: model.EINVALID,
			Message: fmt.Sprintf("%d change(s) could not be read (first: %s %s); nothing was applied.", len(bad), first, bad[first]),
			Fields:  bad}
	}
	return rows, nil
}

// rowFields returns err's fields as ".field" suffixes ("" for the row).
func rowFields(err error) map[string]string {
	out := map[string]string{}
	if f := model.ErrorFields(err); len(f) > 0 {
		for k, v := range f {
			if k == "(body)" {
				out[""] = v
			} else {
				out["."+k] = v
			}
		}
		return out
	}
	out[""] = model.ErrorMessage(err)
	return out
}

// bulkAnswer turns the store's results into the response.
func (s *Server) bulkAnswer(c echo.Context, perRow bool, n int, res []store.ChangeResult) error {
	out := apiBulkResponse{Mode: "all_or_nothing", Results: make([]apiBulkResult, 0, n)}
	if perRow {
		out.Mode = "per_row"
	}
	if !perRow {
		if last := res[len(res)-1]; last.Err != nil {
			i := len(res) - 1
			fields := map[string]string{}
			for f, m := range rowFields(last.Err) {
				fields[fmt.Sprintf("changes[%d]%s", i, f)] = m
			}
			code := model.ErrorCode(last.Err)
			if code == model.ENOTFOUND {
				// The request is there; one of its rows names nothing.
				code = model.EINVALID
			}
			return &model.Error{Code: code,
				Message: fmt.Sprintf("Change %d was refused: %s Nothing was applied.", i+1, model.ErrorMessage(last.Err)),
				Fields:  fields}
		}
	}
	for i, r := range res {
		br := apiBulkResult{Row: i + 1, ID: r.ID, Status: "updated"}
		switch {
		case r.Err != nil:
			br.Status, br.ID = "refused", 0
			br.Error = &apiErrorDetail{Code: model.ErrorCode(r.Err), Message: model.ErrorMessage(r.Err), Fields: model.ErrorFields(r.Err)}
			out.Refused++
		case r.Created:
			br.Status = "created"
			out.Applied++
		default:
			out.Applied++
		}
		out.Results = append(out.Results, br)
	}
	return c.JSON(http.StatusOK, out)
}

// apiBulkUsers is POST /api/v1/users:bulk.
func (s *Server) apiBulkUsers(c echo.Context) error {
	perRow, err := bulkMode(c)
	if err != nil {
		return err
	}
	rows, err := decodeBulk(c, func(in *apiUserInput) (string, string) {
		if in.ID != 0 {
			return "id", fmt.Sprint(in.ID)
		}
		if in.Username != nil {
			return "username", strings.TrimSpace(*in.Username)
		}
		return "", ""
	})
	if err != nil {
		return err
	}
	changes := make([]store.UserChange, len(rows))
	for i := range rows {
		changes[i] = rows[i].change()
	}
	res, err := s.store.ApplyUserChanges(c.Request().Context(), changes, perRow)
	if err != nil {
		return err
	}
	return s.bulkAnswer(c, perRow, len(rows), res)
}

// apiBulkDevices is POST /api/v1/devices:bulk.
func (s *Server) apiBulkDevices(c echo.Context) error {
	perRow, err := bulkMode(c)
	if err != nil {
		return err
	}
	rows, err := decodeBulk(c, func(in *apiDeviceInput) (string, string) {
		if in.ID != 0 {
			return "id", fmt.Sprint(in.ID)
		}
		if in.Serial != nil && strings.TrimSpace(*in.Serial) != "" {
			return "serial", strings.TrimSpace(*in.Serial)
		}
		return "", ""
	})
	if err != nil {
		return err
	}
	changes := make([]store.DeviceChange, len(rows))
	for i := range rows {
		changes[i] = rows[i].change()
	}
	res, err := s.store.ApplyDeviceChanges(c.Request().Context(), changes, perRow)
	if err != nil {
		return err
	}
	return s.bulkAnswer(c, perRow, len(rows), res)
}
