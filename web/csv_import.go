package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/templates/pages"
)

// CSV import: upload → preview (exactly what each line changes, and each
// line's errors) → apply exactly the previewed changes, refused with
// "preview again" when any object the preview read has changed since.
// The preview is kept in this server's memory for importTTL (a second
// replica does not see it: apply on the replica that previewed).
//
// Columns: users by username (username, email, display_name, status,
// account_type, service_group, and one column per attribute key); devices
// by serial (serial, name, platform, user, and one column per enterprise
// group attribute key). An empty cell keeps the stored value. Only the
// header's columns are read; every header must be known.

const (
	importMaxRows  = 10000
	importMaxBytes = 32 << 20
	importTTL      = 30 * time.Minute
)

type importKind struct {
	name    string // users, devices
	key     string // the identifying column
	columns []string
}

// importLine is one data line of an upload after the preview.
type importLine struct {
	Line    int
	Key     string
	Action  string   // create, update, unchanged, error
	Changes []string // "field: old → new"
	Error   string
}

// importPreview is a previewed upload waiting for its apply.
type importPreview struct {
	ID          string
	Kind        string
	Admin       int64
	Created     time.Time
	Lines       []importLine
	userCh      []store.UserChange
	deviceCh    []store.DeviceChange
	changeLines []int // the line of each change
	fingerprint string
	keys        []string
}

type importCache struct {
	mu sync.Mutex
	m  map[string]*importPreview
}

func (ic *importCache) put(p *importPreview) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.m == nil {
		ic.m = map[string]*importPreview{}
	}
	for id, old := range ic.m {
		if time.Since(old.Created) > importTTL {
			delete(ic.m, id)
		}
	}
	ic.m[p.ID] = p
}

func (ic *importCache) take(id string, admin int64) *importPreview {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	p := ic.m[id]
	if p == nil || p.Admin != admin || time.Since(p.Created) > importTTL {
		return nil
	}
	delete(ic.m, id)
	return p
}

func (s *Server) importKinds(ctx context.Context) (map[string]importKind, []model.AttributeDef, error) {
	defs, err := s.store.ListAttributes(ctx)
	if err != nil {
		return nil, nil, err
	}
	u := importKind{name: "users", key: "username", columns: []string{"username", "email", "display_name", "status", "account_type", "service_group"}}
	d := importKind{name: "devices", key: "serial", columns: []string{"serial", "name", "platform", "user"}}
	for _, a := range defs {
		u.columns = append(u.columns, a.Key)
		if a.EnterpriseGroup {
			d.columns = append(d.columns, a.Key)
		}
	}
	return map[string]importKind{"users": u, "devices": d}, defs, nil
}

// showImportPage is GET /import.
func (s *Server) showImportPage(c echo.Context) error {
	return s.renderTitled(c, http.StatusOK, "Import and export", pages.ImportPage(pages.ImportView{CSRF: s.csrfToken(c), CanEdit: isAdmin(c)}))
}

// downloadImportTemplate is GET /import/template/:kind.csv.
func (s *Server) downloadImportTemplate(c echo.Context) error {
	kinds, _, err := s.importKinds(c.Request().Context())
	if err != nil {
		return err
	}
	k, ok := kinds[strings.TrimSuffix(c.Param("kind"), ".csv")]
	if !ok {
		return model.Errorf(model.ENOTFOUND, "There is no import of that kind.")
	}
	w := startCSV(c, k.name+"-template")
	_ = w.Write(k.columns)
	return s.finishCSV(w, "template", nil)
}

