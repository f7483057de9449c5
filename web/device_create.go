package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// showCreateDevicePage shows the empty new-device form.
func (s *Server) showCreateDevicePage(c echo.Context) error {
	defs, err := s.store.ListAttributes(c.Request().Context())
	if err != nil {
		return err
	}
	f := pages.DeviceForm{Attrs: objEnterpriseGroupAttrs(defs)}
	return s.renderTitled(c, http.StatusOK, "New device", pages.DeviceNewPage(f, s.csrfToken(c)))
}

// deviceFromForm reads the device form into d.
func deviceFromForm(c echo.Context, d *model.Device, defs []model.AttributeDef) {
	d.Name = strings.TrimSpace(c.FormValue("name"))
	d.Serial = strings.TrimSpace(c.FormValue("serial"))
	d.Platform = strings.TrimSpace(c.FormValue("platform"))
	d.Attributes = objAttrs(c, defs)
}

// createDevice creates an unassigned device; a rejected form comes back
// with the typed values and messages at the fields.
func (s *Server) createDevice(c echo.Context) error {
	ctx := c.Request().Context()
	defs, err := s.store.ListAttributes(ctx)
	if err != nil {
		return err
	}
	defs = objEnterpriseGroupAttrs(defs)
	var d model.Device
	deviceFromForm(c, &d, defs)
	if err := s.store.CreateDevice(ctx, &d); err != nil {
		fields, msg, err := objFormError(err)
		if err != nil {
			return err
		}
		f := pages.DeviceForm{Device: d, Attrs: defs, Errors: fields, Message: msg}
		return s.renderTitled(c, http.StatusUnprocessableEntity, "New device", pages.DeviceNewPage(f, s.csrfToken(c)))
	}
	if err := s.flash(c, "Device "+d.Name+" created."); err != nil {
		return err
	}
	return redirect(c, "/devices/"+objIDStr(d.ID))
}
