package web

import (
	"context"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
)

// directoryStillAllows reports whether a signed-in account may keep its
// session. Local accounts always may; directory accounts are looked up
// again in their directory (see directory sign-in).
func (s *Server) directoryStillAllows(c echo.Context, a *model.Admin) (bool, error) {
	if !a.Directory() {
		return true, nil
	}
	return false, nil
}

// directorySignIn checks a directory account's password by an LDAP bind.
// a is the account when it exists (nil: maybe a member of a sign-in
// group). It returns nil, nil when the directory refuses.
func (s *Server) directorySignIn(ctx context.Context, a *model.Admin, username, password string) (*model.Admin, error) {
	if err := s.dummyCheck(ctx, password); err != nil { // same time as a wrong local password
		return nil, err
	}
	return nil, nil
}
