package web

import (
	"github.com/labstack/echo/v4"
)

// deleteUser deletes a user after the page's confirm.
func (s *Server) deleteUser(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	u, err := s.store.GetUser(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if err := s.store.DeleteUser(c.Request().Context(), id); err != nil {
		return err
	}
	if err := s.flash(c, "User "+u.Username+" deleted."); err != nil {
		return err
	}
	return redirect(c, "/users")
}
