package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// showUsersPage lists users: searchable, sortable, paginated. An htmx
// request (live search, sort, page) gets the page fragment, from which
// the table is swapped in.
func (s *Server) showUsersPage(c echo.Context) error {
	q, st := objListQuery(c, "/users", "users-table")
	users, total, err := s.store.ListUsers(c.Request().Context(), model.UserFilter{ListQuery: q})
	if err != nil {
		return err
	}
	st.Total = total
	v := pages.UsersView{List: st, Users: users, CanEdit: isAdmin(c)}
	v.Actions = s.withProductActions(c, v.Actions, 0)
	if isFragment(c) {
		return s.render(c, http.StatusOK, pages.UsersTable(v))
	}
	return s.render(c, http.StatusOK, pages.UsersPage(v))
}
