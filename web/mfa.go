package web

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/auth"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// Session keys of the second factor.
const (
	sessMFASecret  = "mfa_pending" // string: a sealed TOTP secret being enrolled
	sessPendingID  = "pending_aid" // int64: password checked, second factor due
	sessPendingAt  = "pending_at"  // int64 unix: when the password was checked
	sessPendingNxt = "pending_next"
)

// pendingMFALifetime is how long the second step of a sign-in may take.
const pendingMFALifetime = 5 * time.Minute

// mfaRequired reports whether the settings require a second factor of a
// and a has none yet.
func (s *Server) mfaRequired(c echo.Context, a *model.Admin) (bool, error) {
	if a.Role != model.RoleAdmin || a.MFAEnabled {
		return false, nil
	}
	ca, err := s.store.GetConsoleAuth(c.Request().Context())
	if err != nil {
		return false, err
	}
	return ca.RequireAdminMFA, nil
}

// mfaEnrolmentPaths are what an admin who must enrol first may use.
var mfaEnrolmentPaths = map[string]bool{"/account": true, "/account/mfa": true, "/logout": true}

// requireMFAEnrolment keeps an admin without a second factor, when the
// settings require one, on the enrolment page: it reports whether it
// answered the request. It runs in loadSession.
func (s *Server) requireMFAEnrolment(c echo.Context) (bool, error) {
	a := currentAdmin(c)
	if a == nil || mfaEnrolmentPaths[c.Path()] {
		return false, nil
	}
	need, err := s.mfaRequired(c, a)
	if err != nil || !need {
		return false, err
	}
	if safeMethod(c.Request().Method) && c.Request().Header.Get("HX-Request") != "true" {
		return true, c.Redirect(http.StatusSeeOther, "/account/mfa")
	}
	return true, model.Errorf(model.EFORBIDDEN, "Administrators must set up a second factor first (My account).")
}

// showMFASetupPage is GET /account/mfa: a new secret (kept sealed in the
// session until confirmed) and its QR code.
func (s *Server) showMFASetupPage(c echo.Context) error {
	me := currentAdmin(c)
	if me.MFAEnabled {
		return c.Redirect(http.StatusSeeOther, "/account")
	}
	v, err := s.mfaSetupView(c, me)
	if err != nil {
		return err
	}
	return s.renderTitled(c, http.StatusOK, "Second factor", pages.MFASetupPage(v))
}

