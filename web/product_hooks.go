package web

import (
	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/templates/pages"
)

// withProductActions adds the products' buttons to other pages' action
// slots: "Sync selected users to products" on the users list (inside form
// users-select) and "Sync to products" on one user's page. Admins only.
func (s *Server) withProductActions(c echo.Context, existing templ.Component, userID int64) templ.Component {
	if !isAdmin(c) {
		return existing
	}
	var btn templ.Component
	if userID == 0 {
		btn = pages.UsersSyncAction(s.csrfToken(c))
	} else {
		btn = pages.UserSyncAction(userID, s.csrfToken(c))
	}
	if existing == nil {
		return btn
	}
	return templ.Join(existing, btn)
}
