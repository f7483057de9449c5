package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/templates/pages"
)

// showAuditPage lists audit entries, newest first, searchable and paginated.
func (s *Server) showAuditPage(c echo.Context) error {
	q, st := objListQuery(c, "/audit", "audit-table")
	q.Sort, st.Sort = "", "" // always newest first
	entries, total, err := s.store.ListAudit(c.Request().Context(), q)
	if err != nil {
		return err
	}
	st.Total = total
	v := pages.AuditView{List: st, Entries: entries}
	if isFragment(c) {
		return s.render(c, http.StatusOK, pages.AuditTable(v))
	}
	return s.render(c, http.StatusOK, pages.AuditPage(v))
}
