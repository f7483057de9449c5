package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/auth"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// hashPassword hashes pw with argon2id in one of the bounded hashing
// slots (auth.Gate). It fails with auth.ErrBusy when too many wait.
func (s *Server) hashPassword(ctx context.Context, pw string) (string, error) {
	return s.hashing.Hash(ctx, pw, s.hashParams)
}

// checkPassword compares pw with hash in a bounded hashing slot: nil on
// a match, auth.ErrMismatch, or auth.ErrBusy / ctx's error when it could
// not run.
func (s *Server) checkPassword(ctx context.Context, hash, pw string) error {
	return s.hashing.Check(ctx, hash, pw)
}

// dummyCheck spends (and waits) what checkPassword does, for an account
// that does not exist.
func (s *Server) dummyCheck(ctx context.Context, pw string) error {
	return s.hashing.DummyCheck(ctx, pw)
}

// showAccountsPage is GET /accounts (admins).
func (s *Server) showAccountsPage(c echo.Context) error {
	v, err := s.accountsView(c, pages.AccountForm{Role: string(model.RoleAdmin)})
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, pages.AccountsPage(v))
}

func (s *Server) accountsView(c echo.Context, f pages.AccountForm) (pages.AccountsView, error) {
	ctx := c.Request().Context()
	list, err := s.store.ListAccounts(ctx, s.now(), s.sessions.idle)
	if err != nil {
		return pages.AccountsView{}, err
	}
	srcs, err := s.store.ListSources(ctx)
	if err != nil {
		return pages.AccountsView{}, err
	}
	ca, err := s.store.GetConsoleAuth(ctx)
	if err != nil {
		return pages.AccountsView{}, err
	}
	return pages.AccountsView{Accounts: list, Sources: srcs, New: f, CSRF: s.csrfToken(c), SelfID: currentAdmin(c).ID, Auth: ca}, nil
}

// updateSignInSettings is POST /accounts/settings: MFA for admins and
// directory sign-in by group.
func (s *Server) updateSignInSettings(c echo.Context) error {
	ctx := c.Request().Context()
	ca := model.ConsoleAuth{
		RequireAdminMFA: c.FormValue("require_admin_mfa") == "on",
		AdminGroupDN:    strings.TrimSpace(c.FormValue("admin_group_dn")),
		AuditorGroupDN:  strings.TrimSpace(c.FormValue("auditor_group_dn")),
	}
	fields := map[string]string{}
	if v := c.FormValue("directory_source_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err == nil {
			_, err = s.store.GetSource(ctx, id)
		}
		if err != nil {
			fields["directory_source_id"] = "Choose a source that exists."
		}
		ca.DirectorySourceID = id
	}
	mins, err := strconv.Atoi(strings.TrimSpace(c.FormValue("directory_recheck")))
	if err != nil || mins < 1 || mins > 1440 {
		fields["directory_recheck"] = "Enter whole minutes from 1 to 1440."
	}
	ca.DirectoryRecheck = time.Duration(mins) * time.Minute
	if len(fields) > 0 {
		err = model.Invalid(fields)
	} else {
		err = s.store.UpdateConsoleAuth(ctx, ca)
	}
	if err != nil {
		fs, msg, err := objFormError(err)
		if err != nil {
			return err
		}
		v, err := s.accountsView(c, pages.AccountForm{Role: string(model.RoleAdmin)})
		if err != nil {
			return err
		}
		v.Auth, v.AuthErrors, v.AuthMessage = ca, fs, msg
		return s.render(c, http.StatusUnprocessableEntity, pages.AccountsPage(v))
	}
	if err := s.flash(c, "Sign-in settings saved."); err != nil {
		return err
	}
	return redirect(c, "/accounts")
}

// createAccount is POST /accounts: a local account with a password, or a
// directory account whose password the chosen source checks.
func (s *Server) createAccount(c echo.Context) error {
	ctx := c.Request().Context()
	f := pages.AccountForm{Username: strings.TrimSpace(c.FormValue("username")), Role: c.FormValue("role"), SourceID: c.FormValue("source_id")}
	fields := map[string]string{}
	if !model.ValidRole(model.Role(f.Role)) {
		fields["role"] = "Choose admin or auditor."
	}
	a := &model.Admin{Username: f.Username, Role: model.Role(f.Role)}
	if f.SourceID != "" {
		id, err := strconv.ParseInt(f.SourceID, 10, 64)
		if err == nil {
			_, err = s.store.GetSource(ctx, id)
		}
		if err != nil {
			fields["source_id"] = "Choose a source that exists."
		}
		a.AuthSourceID = id
		if msgs := auth.ValidateAccount(f.Username, strings.Repeat("x", auth.MinPasswordLen), strings.Repeat("x", auth.MinPasswordLen)); msgs["username"] != "" {
			fields["username"] = msgs["username"]
		}
	} else {
		for k, v := range auth.ValidateAccount(f.Username, c.FormValue("password"), c.FormValue("password_confirm")) {
			fields[k] = v
		}
	}
	var err error
	if len(fields) == 0 && a.AuthSourceID == 0 {
		a.PasswordHash, err = s.hashPassword(ctx, c.FormValue("password"))
		if err != nil {
			return err
		}
	}
	if len(fields) > 0 {
		err = model.Invalid(fields)
	} else {
		err = s.store.CreateAdmin(ctx, a)
	}
	if err != nil {
		fs, msg, err := objFormError(err)
		if err != nil {
			return err
		}
		f.Errors, f.Message = fs, msg
		v, err := s.accountsView(c, f)
		if err != nil {
			return err
		}
		return s.render(c, http.StatusUnprocessableEntity, pages.AccountsPage(v))
	}
	if err := s.flash(c, "Account "+a.Username+" created."); err != nil {
		return err
	}
	return redirect(c, "/accounts/"+strconv.FormatInt(a.ID, 10))
}

