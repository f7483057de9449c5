package web

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/auth"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// showLoginPage is GET /login.
func (s *Server) showLoginPage(c echo.Context) error {
	if currentAdmin(c) != nil {
		return c.Redirect(http.StatusSeeOther, localPath(c.QueryParam("next")))
	}
	return s.renderLogin(c, http.StatusOK, pages.LoginForm{Next: localPath(c.QueryParam("next"))})
}

func (s *Server) renderLogin(c echo.Context, status int, f pages.LoginForm) error {
	n, err := s.store.CountAdmins(c.Request().Context())
	if err != nil {
		return fmt.Errorf("web: login: %w", err)
	}
	f.SetupPending = n == 0
	f.CSRF = s.csrfToken(c)
	return s.renderPage(c, status, s.pageData(c, "Sign in", "-"), pages.Login(f))
}

// login is POST /login: it checks the password, limited per account and
// per client IP, and starts a fresh session.
func (s *Server) login(c echo.Context) error {
	ctx := c.Request().Context()
	username := strings.TrimSpace(c.FormValue("username"))
	password := c.FormValue("password")
	f := pages.LoginForm{Username: username, Next: localPath(c.FormValue("next"))}
	if len(username) > 64 {
		username = username[:64]
		f.Username = username
	}
	userKey := "user:" + strings.ToLower(username)
	ipKey := "ip:" + c.RealIP()
	for _, l := range []struct {
		lim *auth.Limiter
		key string
	}{{s.loginByUser, userKey}, {s.loginByIP, ipKey}} {
		if blocked, retry := l.lim.Blocked(l.key); blocked {
			mins := int(math.Ceil(retry.Minutes()))
			c.Response().Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(retry.Seconds()))))
			s.log.Warn("web: sign-in rate limited", "username", username, "ip", c.RealIP())
			f.Error = fmt.Sprintf("Too many failed sign-ins. Try again in %d minute%s.", mins, plural(mins))
			return s.renderLogin(c, http.StatusTooManyRequests, f)
		}
	}
	if username == "" || password == "" {
		f.Error = "Enter your username and password."
		return s.renderLogin(c, http.StatusUnprocessableEntity, f)
	}
	a, err := s.store.GetAdminByUsername(ctx, username)
	switch {
	case model.ErrorCode(err) == model.ENOTFOUND:
		if err = s.dummyCheck(ctx, password); err == nil { // same time as a wrong password
			err = auth.ErrMismatch
		}
	case err != nil:
		return fmt.Errorf("web: login: %w", err)
	default:
		err = s.checkPassword(ctx, a.PasswordHash, password)
	}
	if errors.Is(err, auth.ErrBusy) {
		// Not a failed guess: the password was not checked at all.
		s.log.Warn("web: sign-in refused, password hashing busy", "username", username, "ip", c.RealIP())
		c.Response().Header().Set("Retry-After", "5")
		f.Error = "The server is busy checking other sign-ins. Try again in a few seconds."
		return s.renderLogin(c, http.StatusServiceUnavailable, f)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("web: login: %w", ctx.Err())
	}
	if err != nil {
		if !errors.Is(err, auth.ErrMismatch) {
			s.log.Error("web: login: stored hash unusable", "username", username, "err", err)
		}
		s.loginByUser.Fail(userKey)
		s.loginByIP.Fail(ipKey)
		s.log.Info("web: sign-in failed", "username", username, "ip", c.RealIP())
		f.Error = "Wrong username or password."
		return s.renderLogin(c, http.StatusUnauthorized, f)
	}
	s.loginByUser.Reset(userKey)
	if err := s.startSession(c, a); err != nil {
		return err
	}
	actx := model.WithActor(ctx, a.Username)
	if err := s.store.TouchAdminLogin(actx, a.ID, s.now()); err != nil {
		s.log.Warn("web: record sign-in time", "err", err)
	}
	if err := s.store.WriteAudit(actx, &model.AuditEntry{Action: "login", ObjectType: "admin", ObjectID: a.ID,
		Summary: "signed in from " + c.RealIP()}); err != nil {
		s.log.Warn("web: audit sign-in", "err", err)
	}
	s.log.Info("web: signed in", "username", a.Username, "ip", c.RealIP())
	return c.Redirect(http.StatusSeeOther, f.Next)
}

// logout is POST /logout.
func (s *Server) logout(c echo.Context) error {
	if a := currentAdmin(c); a != nil {
		if err := s.store.WriteAudit(c.Request().Context(), &model.AuditEntry{Action: "logout", ObjectType: "admin",
			ObjectID: a.ID, Summary: "signed out"}); err != nil {
			s.log.Warn("web: audit sign-out", "err", err)
		}
	}
	if err := s.endSession(c); err != nil {
		return err
	}
	return redirect(c, "/login")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
