package web

import (
	"crypto/subtle"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
)

// CSRFField is the form field carrying the CSRF token; htmx sends it in
// the X-CSRF-Token header instead (hx-headers on <body>).
const (
	CSRFField  = "_csrf"
	CSRFHeader = "X-CSRF-Token"
)

// safeMethod reports whether m changes nothing by definition.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// csrfToken returns the session's token for forms and hx-headers: an
// HMAC of the session id, so it changes with every new session.
func (s *Server) csrfToken(c echo.Context) string {
	return s.sessions.csrfFor(session(c).ID)
}

// checkCSRF refuses every state-changing request whose token (header or
// form field) does not match the session's, compared in constant time.
func (s *Server) checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if safeMethod(c.Request().Method) || isTokenRequest(c) {
			return next(c)
		}
		want := s.csrfToken(c)
		got := c.Request().Header.Get(CSRFHeader)
		if got == "" {
			got = c.FormValue(CSRFField)
		}
		if want == "" || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return model.Errorf(model.EFORBIDDEN, "The form has expired or did not come from this console. Reload the page and try again.")
		}
		return next(c)
	}
}