// readImportCSV reads and checks an upload's header and lines.
func readImportCSV(r io.Reader, k importKind) ([]string, [][]string, []int, error) {
	data, err := io.ReadAll(io.LimitReader(r, importMaxBytes+1))
	if err != nil {
		return nil, nil, nil, model.Errorf(model.EINVALID, "The file could not be read.")
	}
	if len(data) > importMaxBytes {
		return nil, nil, nil, model.Errorf(model.ETOOLARGE, "The file is larger than 32 MiB.")
	}
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		return nil, nil, nil, &model.Error{Code: model.EINVALID, Message: "Line 1: the file starts with a byte-order mark. Save it as plain UTF-8 CSV (without BOM) and upload it again.",
			Fields: map[string]string{"file": "starts with a byte-order mark"}}
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.ReuseRecord = false
	head, err := cr.Read()
	if err != nil {
		return nil, nil, nil, model.Errorf(model.EINVALID, "Line 1: the file has no header line (%s).", csvErr(err))
	}
	if len(head) == 1 && strings.Contains(head[0], ";") {
		return nil, nil, nil, model.Errorf(model.EINVALID, "Line 1: the columns are separated by semicolons; use commas (the template shows the format).")
	}
	seen := map[string]bool{}
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(h))
		head[i] = h
		switch {
		case !slices.Contains(k.columns, h):
			return nil, nil, nil, model.Errorf(model.EINVALID, "Line 1, column %d: %q is not a column of a %s import. Known columns: %s.", i+1, h, k.name, strings.Join(k.columns, ", "))
		case seen[h]:
			return nil, nil, nil, model.Errorf(model.EINVALID, "Line 1, column %d: %q appears twice.", i+1, h)
		}
		seen[h] = true
	}
	if !seen[k.key] {
		return nil, nil, nil, model.Errorf(model.EINVALID, "Line 1: the header needs a %q column, which names each %s.", k.key, strings.TrimSuffix(k.name, "s"))
	}
	cr.FieldsPerRecord = len(head)
	var rows [][]string
	var lines []int
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, nil, nil, model.Errorf(model.EINVALID, "Line %d: %s.", line, csvErr(err))
		}
		if len(rows) == importMaxRows {
			return nil, nil, nil, model.Errorf(model.EINVALID, "The file has more than %d lines of data; split it.", importMaxRows)
		}
		rows = append(rows, rec)
		lines = append(lines, line)
	}
	if len(rows) == 0 {
		return nil, nil, nil, model.Errorf(model.EINVALID, "The file has a header but no data lines.")
	}
	return head, rows, lines, nil
}

