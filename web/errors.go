package web

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/layout"
	"github.com/idsync/idsync/templates/pages"
)

// errorStatus maps each model error code to its one HTTP status.
var errorStatus = map[string]int{
	model.EINVALID:      http.StatusUnprocessableEntity,
	model.ENOTFOUND:     http.StatusNotFound,
	model.ECONFLICT:     http.StatusConflict,
	model.EUNAUTHORIZED: http.StatusUnauthorized,
	model.EFORBIDDEN:    http.StatusForbidden,
	model.EUNAVAILABLE:  http.StatusServiceUnavailable,
	model.ERATELIMIT:    http.StatusTooManyRequests,
	model.EINTERNAL:     http.StatusInternalServerError,
	model.EBADREQUEST:   http.StatusBadRequest,
	model.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	model.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
}

// ErrorStatus returns the HTTP status for err (500 for anything that is
// not a *model.Error with a known code).
func ErrorStatus(err error) int {
	if st, ok := errorStatus[model.ErrorCode(err)]; ok {
		return st
	}
	return http.StatusInternalServerError
}

var errorHeadings = map[int]string{
	http.StatusBadRequest:            "Bad request",
	http.StatusUnauthorized:          "Please sign in",
	http.StatusForbidden:             "Not allowed",
	http.StatusNotFound:              "Not found",
	http.StatusMethodNotAllowed:      "Not allowed",
	http.StatusConflict:              "Conflict",
	http.StatusRequestEntityTooLarge: "Too large",
	http.StatusUnsupportedMediaType:  "Not accepted",
	http.StatusUnprocessableEntity:   "Please check your input",
	http.StatusTooManyRequests:       "Too many attempts",
	http.StatusServiceUnavailable:    "Unavailable",
}

// handleError is echo's error handler: every error a handler returns ends
// here and becomes a page (or, for htmx, a message retargeted to #flash).
// Internal errors are logged with their cause and shown as a generic message.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		s.log.Error("web: error after response started", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
		return
	}
	if isAPIPath(c) {
		s.apiError(err, c)
		return
	}
	status, msg := http.StatusInternalServerError, "An internal error occurred. It has been logged."
	var he *echo.HTTPError
	var me *model.Error
	switch {
	case errors.As(err, &me):
		status = ErrorStatus(me)
		if status != http.StatusInternalServerError {
			msg = me.Message
		}
	case errors.As(err, &he):
		status = he.Code
		switch status {
		case http.StatusNotFound:
			msg = "There is nothing at this address."
		case http.StatusMethodNotAllowed:
			msg = "This address does not accept that request."
		case http.StatusRequestEntityTooLarge:
			msg = "The request is too large."
		default:
			if status < 500 {
				msg = http.StatusText(status)
			}
		}
	}
	if status >= 500 {
		s.log.Error("web: request failed", "method", c.Request().Method, "path", c.Request().URL.Path,
			"status", status, "err", err)
	} else {
		s.log.Debug("web: request refused", "method", c.Request().Method, "path", c.Request().URL.Path,
			"status", status, "err", err)
	}
	if status == http.StatusUnauthorized && c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Redirect", "/login")
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	var rerr error
	if c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Retarget", "#flash")
		c.Response().Header().Set("HX-Reswap", "innerHTML")
		rerr = s.renderFragment(c, status, layout.ErrorFlash(msg))
	} else {
		heading := errorHeadings[status]
		if heading == "" {
			heading = "Something went wrong"
		}
		rerr = s.renderPage(c, status, s.pageData(c, heading, "-"), pages.ErrorPage(status, heading, msg))
	}
	if rerr != nil {
		s.log.Error("web: render error page", "err", rerr)
		_ = c.String(status, msg)
	}
}
