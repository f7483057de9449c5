package web

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/auth"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

const (
	setupInvalid = "This setup link is not valid. Use the one-time link idsync printed on its standard output when it started."
	setupExpired = "This setup link has expired: it works for one hour after idsync starts. Restart idsync to print a new one."
)

// SetupTokenTTL is how long the first-admin setup link works after the
// server starts; every start prints a new one while no admin exists.
const SetupTokenTTL = time.Hour

// setupOpen returns "" when token is the unused, unexpired setup token,
// else the message to show.
func (s *Server) setupOpen(token string) string {
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	if s.setupToken == "" || token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(s.setupToken)) != 1 {
		return setupInvalid
	}
	if s.now().Sub(s.setupIssued) >= SetupTokenTTL {
		return setupExpired
	}
	return ""
}

// showSetupPage is GET /setup?token=…: the one-time first-admin form.
func (s *Server) showSetupPage(c echo.Context) error {
	n, err := s.store.CountAdmins(c.Request().Context())
	if err != nil {
		return fmt.Errorf("web: setup: %w", err)
	}
	if n > 0 {
		return s.renderTitled(c, http.StatusGone, "Setup", pages.SetupClosed("Setup is done: an administrator exists. Sign in instead."))
	}
	token := c.QueryParam("token")
	if msg := s.setupOpen(token); msg != "" {
		return s.renderTitled(c, http.StatusForbidden, "Setup", pages.SetupClosed(msg))
	}
	return s.renderTitled(c, http.StatusOK, "Setup", pages.Setup(pages.SetupForm{CSRF: s.csrfToken(c), Token: token}))
}

// setup is POST /setup: creates the first admin, once, and signs them in.
func (s *Server) setup(c echo.Context) error {
	token := c.FormValue("token")
	if msg := s.setupOpen(token); msg != "" {
		return s.renderTitled(c, http.StatusForbidden, "Setup", pages.SetupClosed(msg))
	}
	username := strings.TrimSpace(c.FormValue("username"))
	password := c.FormValue("password")
	form := pages.SetupForm{CSRF: s.csrfToken(c), Token: token, Username: username}
	if fields := auth.ValidateAccount(username, password, c.FormValue("password_confirm")); fields != nil {
		form.Error = "Please correct the highlighted fields."
		form.Fields = fields
		return s.renderTitled(c, http.StatusUnprocessableEntity, "Setup", pages.Setup(form))
	}
	hash, err := s.hashPassword(c.Request().Context(), password)
	if err != nil {
		return fmt.Errorf("web: setup: %w", err)
	}
	a := &model.Admin{Username: username, PasswordHash: hash, Role: model.RoleAdmin}
	ctx := model.WithActor(c.Request().Context(), "setup")
	if err := s.store.CreateFirstAdmin(ctx, a); err != nil {
		if model.ErrorCode(err) == model.ECONFLICT {
			s.closeSetup()
			return s.renderTitled(c, http.StatusGone, "Setup", pages.SetupClosed("Setup is done: an administrator exists. Sign in instead."))
		}
		if model.ErrorCode(err) == model.EINVALID {
			form.Error = model.ErrorMessage(err)
			form.Fields = model.ErrorFields(err)
			return s.renderTitled(c, http.StatusUnprocessableEntity, "Setup", pages.Setup(form))
		}
		return fmt.Errorf("web: setup: %w", err)
	}
	s.closeSetup()
	s.log.Info("web: first administrator created", "username", a.Username)
	if err := s.startSession(c, a); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/")
}

func (s *Server) closeSetup() {
	s.setupMu.Lock()
	s.setupToken = ""
	s.setupMu.Unlock()
}
