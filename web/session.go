package web

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/config"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
)

// SessionCookie is the name of the console's session cookie.
const SessionCookie = "idsync_session"

// Session value keys.
const (
	sessAdminID = "aid"   // int64: the signed-in admin
	sessIssued  = "iat"   // int64 unix seconds: when they signed in
	sessFlash   = "flash" // string: a one-time message
	sessFlashEr = "flerr" // bool: the flash message reports a refusal
)

// echo context keys.
const (
	ctxSession = "idsync.session"
	ctxAdmin   = "idsync.admin"
)

// newSessionStore returns the database-backed session store; its cookie
// signing key is derived from the configured session key.
func newSessionStore(cfg *config.Config, st *store.Store, now func() time.Time) *dbSessionStore {
	return newDBSessionStore(st, cfg.SessionKey, sessions.Options{
		Path:     "/",
		HttpOnly: true,
		Secure:   cfg.SecureCookie,
		SameSite: http.SameSiteLaxMode,
	}, cfg.SessionMaxAge, sessionIdle(cfg), now)
}

// sessionIdle is the idle timeout (30 minutes when the config leaves it unset).
func sessionIdle(cfg *config.Config) time.Duration {
	if cfg.SessionIdleTimeout > 0 {
		return cfg.SessionIdleTimeout
	}
	return 30 * time.Minute
}

// loadSession is the first middleware: it loads the session named by the
// cookie (expired, ended or tampered → an anonymous one), and the
// signed-in admin, putting their name into the request context for audit
// entries. A disabled or deleted account's session ends here.
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
			return err
		}
		sess.Values[sessIP] = c.RealIP()
		sess.Values[sessUA] = r.UserAgent()
		c.Set(ctxSession, sess)
		if id, ok := sess.Values[sessAdminID].(int64); ok && id > 0 {
			a, err := s.store.GetAdmin(r.Context(), id)
			switch {
			case model.ErrorCode(err) == model.ENOTFOUND || (err == nil && !a.Active()):
				if err := s.endSession(c); err != nil {
					return err
				}
			case err != nil:
				return err
			default:
				if ok, err := s.directoryStillAllows(c, a); err != nil {
					return err
				} else if !ok {
					if err := s.endSession(c); err != nil {
						return err
					}
					break
				}
				c.Set(ctxAdmin, a)
				c.SetRequest(r.WithContext(model.WithActor(r.Context(), a.Username)))
				if answered, err := s.requireMFAEnrolment(c); answered || err != nil {
					return err
				}
			}
		}
		if fresh, _ := sess.Values[sessFresh].(bool); fresh {
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
		o := s.sessions.opts
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

// startSession signs a in with a brand-new session: a new random id (the
// old session's row is deleted), so a session fixed by an attacker before
// sign-in — and its CSRF token — is worth nothing after it.
func (s *Server) startSession(c echo.Context, a *model.Admin) error {
	sess := session(c)
	if sess.ID != "" {
		if err := s.store.DeleteSession(c.Request().Context(), hashID(sess.ID)); err != nil {
			return err
		}
	}
	ip, _ := sess.Values[sessIP].(string)
	ua, _ := sess.Values[sessUA].(string)
	sess.ID = ""
	sess.IsNew = true
	sess.Values = map[any]any{
		sessAdminID: a.ID,
		sessIssued:  s.now().Unix(),
		sessIP:      ip,
		sessUA:      ua,
	}
	o := s.sessions.opts
	sess.Options = &o
	c.Set(ctxAdmin, a)
	return s.saveSession(c)
}

// endSession signs out: the session's row is deleted and the cookie
// expired; a new anonymous session with a new CSRF token starts on the
// next request.
func (s *Server) endSession(c echo.Context) error {
	sess := session(c)
	sess.Values = map[any]any{}
	o := s.sessions.opts
	o.MaxAge = -1
	sess.Options = &o
	c.Set(ctxAdmin, nil)
	if err := s.saveSession(c); err != nil {
		return err
	}
	sess.ID = ""
	return nil
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
