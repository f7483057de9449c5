package web

import (
	"context"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
)

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
