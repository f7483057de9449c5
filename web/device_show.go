package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// showDevicePage shows one device with its edit and assign forms.
func (s *Server) showDevicePage(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	d, err := s.store.GetDevice(c.Request().Context(), id)
	if err != nil {
		return err
	}
	defs, err := s.store.ListAttributes(c.Request().Context())
	if err != nil {
		return err
	}
	v, err := s.deviceView(c, pages.DeviceForm{Device: *d, Attrs: objEnterpriseGroupAttrs(defs)})
	if err != nil {
		return err
	}
	return s.renderTitled(c, http.StatusOK, "Device "+d.Name, pages.DevicePage(v))
}

// deviceView fills the device page around form f.
func (s *Server) deviceView(c echo.Context, f pages.DeviceForm) (pages.DeviceView, error) {
	v := pages.DeviceView{Form: f, CSRF: s.csrfToken(c), CanEdit: isAdmin(c)}
	if f.Device.UserID != 0 {
		u, err := s.store.GetUser(c.Request().Context(), f.Device.UserID)
		switch {
		case err == nil:
			v.Username = u.Username
		case model.ErrorCode(err) == model.ENOTFOUND:
			v.Username = "#" + objIDStr(f.Device.UserID)
		default:
			return v, err
		}
	}
	return v, nil
}
