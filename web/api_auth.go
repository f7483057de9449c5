package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
)

// APIPrefix is where the JSON API lives; every route under it answers in
// JSON, errors included.
const APIPrefix = "/api/"

const ctxToken = "idsync.token"

// isAPIPath reports whether the request is for the JSON API.
func isAPIPath(c echo.Context) bool {
	return strings.HasPrefix(c.Request().URL.Path, APIPrefix)
}

// isTokenRequest reports whether an API request authenticates with an
// Authorization header instead of the session cookie. Such a request skips
// the session and the CSRF check (a browser cannot attach the header to a
// forged cross-site request); apiAuth then requires the token to be valid.
func isTokenRequest(c echo.Context) bool {
	return isAPIPath(c) && c.Request().Header.Get("Authorization") != ""
}

// currentToken returns the API token of the request, or nil (cookie or
// anonymous).
func currentToken(c echo.Context) *model.APIToken {
	t, _ := c.Get(ctxToken).(*model.APIToken)
	return t
}

// tokenQueryParams are query parameters that would carry a credential in a
// URL, where proxies and logs keep it.
var tokenQueryParams = []string{"access_token", "token", "api_token", "api_key", "apikey", "bearer", "authorization"}

// apiAuth guards every /api/v1 route. A request carries either
// "Authorization: Bearer idsync_…" or the console's session cookie (then
// the global CSRF check has already run for state changes). A token is
// refused when unknown, revoked or expired, and at every request when its
// account may no longer use it (the account's role is now below the
// token's). A token in the query string is refused outright. Every
// state-changing method needs the admin role (token role for tokens).
func (s *Server) apiAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		q := r.URL.Query()
		for _, p := range tokenQueryParams {
			if q.Has(p) {
				return &model.Error{Code: model.EINVALID, Message: "Send the API token in the Authorization header, never in the URL.",
					Fields: map[string]string{p: "must not be in the query string"}}
			}
		}
		for k, vs := range q {
			for _, v := range vs {
				if strings.Contains(v, "idsync_") {
					return &model.Error{Code: model.EINVALID, Message: "Send the API token in the Authorization header, never in the URL.",
						Fields: map[string]string{k: "must not carry an API token"}}
				}
			}
		}
		if h := r.Header.Get("Authorization"); h != "" {
			scheme, secret, ok := strings.Cut(h, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="idsync"`)
				return model.Errorf(model.EUNAUTHORIZED, "Use \"Authorization: Bearer <API token>\".")
			}
			tok, owner, err := s.store.AuthenticateAPIToken(r.Context(), strings.TrimSpace(secret), s.now())
			if err != nil {
				if model.ErrorCode(err) == model.EUNAUTHORIZED {
					c.Response().Header().Set("WWW-Authenticate", `Bearer realm="idsync", error="invalid_token"`)
				}
				return err
			}
			if err := tokenOwnerAllows(owner, tok); err != nil {
				return err
			}
			if err := s.store.TouchAPIToken(r.Context(), tok.ID, s.now(), c.RealIP()); err != nil {
				s.log.Warn("web: record api token use", "token", tok.ID, "err", err)
			}
			// The request acts as the owner with the token's role.
			eff := *owner
			eff.Role = tok.Role
			eff.PasswordHash = ""
			c.Set(ctxAdmin, &eff)
			c.Set(ctxToken, tok)
			ctx := model.WithActor(r.Context(), owner.Username+" (api:"+tok.Name+")")
			c.SetRequest(r.WithContext(model.WithToken(ctx, tok.ID)))
		}
		a := currentAdmin(c)
		if a == nil {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="idsync"`)
			return model.Errorf(model.EUNAUTHORIZED, "Send an API token: \"Authorization: Bearer <API token>\".")
		}
		if !safeMethod(r.Method) && a.Role != model.RoleAdmin {
			return model.Errorf(model.EFORBIDDEN, "Your role (%s) can view but not change anything.", a.Role)
		}
		return next(c)
	}
}

// tokenOwnerAllows reports (as EUNAUTHORIZED / EFORBIDDEN) whether the
// token's account may still use it: the account must be active and its
// role must still allow the token's.
func tokenOwnerAllows(owner *model.Admin, tok *model.APIToken) error {
	if !accountActive(owner) {
		return model.Errorf(model.EUNAUTHORIZED, "The API token's account is disabled.")
	}
	if !model.RoleAllows(owner.Role, tok.Role) {
		return model.Errorf(model.EFORBIDDEN, "The API token's role (%s) is higher than its account's role (%s).", tok.Role, owner.Role)
	}
	return nil
}

// accountActive reports whether a console account may act: disabling an
// account disables its tokens at their next request.
func accountActive(a *model.Admin) bool {
	return a.Active()
}

// apiRequireAdmin restricts an API route (also a GET) to the admin role.
func (s *Server) apiRequireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if a := currentAdmin(c); a == nil || a.Role != model.RoleAdmin {
			return model.Errorf(model.EFORBIDDEN, "Only administrators can do this.")
		}
		return next(c)
	}
}

// apiError writes err as the API's JSON error:
// {"error":{"code":…,"message":…,"fields":{…}}}, with the status and the
// codes of the model.Error table the console uses. Internal errors are
// logged and shown as a generic message.
func (s *Server) apiError(err error, c echo.Context) {
	status, code, msg := http.StatusInternalServerError, model.EINTERNAL, "An internal error occurred. It has been logged."
	var fields map[string]string
	var he *echo.HTTPError
	var me *model.Error
	switch {
	case errors.As(err, &me):
		status = ErrorStatus(me)
		code = me.Code
		if status != http.StatusInternalServerError {
			msg, fields = me.Message, me.Fields
		} else {
			code = model.EINTERNAL
		}
	case errors.As(err, &he):
		status = he.Code
		switch status {
		case http.StatusNotFound:
			code, msg = model.ENOTFOUND, "There is nothing at this address."
		case http.StatusMethodNotAllowed:
			code, msg = model.EINVALID, "This address does not accept that method."
		case http.StatusRequestEntityTooLarge:
			code, msg = model.ETOOLARGE, "The request body is too large."
		case http.StatusUnsupportedMediaType:
			code, msg = model.EUNSUPPORTED, "Send the body as application/json."
		default:
			if status < 500 {
				code, msg = model.EINVALID, http.StatusText(status)
			}
		}
	}
	if status >= 500 {
		s.log.Error("web: api request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "status", status, "err", err)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	body := apiErrorBody{Error: apiErrorDetail{Code: code, Message: msg, Fields: fields}}
	if rerr := c.JSON(status, body); rerr != nil {
		s.log.Error("web: write api error", "err", rerr)
	}
}

type apiErrorBody struct {
	Error apiErrorDetail `json:"error"`
}

type apiErrorDetail struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}
