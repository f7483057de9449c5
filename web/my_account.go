package web

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/auth"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// showMyAccountPage is GET /account.
func (s *Server) showMyAccountPage(c echo.Context) error {
	v, err := s.myAccountView(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, pages.MyAccountPage(v))
}

func (s *Server) myAccountView(c echo.Context) (pages.MyAccountView, error) {
	ctx := c.Request().Context()
	me := currentAdmin(c)
	sess, err := s.store.ListAdminSessions(ctx, me.ID, s.now(), s.sessions.idle)
	if err != nil {
		return pages.MyAccountView{}, err
	}
	left, err := s.store.CountRecoveryCodes(ctx, me.ID)
	if err != nil {
		return pages.MyAccountView{}, err
	}
	need, err := s.mfaRequired(c, me)
	if err != nil {
		return pages.MyAccountView{}, err
	}
	return pages.MyAccountView{Account: *me, Sessions: sess, CurrentSession: hashID(session(c).ID), CSRF: s.csrfToken(c),
		MFARequired: need, RecoveryLeft: left}, nil
}

// changeMyPassword is POST /account/password: the current password is
// required; the new one ends every session of the account, and this
// browser continues in a new one.
func (s *Server) changeMyPassword(c echo.Context) error {
	ctx := c.Request().Context()
	me := currentAdmin(c)
	fail := func(fields map[string]string, msg string) error {
		v, err := s.myAccountView(c)
		if err != nil {
			return err
		}
		v.Errors, v.Message = fields, msg
		return s.render(c, http.StatusUnprocessableEntity, pages.MyAccountPage(v))
	}
	if me.Directory() {
		return fail(nil, "Your password is your directory password; change it there.")
	}
	cur, pw := c.FormValue("current_password"), c.FormValue("password")
	if len(cur) > auth.MaxPasswordLen {
		cur = cur[:auth.MaxPasswordLen]
	}
	if err := s.checkPassword(ctx, me.PasswordHash, cur); err != nil {
		if !errors.Is(err, auth.ErrMismatch) {
			return err
		}
		return fail(map[string]string{"current_password": "This is not your current password."}, "The password was not changed.")
	}
	if fields := auth.ValidateAccount(me.Username, pw, c.FormValue("password_confirm")); fields != nil {
		delete(fields, "username")
		if len(fields) > 0 {
			return fail(fields, "The password was not changed.")
		}
	}
	hash, err := s.hashPassword(ctx, pw)
	if err != nil {
		return err
	}
	a, err := s.store.SetAdminPassword(ctx, me.ID, hash)
	if err != nil {
		return err
	}
	if err := s.startSession(c, a); err != nil {
		return err
	}
	if err := s.flash(c, "Password changed. Your other sessions have ended."); err != nil {
		return err
	}
	return redirect(c, "/account")
}

// endMySessions is POST /account/sessions/end-all ("sign out
// everywhere"): every session of the account ends, this one too.
func (s *Server) endMySessions(c echo.Context) error {
	me := currentAdmin(c)
	if _, err := s.store.EndAdminSessions(c.Request().Context(), me.ID, ""); err != nil {
		return err
	}
	if err := s.endSession(c); err != nil {
		return err
	}
	return redirect(c, "/login")
}

// endMySession is POST /account/sessions/:key/end: one other session.
func (s *Server) endMySession(c echo.Context) error {
	me := currentAdmin(c)
	key := c.Param("key")
	if key == hashID(session(c).ID) {
		return model.Errorf(model.EINVALID, "To end this session, sign out.")
	}
	if err := s.store.DeleteAdminSession(c.Request().Context(), me.ID, key); err != nil {
		if model.ErrorCode(err) == model.ENOTFOUND {
			if err := s.flashError(c, model.ErrorMessage(err)); err != nil {
				return err
			}
			return redirect(c, "/account")
		}
		return err
	}
	if err := s.flash(c, "Session ended."); err != nil {
		return err
	}
	return redirect(c, "/account")
}

// showResetPasswordPage is GET /reset-password/:token (no sign-in).
func (s *Server) showResetPasswordPage(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	v := pages.ResetPasswordView{Token: c.Param("token"), CSRF: s.csrfToken(c)}
	a, err := s.store.PasswordResetAccount(c.Request().Context(), auth.TokenHash(v.Token), s.now())
	switch {
	case model.ErrorCode(err) == model.ENOTFOUND:
		v.Invalid = true
		return s.renderPage(c, http.StatusNotFound, s.pageData(c, "Set a new password", "-"), pages.ResetPasswordPage(v))
	case err != nil:
		return err
	}
	v.Username = a.Username
	return s.renderPage(c, http.StatusOK, s.pageData(c, "Set a new password", "-"), pages.ResetPasswordPage(v))
}

// resetPassword is POST /reset-password/:token: it sets the password once;
// every session of the account ends.
func (s *Server) resetPassword(c echo.Context) error {
	ctx := c.Request().Context()
	c.Response().Header().Set("Cache-Control", "no-store")
	v := pages.ResetPasswordView{Token: c.Param("token"), CSRF: s.csrfToken(c)}
	page := func(status int) error {
		return s.renderPage(c, status, s.pageData(c, "Set a new password", "-"), pages.ResetPasswordPage(v))
	}
	a, err := s.store.PasswordResetAccount(ctx, auth.TokenHash(v.Token), s.now())
	if model.ErrorCode(err) == model.ENOTFOUND {
		v.Invalid = true
		return page(http.StatusNotFound)
	} else if err != nil {
		return err
	}
	v.Username = a.Username
	pw := c.FormValue("password")
	if fields := auth.ValidateAccount(a.Username, pw, c.FormValue("password_confirm")); fields != nil {
		delete(fields, "username")
		if len(fields) > 0 {
			v.Errors, v.Message = fields, "The password was not changed."
			return page(http.StatusUnprocessableEntity)
		}
	}
	hash, err := s.hashPassword(ctx, pw)
	if err != nil {
		return err
	}
	if _, err := s.store.UsePasswordReset(model.WithActor(ctx, a.Username), auth.TokenHash(v.Token), hash, s.now()); err != nil {
		if model.ErrorCode(err) == model.ENOTFOUND {
			v.Invalid = true
			return page(http.StatusNotFound)
		}
		return err
	}
	if err := s.flash(c, "Password set. Sign in with it."); err != nil {
		return err
	}
	return redirect(c, "/login")
}