func (s *Server) mfaSetupView(c echo.Context, me *model.Admin) (pages.MFASetupView, error) {
	sess := session(c)
	var enr *auth.TOTPEnrolment
	if sealed, _ := sess.Values[sessMFASecret].(string); sealed != "" {
		if secret, err := s.store.Box().Open(sealed); err == nil {
			enr, _ = auth.TOTPFromSecret(me.Username, secret)
		}
	}
	if enr == nil {
		var err error
		if enr, err = auth.NewTOTP(me.Username); err != nil {
			return pages.MFASetupView{}, err
		}
		sealed, err := s.store.Box().Seal(enr.Secret)
		if err != nil {
			return pages.MFASetupView{}, err
		}
		sess.Values[sessMFASecret] = sealed
		if err := s.saveSession(c); err != nil {
			return pages.MFASetupView{}, err
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return pages.MFASetupView{QRDataURI: "data:image/png;base64," + base64.StdEncoding.EncodeToString(enr.PNG),
		Secret: enr.Secret, CSRF: s.csrfToken(c)}, nil
}

// confirmMFA is POST /account/mfa: the first code confirms the pending
// secret; the ten recovery codes are shown once on the answer.
func (s *Server) confirmMFA(c echo.Context) error {
	ctx := c.Request().Context()
	me := currentAdmin(c)
	if me.MFAEnabled {
		return model.Errorf(model.ECONFLICT, "MFA is already on.")
	}
	sess := session(c)
	sealed, _ := sess.Values[sessMFASecret].(string)
	secret, err := s.store.Box().Open(sealed)
	if sealed == "" || err != nil {
		return c.Redirect(http.StatusSeeOther, "/account/mfa")
	}
	step, ok := auth.CheckTOTP(secret, c.FormValue("code"), s.now())
	if !ok {
		v, err := s.mfaSetupView(c, me)
		if err != nil {
			return err
		}
		v.Error = "That code is not right. Check the app's clock and enter the code it shows now."
		return s.renderTitled(c, http.StatusUnprocessableEntity, "Second factor", pages.MFASetupPage(v))
	}
	codes := auth.NewRecoveryCodes()
	hashes := make([]string, len(codes))
	for i, code := range codes {
		hashes[i] = auth.TokenHash(auth.NormalizeRecoveryCode(code))
	}
	if err := s.store.EnableTOTP(ctx, me.ID, secret, step, hashes); err != nil {
		return err
	}
	delete(sess.Values, sessMFASecret)
	if err := s.saveSession(c); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return s.renderTitled(c, http.StatusOK, "Second factor", pages.MFASetupPage(pages.MFASetupView{RecoveryCodes: codes}))
}

// disableMFA is POST /account/mfa/disable: a current code or a recovery
// code is required; refused while the settings require MFA of admins.
func (s *Server) disableMFA(c echo.Context) error {
	ctx := c.Request().Context()
	me := currentAdmin(c)
	fail := func(field, msg string) error {
		v, err := s.myAccountView(c)
		if err != nil {
			return err
		}
		v.Errors = map[string]string{field: msg}
		return s.render(c, http.StatusUnprocessableEntity, pages.MyAccountPage(v))
	}
	if !me.MFAEnabled {
		return fail("code", "MFA is not on.")
	}
	if me.Role == model.RoleAdmin {
		ca, err := s.store.GetConsoleAuth(ctx)
		if err != nil {
			return err
		}
		if ca.RequireAdminMFA {
			return fail("code", "The settings require MFA for every administrator; it cannot be turned off.")
		}
	}
	if ok, msg, err := s.checkSecondFactor(c, me, c.FormValue("code")); err != nil {
		return err
	} else if !ok {
		return fail("code", msg)
	}
	if _, err := s.store.ResetMFA(ctx, me.ID); err != nil {
		return err
	}
	if err := s.flash(c, "MFA turned off."); err != nil {
		return err
	}
	return redirect(c, "/account")
}

// checkSecondFactor checks code as a TOTP code (each time step once) or
// a recovery code (each once), throttled per account. It returns the
// message to show when the code is refused.
func (s *Server) checkSecondFactor(c echo.Context, a *model.Admin, code string) (bool, string, error) {
	ctx := c.Request().Context()
	att, wait, ok := s.signInByUser.Begin("mfa:" + strconv.FormatInt(a.ID, 10))
	if !ok {
		return false, "Too many wrong codes. Try again in " + waitText(wait) + ".", nil
	}
	secret, enabled, err := s.store.TOTPSecret(ctx, a.ID)
	if err != nil || !enabled {
		att.Cancel()
		if err == nil {
			err = model.Errorf(model.ECONFLICT, "MFA is not on for this account.")
		}
		return false, "", err
	}
	if step, ok := auth.CheckTOTP(secret, code, s.now()); ok {
		fresh, err := s.store.UseTOTPStep(ctx, a.ID, step)
		if err != nil {
			att.Cancel()
			return false, "", err
		}
		if !fresh {
			att.Fail()
			return false, "This code was used already. Wait for the next one.", nil
		}
		att.Succeed()
		return true, "", nil
	}
	if rc := auth.NormalizeRecoveryCode(code); rc != "" {
		used, err := s.store.UseRecoveryCode(model.WithActor(ctx, a.Username), a.ID, auth.TokenHash(rc))
		if err != nil {
			att.Cancel()
			return false, "", err
		}
		if used {
			att.Succeed()
			return true, "", nil
		}
	}
	att.Fail()
	return false, "Wrong code.", nil
}

// askSecondFactor keeps a's sign-in pending in the (still anonymous)
// session and asks for a TOTP or recovery code.
func (s *Server) askSecondFactor(c echo.Context, a *model.Admin, next string) error {
	v := session(c).Values
	v[sessPendingID] = a.ID
	v[sessPendingAt] = s.now().Unix()
	v[sessPendingNxt] = next
	if err := s.saveSession(c); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/login/mfa")
}

// pendingSignIn returns the account whose password this session checked
// within pendingMFALifetime, or nil.
func (s *Server) pendingSignIn(c echo.Context) (*model.Admin, string, error) {
	v := session(c).Values
	id, _ := v[sessPendingID].(int64)
	at, _ := v[sessPendingAt].(int64)
	next, _ := v[sessPendingNxt].(string)
	if id == 0 || s.now().Sub(time.Unix(at, 0)) > pendingMFALifetime {
		return nil, "", nil
	}
	a, err := s.store.ActiveAdmin(c.Request().Context(), id)
	if code := model.ErrorCode(err); code == model.ENOTFOUND || code == model.EFORBIDDEN {
		return nil, "", nil
	}
	return a, localPath(next), err
}

// showMFALoginPage is GET /login/mfa.
func (s *Server) showMFALoginPage(c echo.Context) error {
	a, _, err := s.pendingSignIn(c)
	if err != nil {
		return err
	}
	if a == nil {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	return s.renderPage(c, http.StatusOK, s.pageData(c, "Sign in", "-"), pages.MFALogin(pages.MFALoginForm{CSRF: s.csrfToken(c)}))
}

// loginMFA is POST /login/mfa: the second step of a sign-in.
func (s *Server) loginMFA(c echo.Context) error {
	a, next, err := s.pendingSignIn(c)
	if err != nil {
		return err
	}
	if a == nil {
		return s.renderLogin(c, http.StatusUnauthorized, pages.LoginForm{Error: "The sign-in took too long. Enter your password again."})
	}
	ok, msg, err := s.checkSecondFactor(c, a, c.FormValue("code"))
	if err != nil {
		return err
	}
	if !ok {
		s.log.Info("web: second factor refused", "username", a.Username, "ip", c.RealIP())
		return s.renderPage(c, http.StatusUnauthorized, s.pageData(c, "Sign in", "-"),
			pages.MFALogin(pages.MFALoginForm{CSRF: s.csrfToken(c), Error: msg}))
	}
	return s.finishSignIn(c, a, next, "second factor")
}

// resetAccountMFA is POST /accounts/:id/mfa/reset (admins): the account
// signs in with its password alone until it enrols again.
func (s *Server) resetAccountMFA(c echo.Context) error {
	return s.accountAction(func(ctx context.Context, id int64) (string, error) {
		a, err := s.store.ResetMFA(ctx, id)
		if err != nil {
			return "", err
		}
		return "MFA of " + a.Username + " reset.", nil
	})(c)
}
