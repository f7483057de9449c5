package web

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

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

// login is POST /login. Each attempt is counted before the password is
// checked, per account from this client and per client (throttle.go), so
// parallel guesses get no more than the limit; the right password then
// starts a fresh session, or asks for the second factor first.
func (s *Server) login(c echo.Context) error {
	ctx := c.Request().Context()
	username := strings.TrimSpace(c.FormValue("username"))
	password := c.FormValue("password")
	f := pages.LoginForm{Username: username, Next: localPath(c.FormValue("next"))}
	if len(username) > 64 {
		username = username[:64]
		f.Username = username
	}
	if len(password) > auth.MaxPasswordLen {
		password = password[:auth.MaxPasswordLen]
	}
	if username == "" || password == "" {
		f.Error = "Enter your username and password."
		return s.renderLogin(c, http.StatusUnprocessableEntity, f)
	}
	ip := c.RealIP()
	attempts, refused := s.beginSignIn(c, "user:"+strings.ToLower(username)+"|"+ip, "ip:"+ip)
	if refused != nil {
		s.log.Warn("web: sign-in throttled", "username", username, "ip", ip)
		f.Error = refused.Error()
		return s.renderLogin(c, http.StatusTooManyRequests, f)
	}
	a, err := s.checkSignIn(ctx, username, password)
	if errors.Is(err, auth.ErrBusy) {
		// Not a failed guess: the password was not checked at all.
		attempts.cancel()
		s.log.Warn("web: sign-in refused, password hashing busy", "username", username, "ip", ip)
		c.Response().Header().Set("Retry-After", "5")
		f.Error = "The server is busy checking other sign-ins. Try again in a few seconds."
		return s.renderLogin(c, http.StatusServiceUnavailable, f)
	}
	switch {
	case errors.Is(err, errDirectoryDown):
		// Not a guess either; local accounts are unaffected.
		attempts.cancel()
		f.Error = err.Error()
		return s.renderLogin(c, http.StatusServiceUnavailable, f)
	case errors.Is(err, errDirectoryDisabled), errors.Is(err, errNotInGroups):
		attempts.succeed() // the password was right
		s.log.Info("web: directory sign-in refused", "username", username, "ip", ip, "why", err)
		f.Error = err.Error()
		return s.renderLogin(c, http.StatusForbidden, f)
	case err != nil:
		attempts.cancel()
		return fmt.Errorf("web: login: %w", err)
	}
	if a == nil {
		attempts.fail()
		s.log.Info("web: sign-in failed", "username", username, "ip", ip)
		f.Error = "Wrong username or password."
		return s.renderLogin(c, http.StatusUnauthorized, f)
	}
	attempts.succeed()
	if !a.Active() {
		s.log.Info("web: sign-in of a disabled account", "username", a.Username, "ip", ip)
		f.Error = "This account is disabled. Ask an administrator."
		return s.renderLogin(c, http.StatusForbidden, f)
	}
	if a.MFAEnabled {
		return s.askSecondFactor(c, a, f.Next)
	}
	return s.finishSignIn(c, a, f.Next, "")
}

// checkSignIn checks username's password — locally, or by the directory
// for a directory account (directory_login.go). It returns nil, nil for a
// wrong username or password (in the same time either way), an error only
// when the check itself could not run (auth.ErrBusy: hashing is full).
func (s *Server) checkSignIn(ctx context.Context, username, password string) (*model.Admin, error) {
	a, err := s.store.GetAdminByUsername(ctx, username)
	switch {
	case model.ErrorCode(err) == model.ENOTFOUND:
		return s.directorySignIn(ctx, nil, username, password)
	case err != nil:
		return nil, err
	case a.Directory():
		return s.directorySignIn(ctx, a, username, password)
	}
	switch err := s.checkPassword(ctx, a.PasswordHash, password); {
	case err == nil:
		return a, nil
	case errors.Is(err, auth.ErrMismatch):
		return nil, nil
	case errors.Is(err, auth.ErrBusy) || ctx.Err() != nil:
		return nil, err
	default:
		s.log.Error("web: login: stored hash unusable", "username", username, "err", err)
		return nil, nil
	}
}

// finishSignIn starts the signed-in session, records the sign-in and
// audits it; how says how it was completed ("" = password alone).
func (s *Server) finishSignIn(c echo.Context, a *model.Admin, next, how string) error {
	ctx := c.Request().Context()
	if err := s.startSession(c, a); err != nil {
		return err
	}
	actx := model.WithActor(ctx, a.Username)
	if err := s.store.TouchAdminLogin(actx, a.ID, s.now()); err != nil {
		s.log.Warn("web: record sign-in time", "err", err)
	}
	summary := "signed in from " + c.RealIP()
	if how != "" {
		summary += " (" + how + ")"
	}
	if err := s.store.WriteAudit(actx, &model.AuditEntry{Action: "login", ObjectType: "admin", ObjectID: a.ID,
		Summary: summary}); err != nil {
		s.log.Warn("web: audit sign-in", "err", err)
	}
	s.log.Info("web: signed in", "username", a.Username, "ip", c.RealIP())
	if need, err := s.mfaRequired(c, a); err != nil {
		return err
	} else if need {
		return c.Redirect(http.StatusSeeOther, "/account/mfa")
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// signInAttempts are the throttle attempts one sign-in holds.
type signInAttempts []*auth.Attempt

func (as signInAttempts) fail() {
	for _, a := range as {
		a.Fail()
	}
}

func (as signInAttempts) succeed() {
	for _, a := range as {
		a.Succeed()
	}
}

func (as signInAttempts) cancel() {
	for _, a := range as {
		a.Cancel()
	}
}

// beginSignIn admits one attempt for the account key and the client key,
// or refuses (setting Retry-After) with the message to show.
func (s *Server) beginSignIn(c echo.Context, userKey, ipKey string) (signInAttempts, error) {
	var got signInAttempts
	for _, k := range []struct {
		th  *auth.Throttle
		key string
	}{{s.signInByUser, userKey}, {s.signInByIP, ipKey}} {
		a, wait, ok := k.th.Begin(k.key)
		if !ok {
			got.cancel()
			c.Response().Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
			return nil, errors.New("Too many failed sign-ins. Try again in " + waitText(wait) + ".")
		}
		got = append(got, a)
	}
	return got, nil
}

// waitText says a wait in whole seconds or minutes.
func waitText(d time.Duration) string {
	if d < time.Minute {
		n := max(1, int(math.Ceil(d.Seconds())))
		return fmt.Sprintf("%d second%s", n, plural(n))
	}
	n := int(math.Ceil(d.Minutes()))
	return fmt.Sprintf("%d minute%s", n, plural(n))
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