func csvErr(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// previewImport is POST /import/preview: parse the upload, compare it
// with the stored objects and show what each line would change.
func (s *Server) previewImport(c echo.Context) error {
	ctx := c.Request().Context()
	kinds, defs, err := s.importKinds(ctx)
	if err != nil {
		return err
	}
	k, ok := kinds[c.FormValue("kind")]
	if !ok {
		return s.importFailed(c, model.Invalid(map[string]string{"kind": "choose users or devices"}))
	}
	fh, err := c.FormFile("file")
	if err != nil {
		return s.importFailed(c, model.Invalid(map[string]string{"file": "choose a CSV file"}))
	}
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // an uploaded part, read only
	head, rows, lines, err := readImportCSV(f, k)
	if err != nil {
		return s.importFailed(c, err)
	}
	p, err := s.planImport(ctx, k, defs, head, rows, lines)
	if err != nil {
		return s.importFailed(c, err)
	}
	p.Admin, p.ID = currentAdmin(c).ID, randomToken()
	s.imports.put(p)
	return s.renderImportPreview(c, p, "")
}

func (s *Server) importFailed(c echo.Context, err error) error {
	switch model.ErrorCode(err) {
	case model.EINVALID, model.ETOOLARGE:
	default:
		return err
	}
	msg := model.ErrorMessage(err)
	for f, m := range model.ErrorFields(err) {
		msg += " (" + f + ": " + m + ")"
	}
	v := pages.ImportView{CSRF: s.csrfToken(c), CanEdit: isAdmin(c), Error: msg}
	return s.renderTitled(c, http.StatusUnprocessableEntity, "Import and export", pages.ImportPage(v))
}

func (s *Server) renderImportPreview(c echo.Context, p *importPreview, errMsg string) error {
	v := pages.ImportView{CSRF: s.csrfToken(c), CanEdit: isAdmin(c), Error: errMsg, PreviewID: p.ID, Kind: p.Kind}
	for _, l := range p.Lines {
		row := pages.ImportLine{Line: l.Line, Key: l.Key, Action: l.Action, Changes: l.Changes, Error: l.Error}
		v.Lines = append(v.Lines, row)
		switch l.Action {
		case "create":
			v.Creates++
		case "update":
			v.Updates++
		case "error":
			v.Errors++
		default:
			v.Unchanged++
		}
	}
	status := http.StatusOK
	if v.Errors > 0 || errMsg != "" {
		status = http.StatusUnprocessableEntity
	}
	return s.renderTitled(c, status, "Import preview", pages.ImportPage(v))
}

// applyImport is POST /import/apply: apply exactly the previewed changes,
// all or nothing.
func (s *Server) applyImport(c echo.Context) error {
	ctx := c.Request().Context()
	p := s.imports.take(c.FormValue("preview"), currentAdmin(c).ID)
	if p == nil {
		return s.importFailed(c, model.Errorf(model.EINVALID, "This preview has expired or was already used; upload the file again."))
	}
	for _, l := range p.Lines {
		if l.Action == "error" {
			return s.renderImportPreview(c, p, "Fix the lines with errors and upload the file again; nothing was applied.")
		}
	}
	fp, err := s.importFingerprint(ctx, p.Kind, p.keys)
	if err != nil {
		return err
	}
	if fp != p.fingerprint {
		return s.importFailed(c, model.Errorf(model.ECONFLICT, "Something changed since the preview; preview again. Nothing was applied."))
	}
	var res []store.ChangeResult
	if p.Kind == "users" {
		res, err = s.store.ApplyUserChanges(ctx, p.userCh, false)
	} else {
		res, err = s.store.ApplyDeviceChanges(ctx, p.deviceCh, false)
	}
	if err != nil {
		return err
	}
	if len(res) > 0 && res[len(res)-1].Err != nil {
		i := len(res) - 1
		msg := fmt.Sprintf("Line %d: %s", p.changeLines[i], model.ErrorMessage(res[i].Err))
		for f, m := range model.ErrorFields(res[i].Err) {
			msg += " (" + f + ": " + m + ")"
		}
		return s.importFailed(c, model.Errorf(model.EINVALID, "%s Nothing was applied.", msg))
	}
	if err := s.flash(c, fmt.Sprintf("Import applied: %d %s changed or created.", len(res), p.Kind)); err != nil {
		return err
	}
	return redirect(c, "/"+p.Kind)
}

// importFingerprint hashes the stored state of the objects an import
// reads (by key), so that apply can tell whether anything changed since
// its preview.
func (s *Server) importFingerprint(ctx context.Context, kind string, keys []string) (string, error) {
	h := sha256.New()
	defs, err := s.store.ListAttributes(ctx)
	if err != nil {
		return "", err
	}
	for _, d := range defs {
		fmt.Fprintf(h, "attr %s %v\n", d.Key, d.EnterpriseGroup)
	}
	if kind == "users" {
		users, err := s.store.UsersByUsernames(ctx, keys)
		if err != nil {
			return "", err
		}
		ids := make([]int64, 0, len(users))
		for _, u := range users {
			ids = append(ids, u.ID)
		}
		groups, err := s.store.ServiceGroupsOfUsers(ctx, ids)
		if err != nil {
			return "", err
		}
		for _, k := range keys {
			if u := users[strings.ToLower(k)]; u != nil {
				fmt.Fprintf(h, "%s %d %d %v\n", k, u.ID, u.Version, groups[u.ID])
			} else {
				fmt.Fprintf(h, "%s absent\n", k)
			}
		}
	} else {
		devs, err := s.store.DevicesBySerials(ctx, keys)
		if err != nil {
			return "", err
		}
		for _, k := range keys {
			if d := devs[strings.ToLower(k)]; d != nil {
				fmt.Fprintf(h, "%s %d %s %d %s\n", k, d.ID, d.UpdatedAt.Format(time.RFC3339Nano), d.UserID, etagOf(toAPIDevice(d)))
			} else {
				fmt.Fprintf(h, "%s absent\n", k)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// planImport compares every line with the stored objects: what it would
// create or change, or why it cannot.
func (s *Server) planImport(ctx context.Context, k importKind, defs []model.AttributeDef, head []string, rows [][]string, lines []int) (*importPreview, error) {
	p := &importPreview{Kind: k.name, Created: time.Now()}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	cell := func(row []string, name string) (string, bool) {
		i, ok := col[name]
		if !ok {
			return "", false
		}
		v := strings.TrimSpace(row[i])
		return v, v != ""
	}
	firstLine := map[string]int{}
	for i, row := range rows {
		key, _ := cell(row, k.key)
		p.keys = append(p.keys, key)
		if lk := strings.ToLower(key); key != "" {
			if _, dup := firstLine[lk]; !dup {
				firstLine[lk] = lines[i]
			}
		}
	}
	isAttr := map[string]bool{}
	for _, d := range defs {
		isAttr[d.Key] = true
	}
	var err error
	if k.name == "users" {
		err = s.planUserImport(ctx, p, head, rows, lines, cell, firstLine, isAttr)
	} else {
		err = s.planDeviceImport(ctx, p, head, rows, lines, cell, firstLine, isAttr)
	}
	if err != nil {
		return nil, err
	}
	if p.fingerprint, err = s.importFingerprint(ctx, k.name, p.keys); err != nil {
		return nil, err
	}
	return p, nil
}

type cellFunc func(row []string, name string) (string, bool)

func change(field, old, new string) string {
	if old == "" {
		old = "(empty)"
	}
	return field + ": " + old + " → " + new
}

func (s *Server) planUserImport(ctx context.Context, p *importPreview, head []string, rows [][]string, lines []int,
	cell cellFunc, firstLine map[string]int, isAttr map[string]bool) error {
	users, err := s.store.UsersByUsernames(ctx, p.keys)
	if err != nil {
		return err
	}
	ids := make([]int64, 0, len(users))
	for _, u := range users {
		ids = append(ids, u.ID)
	}
	memberships, err := s.store.ServiceGroupsOfUsers(ctx, ids)
	if err != nil {
		return err
	}
	groups, _, err := s.store.ListServiceGroups(ctx, model.ListQuery{PerPage: 500})
	if err != nil {
		return err
	}
	groupID, groupName := map[string]int64{}, map[int64]string{}
	for _, g := range groups {
		groupID[strings.ToLower(g.Name)] = g.ID
		groupName[g.ID] = g.Name
	}
	for i, row := range rows {
		key, _ := cell(row, "username")
		l := importLine{Line: lines[i], Key: key}
		fail := func(msg string) { l.Action, l.Error = "error", msg }
		u := users[strings.ToLower(key)]
		ch := store.UserChange{}
		switch {
		case key == "":
			fail("username is empty")
		case firstLine[strings.ToLower(key)] != lines[i]:
			fail(fmt.Sprintf("username %s also appears on line %d", key, firstLine[strings.ToLower(key)]))
		}
		cur := model.User{Attributes: model.Attributes{}}
		if u != nil {
			cur = *u
			ch.ID = u.ID
		} else {
			name := key
			ch.Username = &name
			l.Changes = append(l.Changes, change("username", "", key))
		}
		str := func(field string, old string, dst **string) {
			v, ok := cell(row, field)
			if !ok || v == old {
				return
			}
			if u != nil && u.Managed() {
				fail(field + " is managed by the directory")
				return
			}
			*dst = &v
			l.Changes = append(l.Changes, change(field, old, v))
		}
		if l.Action == "" {
			str("email", cur.Email, &ch.Email)
			str("display_name", cur.DisplayName, &ch.DisplayName)
			if v, ok := cell(row, "status"); ok && v != string(cur.Status) {
				st := model.UserStatus(v)
				if st != model.StatusActive && st != model.StatusDisabled {
					fail("status must be active or disabled, not " + v)
				} else if u != nil || st != model.StatusActive {
					ch.Status = &st
					l.Changes = append(l.Changes, change("status", string(cur.Status), v))
				}
			}
			if v, ok := cell(row, "account_type"); ok && v != string(cur.AccountType) {
				at := model.AccountType(v)
				if at != model.AccountDeviceEnabled && at != model.AccountAdministrator {
					fail("account_type must be device_enabled or administrator, not " + v)
				} else if u != nil || at != model.AccountDeviceEnabled {
					ch.AccountType = &at
					l.Changes = append(l.Changes, change("account_type", string(cur.AccountType), v))
				}
			}
			for _, h := range head {
				if !isAttr[h] {
					continue
				}
				if v, ok := cell(row, h); ok && v != cur.Attributes[h] {
					if u != nil && u.Managed() {
						fail(h + " is managed by the directory")
						break
					}
					if ch.Attributes == nil {
						ch.Attributes = model.Attributes{}
					}
					ch.Attributes[h] = v
					l.Changes = append(l.Changes, change(h, cur.Attributes[h], v))
				}
			}
			if v, ok := cell(row, "service_group"); ok && l.Action == "" {
				var have []model.Membership
				if u != nil {
					have = memberships[u.ID]
				}
				old := ""
				if len(have) > 0 {
					old = groupName[have[0].GroupID]
				}
				want, known := groupID[strings.ToLower(v)]
				switch {
				case v == "-":
					want, known = 0, true
				case !known:
					fail("service group " + v + " does not exist")
				}
				for _, m := range have {
					if !m.Manual && known {
						fail("the service group is set by directory sync")
					}
				}
				if known && l.Action == "" && !(len(have) == 1 && have[0].GroupID == want) && !(len(have) == 0 && want == 0) {
					ch.ServiceGroupID = &want
					l.Changes = append(l.Changes, change("service_group", old, v))
				}
			}
		}
		if p.addLine(l, u != nil) {
			p.userCh = append(p.userCh, ch)
		}
	}
	return nil
}

func (s *Server) planDeviceImport(ctx context.Context, p *importPreview, head []string, rows [][]string, lines []int,
	cell cellFunc, firstLine map[string]int, isAttr map[string]bool) error {
	devs, err := s.store.DevicesBySerials(ctx, p.keys)
	if err != nil {
		return err
	}
	var names []string
	for _, row := range rows {
		if v, ok := cell(row, "user"); ok && v != "-" {
			names = append(names, v)
		}
	}
	owners, err := s.store.UsersByUsernames(ctx, names)
	if err != nil {
		return err
	}
	ownerIDs := make([]int64, 0, len(devs))
	for _, d := range devs {
		if d.UserID != 0 {
			ownerIDs = append(ownerIDs, d.UserID)
		}
	}
	ownerNames, err := s.store.UsernamesByID(ctx, ownerIDs)
	if err != nil {
		return err
	}
	for i, row := range rows {
		key, _ := cell(row, "serial")
		l := importLine{Line: lines[i], Key: key}
		fail := func(msg string) { l.Action, l.Error = "error", msg }
		d := devs[strings.ToLower(key)]
		ch := store.DeviceChange{}
		switch {
		case key == "":
			fail("serial is empty")
		case firstLine[strings.ToLower(key)] != lines[i]:
			fail(fmt.Sprintf("serial %s also appears on line %d", key, firstLine[strings.ToLower(key)]))
		}
		cur := model.Device{Attributes: model.Attributes{}}
		if d != nil {
			cur = *d
			ch.ID = d.ID
		} else {
			serial := key
			ch.Serial = &serial
			l.Changes = append(l.Changes, change("serial", "", key))
		}
		if l.Action == "" {
			for _, f := range []struct {
				name string
				old  string
				dst  **string
			}{{"name", cur.Name, &ch.Name}, {"platform", cur.Platform, &ch.Platform}} {
				if v, ok := cell(row, f.name); ok && v != f.old {
					*f.dst = &v
					l.Changes = append(l.Changes, change(f.name, f.old, v))
				}
			}
			if d == nil && ch.Name == nil {
				fail("name is required to create a device")
			}
			for _, h := range head {
				if !isAttr[h] {
					continue
				}
				if v, ok := cell(row, h); ok && v != cur.Attributes[h] {
					if ch.Attributes == nil {
						ch.Attributes = model.Attributes{}
					}
					ch.Attributes[h] = v
					l.Changes = append(l.Changes, change(h, cur.Attributes[h], v))
				}
			}
			if v, ok := cell(row, "user"); ok {
				var want int64
				if v != "-" {
					o := owners[strings.ToLower(v)]
					if o == nil {
						fail("user " + v + " does not exist")
					} else {
						want = o.ID
					}
				}
				if l.Action == "" && want != cur.UserID {
					ch.UserID = &want
					l.Changes = append(l.Changes, change("user", ownerNames[cur.UserID], v))
				}
			}
		}
		if p.addLine(l, d != nil) {
			p.deviceCh = append(p.deviceCh, ch)
		}
	}
	return nil
}

// addLine classifies a planned line (create, update, unchanged, or its
// error) and keeps it; it reports whether the line's change is to apply.
func (p *importPreview) addLine(l importLine, exists bool) bool {
	switch {
	case l.Action == "error":
	case !exists:
		l.Action = "create"
	case len(l.Changes) > 0:
		l.Action = "update"
	default:
		l.Action = "unchanged"
	}
	p.Lines = append(p.Lines, l)
	if l.Action == "create" || l.Action == "update" {
		p.changeLines = append(p.changeLines, l.Line)
		return true
	}
	return false
}
