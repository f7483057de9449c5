package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// showReconcilePage is GET /devices/reconcile[?run=ID].
func (s *Server) showReconcilePage(c echo.Context) error {
	v := pages.ReconcileView{CSRF: s.csrfToken(c), CanEdit: isAdmin(c)}
	if id, _ := strconv.ParseInt(c.QueryParam("run"), 10, 64); id > 0 {
		run, err := s.store.GetRun(c.Request().Context(), id)
		if err != nil {
			return err
		}
		if run.Kind != model.RunReconcile || run.PreviewRunID != 0 {
			return model.Errorf(model.ENOTFOUND, "Run %d is not a reconcile preview.", id)
		}
		v.Preview = run
		f, items := runItemsQuery(c, "/devices/reconcile?run="+strconv.FormatInt(id, 10), "reconcile-items")
		if v.Phases, err = s.loadRunItems(c.Request().Context(), run, f, &items); err != nil {
			return err
		}
		v.Items = items
	}
	return s.renderTitled(c, http.StatusOK, "Reconcile devices", pages.ReconcilePage(v))
}

// previewReconcile is POST /devices/reconcile.
func (s *Server) previewReconcile(c echo.Context) error {
	eng, err := s.engine()
	if err != nil {
		return err
	}
	run, err := eng.PreviewReconcile(c.Request().Context(), model.TriggerAdmin)
	if run == nil {
		return err
	}
	return redirect(c, "/devices/reconcile?run="+strconv.FormatInt(run.ID, 10))
}

// applyReconcile is POST /devices/reconcile/apply.
func (s *Server) applyReconcile(c echo.Context) error {
	return s.applyPreview(c, "/devices/reconcile?run=")
}
