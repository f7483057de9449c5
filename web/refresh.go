package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// refreshUser is POST /users/:id/refresh: read the user from the directory
// now, apply their changes alone, answer with a short report fragment.
func (s *Server) refreshUser(c echo.Context) error {
	eng, err := s.engine()
	if err != nil {
		return err
	}
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	run, err := eng.RefreshUser(c.Request().Context(), id)
	if run == nil {
		return err
	}
	items, _, ierr := s.store.ListRunItems(c.Request().Context(), run.ID, model.RunItemFilter{ListQuery: model.ListQuery{PerPage: 50}})
	if ierr != nil {
		return ierr
	}
	if !isFragment(c) {
		set := s.flash
		if run.Error != "" {
			set = s.flashError
		}
		if err := set(c, refreshFlash(run)); err != nil {
			return err
		}
		return redirect(c, "/users/"+objIDStr(id))
	}
	return s.renderPage(c, http.StatusOK, s.pageData(c, "", ""), pages.RefreshReport(run, items))
}

func refreshFlash(r *model.Run) string {
	if r.Error != "" {
		return "Refresh: " + r.Error
	}
	if r.Counts["gone"] > 0 {
		return "Refresh: the user is no longer in the directory; nothing was changed now — the next full sync deprovisions them as configured."
	}
	if r.Done == 0 {
		return "Refresh: already up to date with the directory."
	}
	return "Refresh: changes applied (run #" + objIDStr(r.ID) + ")."
}

// showUserWhy is GET /users/:id/why: the "Why?" explanation.
func (s *Server) showUserWhy(c echo.Context) error {
	eng, err := s.engine()
	if err != nil {
		return err
	}
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	ex, err := eng.Explain(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return s.renderTitled(c, http.StatusOK, "Why? "+ex.Username, pages.WhyPanel(ex))
}
