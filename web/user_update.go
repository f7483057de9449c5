package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// updateUser saves the user form. For a directory user only the fields
// sync does not manage (status, account type) are taken from the form.
// A rejected form re-renders with the typed values; nothing is saved.
func (s *Server) updateUser(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	old, err := s.store.GetUser(ctx, id)
	if err != nil {
		return err
	}
	defs, err := s.store.ListAttributes(ctx)
	if err != nil {
		return err
	}
	u := *old
	u.Attributes = old.Attributes.Clone()
	if !old.Managed() {
		u.Username = strings.TrimSpace(c.FormValue("username"))
		u.Email = strings.TrimSpace(c.FormValue("email"))
		u.DisplayName = strings.TrimSpace(c.FormValue("display_name"))
		u.Attributes = objAttrs(c, defs)
	}
	u.Status = model.UserStatus(c.FormValue("status"))
	u.AccountType = model.AccountType(c.FormValue("account_type"))
	if u.Status != old.Status {
		// An admin's choice: sync must not undo it as its own.
		u.DisabledBySync = false
	}
	if err := s.store.UpdateUser(ctx, &u); err != nil {
		fields, msg, err := objFormError(err)
		if err != nil {
			return err
		}
		v, err := s.userView(c, pages.UserForm{User: u, Attrs: defs, Errors: fields, Message: msg})
		if err != nil {
			return err
		}
		// The heading keeps the stored name, not the rejected one.
		v.Form.User.ID = old.ID
		return s.renderTitled(c, http.StatusUnprocessableEntity, "User "+old.Username, pages.UserPage(v))
	}
	if err := s.flash(c, "User "+u.Username+" saved."); err != nil {
		return err
	}
	return redirect(c, "/users/"+objIDStr(u.ID))
}
