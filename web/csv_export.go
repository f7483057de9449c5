package web

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
)

// CSV exports stream a page of exportPage rows at a time (keyset pages
// by id), so 100k users take the memory of one page. Every text cell is
// escaped against CSV injection as the run reports are (csvSafe).

const exportPage = 1000

// startCSV writes the download headers and returns the CSV writer.
func startCSV(c echo.Context, name string) *csv.Writer {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`-`+time.Now().UTC().Format("20060102")+`.csv"`)
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	return csv.NewWriter(c.Response())
}

// finishCSV flushes w; a failure after the response has started can only
// be logged.
func (s *Server) finishCSV(w *csv.Writer, what string, err error) error {
	w.Flush()
	if err == nil {
		err = w.Error()
	}
	if err != nil {
		s.log.Error("web: csv export", "what", what, "err", err)
	}
	return nil
}

func safeRow(cells ...string) []string {
	for i := range cells {
		cells[i] = csvSafe(cells[i])
	}
	return cells
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

// exportUsers is GET /users/export.csv: every user with their attributes.
func (s *Server) exportUsers(c echo.Context) error {
	ctx := c.Request().Context()
	defs, err := s.store.ListAttributes(ctx)
	if err != nil {
		return err
	}
	w := startCSV(c, "users")
	head := []string{"id", "username", "email", "display_name", "status", "origin", "account_type", "external_id"}
	for _, d := range defs {
		head = append(head, d.Key)
	}
	if err := w.Write(head); err != nil {
		return s.finishCSV(w, "users", err)
	}
	var after int64
	for {
		users, more, err := s.store.UsersAfter(ctx, model.UserFilter{}, after, exportPage)
		if err != nil {
			return s.finishCSV(w, "users", err)
		}
		for _, u := range users {
			row := safeRow(i64(u.ID), u.Username, u.Email, u.DisplayName, string(u.Status), string(u.Origin), string(u.AccountType), u.ExternalID)
			for _, d := range defs {
				row = append(row, csvSafe(u.Attributes[d.Key]))
			}
			if err := w.Write(row); err != nil {
				return s.finishCSV(w, "users", err)
			}
			after = u.ID
		}
		if !more {
			return s.finishCSV(w, "users", nil)
		}
	}
}

// exportDevices is GET /devices/export.csv.
func (s *Server) exportDevices(c echo.Context) error {
	ctx := c.Request().Context()
	defs, err := s.store.ListAttributes(ctx)
	if err != nil {
		return err
	}
	defs = objEnterpriseGroupAttrs(defs)
	w := startCSV(c, "devices")
	head := []string{"id", "name", "serial", "platform", "user_id", "user"}
	for _, d := range defs {
		head = append(head, d.Key)
	}
	if err := w.Write(head); err != nil {
		return s.finishCSV(w, "devices", err)
	}
	var after int64
	for {
		devs, more, err := s.store.DevicesAfter(ctx, model.DeviceFilter{}, after, exportPage)
		if err != nil {
			return s.finishCSV(w, "devices", err)
		}
		ids := make([]int64, 0, len(devs))
		for _, d := range devs {
			if d.UserID != 0 {
				ids = append(ids, d.UserID)
			}
		}
		names, err := s.store.UsernamesByID(ctx, ids)
		if err != nil {
			return s.finishCSV(w, "devices", err)
		}
		for _, d := range devs {
			uid := ""
			if d.UserID != 0 {
				uid = i64(d.UserID)
			}
			row := safeRow(i64(d.ID), d.Name, d.Serial, d.Platform, uid, names[d.UserID])
			for _, a := range defs {
				row = append(row, csvSafe(d.Attributes[a.Key]))
			}
			if err := w.Write(row); err != nil {
				return s.finishCSV(w, "devices", err)
			}
			after = d.ID
		}
		if !more {
			return s.finishCSV(w, "devices", nil)
		}
	}
}

// exportMemberships is GET /memberships/export.csv: every service group
// and profile membership.
func (s *Server) exportMemberships(c echo.Context) error {
	w := startCSV(c, "memberships")
	if err := w.Write([]string{"kind", "group_id", "group", "user_id", "username", "manual"}); err != nil {
		return s.finishCSV(w, "memberships", err)
	}
	err := s.store.EachMembership(c.Request().Context(), func(m store.MembershipRow) error {
		return w.Write(safeRow(m.Kind, i64(m.GroupID), m.GroupName, i64(m.UserID), m.Username, strconv.FormatBool(m.Manual)))
	})
	return s.finishCSV(w, "memberships", err)
}

// exportAudit is GET /audit/export.csv: the audit log, newest first.
func (s *Server) exportAudit(c echo.Context) error {
	ctx := c.Request().Context()
	w := startCSV(c, "audit")
	if err := w.Write([]string{"id", "at", "actor", "token_id", "action", "object_type", "object_id", "summary", "before", "after"}); err != nil {
		return s.finishCSV(w, "audit", err)
	}
	var before int64
	for {
		es, more, err := s.store.AuditBefore(ctx, store.AuditFilter{}, before, exportPage)
		if err != nil {
			return s.finishCSV(w, "audit", err)
		}
		for _, e := range es {
			tok := ""
			if e.TokenID != 0 {
				tok = i64(e.TokenID)
			}
			if err := w.Write(safeRow(i64(e.ID), e.At.UTC().Format(time.RFC3339), e.Actor, tok, e.Action, e.ObjectType,
				i64(e.ObjectID), e.Summary, e.Before, e.After)); err != nil {
				return s.finishCSV(w, "audit", err)
			}
			before = e.ID
		}
		if !more {
			return s.finishCSV(w, "audit", nil)
		}
	}
}
