package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// requireSignedIn guards the self-service routes every signed-in account
// may use, auditors included (their own API tokens): a session is needed,
// no role. The handlers check ownership themselves.
func (s *Server) requireSignedIn(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if currentAdmin(c) == nil {
			if safeMethod(c.Request().Method) && c.Request().Header.Get("HX-Request") != "true" {
				return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
			}
			return model.Errorf(model.EUNAUTHORIZED, "Please sign in.")
		}
		return next(c)
	}
}

// tokensView lists the tokens the account may see: its own, or every
// account's for an admin.
func (s *Server) tokensView(c echo.Context, f pages.TokenForm) (pages.TokensView, error) {
	me := currentAdmin(c)
	owner := tokenOwnerFilter(me)
	toks, err := s.store.ListAPITokens(c.Request().Context(), owner)
	if err != nil {
		return pages.TokensView{}, err
	}
	if f.Days == "" {
		f.Days = strconv.Itoa(model.DefaultTokenDays)
	}
	return pages.TokensView{Tokens: toks, Form: f, CSRF: s.csrfToken(c), Me: me, AllOwners: owner == 0, Now: s.now()}, nil
}

// showTokensPage is GET /tokens.
func (s *Server) showTokensPage(c echo.Context) error {
	v, err := s.tokensView(c, pages.TokenForm{Role: model.RoleAuditor})
	if err != nil {
		return err
	}
	return s.renderTitled(c, http.StatusOK, "API tokens", pages.TokensPage(v))
}

// createToken is POST /tokens: a token for the signed-in account, its
// secret shown once on the page that answers (never in a redirect or the
// session).
func (s *Server) createToken(c echo.Context) error {
	me := currentAdmin(c)
	f := pages.TokenForm{Name: strings.TrimSpace(c.FormValue("name")), Role: model.Role(c.FormValue("role")),
		Days: strings.TrimSpace(c.FormValue("days"))}
	t := model.APIToken{AdminID: me.ID, Name: f.Name, Role: f.Role}
	days, err := strconv.Atoi(f.Days)
	if f.Days != "" && (err != nil || days < 1) {
		f.Errors, f.Message = map[string]string{"expires_at": "must be a whole number of days, at least 1"}, "Please correct the highlighted fields."
		return s.renderTokensForm(c, f)
	}
	if f.Days != "" {
		t.ExpiresAt = s.now().AddDate(0, 0, days)
	}
	secret, err := s.store.CreateAPIToken(c.Request().Context(), &t, s.now())
	if err != nil {
		fields, msg, err := objFormError(err)
		if err != nil {
			return err
		}
		f.Errors, f.Message = fields, msg
		return s.renderTokensForm(c, f)
	}
	v, err := s.tokensView(c, pages.TokenForm{Role: model.RoleAuditor})
	if err != nil {
		return err
	}
	v.Secret, v.NewName = secret, t.Name
	c.Response().Header().Set("Cache-Control", "no-store")
	return s.renderTitled(c, http.StatusCreated, "API tokens", pages.TokensPage(v))
}

func (s *Server) renderTokensForm(c echo.Context, f pages.TokenForm) error {
	v, err := s.tokensView(c, f)
	if err != nil {
		return err
	}
	return s.renderTitled(c, http.StatusUnprocessableEntity, "API tokens", pages.TokensPage(v))
}

// revokeToken is POST /tokens/:id/revoke: by its owner or any admin.
func (s *Server) revokeToken(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	if err := s.revokeTokenAs(c, id); err != nil {
		return err
	}
	if err := s.flash(c, "Token revoked."); err != nil {
		return err
	}
	return redirect(c, "/tokens")
}

// revokeTokenAs revokes token id when the current account owns it or is an
// admin; anyone else gets ENOTFOUND (a token's existence is not revealed).
func (s *Server) revokeTokenAs(c echo.Context, id int64) error {
	ctx := c.Request().Context()
	me := currentAdmin(c)
	t, err := s.store.GetAPIToken(ctx, id)
	if err != nil {
		return err
	}
	if t.AdminID != me.ID && me.Role != model.RoleAdmin {
		return model.Errorf(model.ENOTFOUND, "API token %d does not exist.", id)
	}
	return s.store.RevokeAPIToken(ctx, id, s.now())
}

// tokenOwnerFilter is whose tokens me may list: its own, or every
// account's (0) for an admin.
func tokenOwnerFilter(me *model.Admin) int64 {
	if me.Role == model.RoleAdmin {
		return 0
	}
	return me.ID
}
