package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/config"
	"github.com/idsync/idsync/internal/model"
)

// SessionCookie is the name of the console's session cookie.
const SessionCookie = "idsync_session"

// Session value keys.
const (
	sessAdminID = "aid"   // int64: the signed-in admin
	sessIssued  = "iat"   // int64 unix seconds: when they signed in
	sessCSRF    = "csrf"  // string: the per-session CSRF token
	sessFlash   = "flash" // string: a one-time message
	sessFlashEr = "flerr" // bool: the flash message reports a refusal
)

// echo context keys.
const (
	ctxSession = "idsync.session"
	ctxAdmin   = "idsync.admin"
)

// newSessionStore returns a cookie store whose signing and encryption keys
// are derived from the configured session key, so one 32-byte key file is
// enough and the two keys are independent.
func newSessionStore(cfg *config.Config) *sessions.CookieStore {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, cfg.SessionKey)
		m.Write([]byte("idsync session " + label))
		return m.Sum(nil)
	}
	st := sessions.NewCookieStore(derive("authentication"), derive("encryption"))
	st.Options = &sessions.Options{
		Path:     "/",
		MaxAge:   int(cfg.SessionMaxAge.Seconds()),
		HttpOnly: true,
		Secure:   cfg.SecureCookie,
		SameSite: http.SameSiteLaxMode,
	}
	st.MaxAge(int(cfg.SessionMaxAge.Seconds()))
	return st
}

// loadSession is the first middleware: it decodes the session cookie (a
// bad or expired cookie gives a fresh session), makes sure it carries a
// CSRF token, and loads the signed-in admin, putting their name into the
// request context for audit entries.
func (s *Server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch c.Path() {
		case "/healthz", "/readyz", "/metrics", "/static/*":
			// Probes, scrapers and assets need no session: no cookie, no
			// database read per request.
			return next(c)
		}
		if isTokenRequest(c) {
			return next(c) // apiAuth authenticates it; no cookie
		}
		r := c.Request()
		sess, err := s.sessions.New(r, SessionCookie)
		if err != nil {
			// Undecodable (old key, tampered): start over. New still returns a session.
			sess.IsNew = true
			sess.Values = map[any]any{}
		}
		c.Set(ctxSession, sess)
		dirty := false
		if tok, _ := sess.Values[sessCSRF].(string); tok == "" {
			sess.Values[sessCSRF] = randomToken()
			dirty = true
		}
		if id, ok := sess.Values[sessAdminID].(int64); ok && id > 0 {
			iat, _ := sess.Values[sessIssued].(int64)
			a, err := s.store.GetAdmin(r.Context(), id)
			switch {
			case s.now().Sub(time.Unix(iat, 0)) > s.cfg.SessionMaxAge:
				delete(sess.Values, sessAdminID)
				dirty = true
			case model.ErrorCode(err) == model.ENOTFOUND:
				delete(sess.Values, sessAdminID)
				dirty = true
			case err != nil:
				return err
			default:
				c.Set(ctxAdmin, a)
				c.SetRequest(r.WithContext(model.WithActor(r.Context(), a.Username)))
			}
		}
		if dirty {
			if err := s.saveSession(c); err != nil {
				return err
			}
		}
		return next(c)
	}
}

// session returns the request's session (set by loadSession).
func session(c echo.Context) *sessions.Session {
	if sess, ok := c.Get(ctxSession).(*sessions.Session); ok {
		return sess
	}
	return sessions.NewSession(nil, SessionCookie)
}

// saveSession writes the session cookie; call it before the response body.
func (s *Server) saveSession(c echo.Context) error {
	sess := session(c)
	if sess.Options == nil {
		o := *s.sessions.Options
		sess.Options = &o
	}
	if err := s.sessions.Save(c.Request(), c.Response(), sess); err != nil {
		return errors.Join(errors.New("web: save session"), err)
	}
	return nil
}

// currentAdmin returns the signed-in admin, or nil.
func currentAdmin(c echo.Context) *model.Admin {
	a, _ := c.Get(ctxAdmin).(*model.Admin)
	return a
}

// startSession signs a in with a brand-new session: every old value
// (including the CSRF token) is dropped, so a session fixed by an attacker
// before sign-in is worth nothing after it.
func (s *Server) startSession(c echo.Context, a *model.Admin) error {
	sess := session(c)
	sess.Values = map[any]any{
		sessAdminID: a.ID,
		sessIssued:  s.now().Unix(),
		sessCSRF:    randomToken(),
	}
	o := *s.sessions.Options
	sess.Options = &o
	c.Set(ctxAdmin, a)
	return s.saveSession(c)
}

// endSession signs out: the cookie is expired and a new anonymous session
// with a new CSRF token starts on the next request.
func (s *Server) endSession(c echo.Context) error {
	sess := session(c)
	sess.Values = map[any]any{}
	o := *s.sessions.Options
	o.MaxAge = -1
	sess.Options = &o
	c.Set(ctxAdmin, nil)
	return s.saveSession(c)
}

// flash stores msg to be shown on the next page.
func (s *Server) flash(c echo.Context, msg string) error {
	v := session(c).Values
	v[sessFlash] = msg
	delete(v, sessFlashEr)
	return s.saveSession(c)
}

// flashError stores msg, a refusal or failure, to be shown on the next page
// as an error.
func (s *Server) flashError(c echo.Context, msg string) error {
	v := session(c).Values
	v[sessFlash] = msg
	v[sessFlashEr] = true
	return s.saveSession(c)
}

// popFlash returns and clears the pending flash message, and whether it
// reports an error.
func (s *Server) popFlash(c echo.Context) (string, bool) {
	sess := session(c)
	msg, _ := sess.Values[sessFlash].(string)
	isErr, _ := sess.Values[sessFlashEr].(bool)
	if msg == "" {
		return "", false
	}
	delete(sess.Values, sessFlash)
	delete(sess.Values, sessFlashEr)
	if err := s.saveSession(c); err != nil {
		s.log.Warn("web: clear flash", "err", err)
	}
	return msg, isErr
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}
