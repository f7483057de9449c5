package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// showDevicesPage lists devices: searchable, sortable, paginated.
func (s *Server) showDevicesPage(c echo.Context) error {
	ctx := c.Request().Context()
	q, st := objListQuery(c, "/devices", "devices-table")
	devs, total, err := s.store.ListDevices(ctx, model.DeviceFilter{ListQuery: q})
	if err != nil {
		return err
	}
	st.Total = total
	var ids []int64
	for _, d := range devs {
		if d.UserID != 0 {
			ids = append(ids, d.UserID)
		}
	}
	names := map[int64]string{}
	if len(ids) > 0 {
		if names, err = s.store.UsernamesByID(ctx, ids); err != nil {
			return err
		}
	}
	v := pages.DevicesView{List: st, Devices: devs, Users: names, CanEdit: isAdmin(c)}
	if isFragment(c) {
		return s.render(c, http.StatusOK, pages.DevicesTable(v))
	}
	return s.render(c, http.StatusOK, pages.DevicesPage(v))
}
