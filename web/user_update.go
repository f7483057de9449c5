package web

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
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
	// The same change path as the API: only the fields the form offers.
	ch := store.UserChange{ID: id, Status: &u.Status, AccountType: &u.AccountType}
	if !old.Managed() {
		ch.Username, ch.Email, ch.DisplayName = &u.Username, &u.Email, &u.DisplayName
		ch.Attributes = u.Attributes.Clone()
		for k := range old.Attributes {
			if _, ok := ch.Attributes[k]; !ok {
				ch.Attributes[k] = "" // cleared in the form
			}
		}
	}
	err = s.applyOneUserChange(ctx, ch)
	if err == nil {
		u.Username = strings.TrimSpace(u.Username)
	}
	if err != nil {
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

// applyOneUserChange applies one user change all-or-nothing (the console's
// forms and the API's single-object writes), returning its refusal.
func (s *Server) applyOneUserChange(ctx context.Context, ch store.UserChange) error {
	res, err := s.store.ApplyUserChanges(ctx, []store.UserChange{ch}, false)
	if err != nil {
		return err
	}
	return res[0].Err
}
