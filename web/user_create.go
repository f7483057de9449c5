package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// showCreateUserPage shows the empty new-user form.
func (s *Server) showCreateUserPage(c echo.Context) error {
	defs, err := s.store.ListAttributes(c.Request().Context())
	if err != nil {
		return err
	}
	f := pages.UserForm{User: model.User{Status: model.StatusActive, AccountType: model.AccountDeviceEnabled, Origin: model.OriginLocal}, Attrs: defs}
	return s.renderTitled(c, http.StatusOK, "New user", pages.UserNewPage(f, s.csrfToken(c)))
}

// createUser creates a local user. A rejected form comes back with the
// typed values and a message at each bad field; nothing is saved.
func (s *Server) createUser(c echo.Context) error {
	ctx := c.Request().Context()
	defs, err := s.store.ListAttributes(ctx)
	if err != nil {
		return err
	}
	u := model.User{
		Username:    strings.TrimSpace(c.FormValue("username")),
		Email:       strings.TrimSpace(c.FormValue("email")),
		DisplayName: strings.TrimSpace(c.FormValue("display_name")),
		Status:      model.UserStatus(c.FormValue("status")),
		AccountType: model.AccountType(c.FormValue("account_type")),
		Origin:      model.OriginLocal,
		Attributes:  objAttrs(c, defs),
	}
	if err := s.store.CreateUser(ctx, &u); err != nil {
		fields, msg, err := objFormError(err)
		if err != nil {
			return err
		}
		f := pages.UserForm{User: u, Attrs: defs, Errors: fields, Message: msg}
		return s.renderTitled(c, http.StatusUnprocessableEntity, "New user", pages.UserNewPage(f, s.csrfToken(c)))
	}
	if err := s.flash(c, "User "+u.Username+" created."); err != nil {
		return err
	}
	return redirect(c, "/users/"+objIDStr(u.ID))
}
