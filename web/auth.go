package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
)

// requireLogin guards every non-public route: an anonymous GET is sent to
// the sign-in page (coming back afterwards), anything else is refused
// with 401. Signed-in auditors may read but every state-changing method is
// refused with 403 here, so a route added later cannot forget it.
func (s *Server) requireLogin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		a := currentAdmin(c)
		m := c.Request().Method
		if a == nil {
			return refuseAnonymous(c)
		}
		if !safeMethod(m) && a.Role != model.RoleAdmin {
			return model.Errorf(model.EFORBIDDEN, "Your role (%s) can view but not change anything.", a.Role)
		}
		return next(c)
	}
}

// refuseAnonymous sends an anonymous GET to the sign-in page (coming
// back afterwards) and refuses anything else with 401.
func refuseAnonymous(c echo.Context) error {
	if safeMethod(c.Request().Method) && c.Request().Header.Get("HX-Request") != "true" {
		return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
	}
	return model.Errorf(model.EUNAUTHORIZED, "Please sign in.")
}

// requireAdmin restricts a route (also a GET, e.g. a form only admins
// can use) to the admin role. requireLogin must run first.
func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		a := currentAdmin(c)
		if a == nil {
			return model.Errorf(model.EUNAUTHORIZED, "Please sign in.")
		}
		if a.Role != model.RoleAdmin {
			return model.Errorf(model.EFORBIDDEN, "Only administrators can do this; your role is %s.", a.Role)
		}
		return next(c)
	}
}

// isAdmin reports whether the signed-in account may change things
// (templates use it to hide buttons auditors cannot use).
func isAdmin(c echo.Context) bool {
	a := currentAdmin(c)
	return a != nil && a.Role == model.RoleAdmin
}

// localPath returns next when it is a path on this site, else "/": the
// sign-in redirect must not become an open redirect.
func localPath(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}