// showAccountPage is GET /accounts/:id (admins).
func (s *Server) showAccountPage(c echo.Context) error {
	v, err := s.accountView(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, pages.AccountPage(v))
}

func (s *Server) accountView(c echo.Context) (pages.AccountView, error) {
	ctx := c.Request().Context()
	id, err := objParseID(c, "id")
	if err != nil {
		return pages.AccountView{}, err
	}
	a, err := s.store.GetAdmin(ctx, id)
	if err != nil {
		return pages.AccountView{}, err
	}
	sess, err := s.store.ListAdminSessions(ctx, id, s.now(), s.sessions.idle)
	if err != nil {
		return pages.AccountView{}, err
	}
	srcs, err := s.store.ListSources(ctx)
	if err != nil {
		return pages.AccountView{}, err
	}
	return pages.AccountView{Account: *a, Sessions: sess, Sources: srcs, CSRF: s.csrfToken(c), Self: a.ID == currentAdmin(c).ID}, nil
}

// accountAction runs one change on account :id and goes back to its page
// with a message; a refusal (the last admin, an unknown role) is shown
// there and changes nothing. When the change ended the caller's own
// session, they go to the sign-in page.
func (s *Server) accountAction(do func(ctx context.Context, id int64) (string, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := objParseID(c, "id")
		if err != nil {
			return err
		}
		msg, err := do(c.Request().Context(), id)
		if err != nil {
			switch model.ErrorCode(err) {
			case model.EINVALID, model.ECONFLICT:
				if err := s.flashError(c, model.ErrorMessage(err)); err != nil {
					return err
				}
				return redirect(c, "/accounts/"+strconv.FormatInt(id, 10))
			}
			return err
		}
		if me := currentAdmin(c); me != nil && me.ID == id {
			if still, err := s.store.ActiveAdmin(c.Request().Context(), id); err != nil || still.Role != me.Role || !s.sessionAlive(c) {
				return redirect(c, "/login")
			}
		}
		if err := s.flash(c, msg); err != nil {
			return err
		}
		if strings.HasSuffix(c.Path(), "/delete") {
			return redirect(c, "/accounts")
		}
		return redirect(c, "/accounts/"+strconv.FormatInt(id, 10))
	}
}

// sessionAlive reports whether the request's own session still exists.
func (s *Server) sessionAlive(c echo.Context) bool {
	_, err := s.store.LookupSession(c.Request().Context(), hashID(session(c).ID), s.now(), s.sessions.idle)
	return err == nil
}

func (s *Server) disableAccount(c echo.Context) error {
	return s.accountAction(func(ctx context.Context, id int64) (string, error) {
		a, err := s.store.SetAdminStatus(ctx, id, model.AccountDisabled)
		if err != nil {
			return "", err
		}
		return "Account " + a.Username + " disabled; its sessions ended.", nil
	})(c)
}

func (s *Server) enableAccount(c echo.Context) error {
	return s.accountAction(func(ctx context.Context, id int64) (string, error) {
		a, err := s.store.SetAdminStatus(ctx, id, model.AccountActive)
		if err != nil {
			return "", err
		}
		return "Account " + a.Username + " enabled.", nil
	})(c)
}

func (s *Server) deleteAccount(c echo.Context) error {
	return s.accountAction(func(ctx context.Context, id int64) (string, error) {
		a, err := s.store.DeleteAdmin(ctx, id)
		if err != nil {
			return "", err
		}
		return "Account " + a.Username + " deleted.", nil
	})(c)
}

func (s *Server) setAccountRole(c echo.Context) error {
	role := model.Role(c.FormValue("role"))
	return s.accountAction(func(ctx context.Context, id int64) (string, error) {
		a, err := s.store.SetAdminRole(ctx, id, role)
		if err != nil {
			return "", err
		}
		return "Account " + a.Username + " is now " + string(a.Role) + "; its sessions ended.", nil
	})(c)
}

func (s *Server) endAccountSessions(c echo.Context) error {
	return s.accountAction(func(ctx context.Context, id int64) (string, error) {
		n, err := s.store.EndAdminSessions(ctx, id, "")
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d session%s ended.", n, plural(n)), nil
	})(c)
}

// resetAccountPassword is POST /accounts/:id/reset-password: it makes a
// one-time link valid for 24 hours and shows it once, on this response.
func (s *Server) resetAccountPassword(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	tok := randomToken()
	ends := s.now().Add(auth.ResetLinkLifetime)
	if _, err := s.store.CreatePasswordReset(ctx, id, auth.TokenHash(tok), ends); err != nil {
		if model.ErrorCode(err) == model.ECONFLICT {
			if err := s.flashError(c, model.ErrorMessage(err)); err != nil {
				return err
			}
			return redirect(c, "/accounts/"+strconv.FormatInt(id, 10))
		}
		return err
	}
	v, err := s.accountView(c)
	if err != nil {
		return err
	}
	v.ResetLink = s.baseURL(c) + "/reset-password/" + tok
	v.ResetEnds = ends.In(s.cfg.TimeZone).Format("2006-01-02 15:04 MST")
	c.Response().Header().Set("Cache-Control", "no-store")
	return s.render(c, http.StatusOK, pages.AccountPage(v))
}

// baseURL is the console's address as the browser reached it.
func (s *Server) baseURL(c echo.Context) string {
	return c.Scheme() + "://" + c.Request().Host
}
