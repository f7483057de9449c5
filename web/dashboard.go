package web

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// showDashboard is GET /: counts of the main objects.
func (s *Server) showDashboard(c echo.Context) error {
	ctx := c.Request().Context()
	one := model.ListQuery{PerPage: 1}
	var d pages.DashboardData
	var err error
	if _, d.Users, err = s.store.ListUsers(ctx, model.UserFilter{ListQuery: one}); err != nil {
		return fmt.Errorf("web: dashboard: %w", err)
	}
	if _, d.Devices, err = s.store.ListDevices(ctx, model.DeviceFilter{ListQuery: one}); err != nil {
		return fmt.Errorf("web: dashboard: %w", err)
	}
	if _, d.ServiceGroups, err = s.store.ListServiceGroups(ctx, one); err != nil {
		return fmt.Errorf("web: dashboard: %w", err)
	}
	if _, d.Profiles, err = s.store.ListProfiles(ctx, one); err != nil {
		return fmt.Errorf("web: dashboard: %w", err)
	}
	if d.MissingGroups, err = s.missingGroupNotices(ctx); err != nil {
		return err
	}
	sched, err := s.dashboardSchedule(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, pages.Dashboard(d, sched))
}
