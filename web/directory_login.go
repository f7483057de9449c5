package web

import (
	"context"
	"errors"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/auth"
	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/model"
)

// DirectoryLogin is what console sign-in asks of the directory client
// (internal/directory): a password check by LDAP bind, and a look-up
// without a password for the periodic re-check of a signed-in account.
type DirectoryLogin interface {
	Authenticate(ctx context.Context, src *model.Source, username, password string, groups []string) (*directory.Account, error)
	LookupAccount(ctx context.Context, src *model.Source, username string, groups []string) (*directory.Account, error)
}

// Refusals of a directory sign-in that are not a wrong password; login
// shows their message as it is, so they are sentences.
//
//nolint:staticcheck // ST1005: user-facing sentences, shown verbatim
var (
	errDirectoryDown     = errors.New("The directory could not be reached, so directory accounts cannot sign in right now. Try again later; local accounts can still sign in.")
	errDirectoryDisabled = errors.New("Your directory account is disabled.")
	errNotInGroups       = errors.New("Your directory account is in neither the admin group nor the auditor group of this console.")
)

// directoryGroups returns the groups that decide the role of accounts of
// source srcID (none when group sign-in is not set up for that source).
func directoryGroups(ca model.ConsoleAuth, srcID int64) []string {
	if ca.DirectorySourceID == 0 || ca.DirectorySourceID != srcID {
		return nil
	}
	var g []string
	for _, dn := range []string{ca.AdminGroupDN, ca.AuditorGroupDN} {
		if dn != "" {
			g = append(g, dn)
		}
	}
	return g
}

// directoryRole is the role membership gives, or "" when the account is
// in neither group. Without groups the stored role stays.
func directoryRole(ca model.ConsoleAuth, groups []string, acc *directory.Account, stored model.Role) model.Role {
	if len(groups) == 0 {
		return stored
	}
	switch {
	case ca.AdminGroupDN != "" && acc.Member[ca.AdminGroupDN]:
		return model.RoleAdmin
	case ca.AuditorGroupDN != "" && acc.Member[ca.AuditorGroupDN]:
		return model.RoleAuditor
	}
	return ""
}

// directorySignIn checks a directory account's password by an LDAP bind
// against its source. a is the account when it exists; when it does not,
// a member of the configured sign-in groups gets an account at this first
// sign-in. It returns nil, nil for a wrong username or password, and one
// of the errDirectory… refusals (or auth.ErrBusy) when it cannot sign in.
func (s *Server) directorySignIn(ctx context.Context, a *model.Admin, username, password string) (*model.Admin, error) {
	ca, err := s.store.GetConsoleAuth(ctx)
	if err != nil {
		return nil, err
	}
	srcID := ca.DirectorySourceID
	if a != nil {
		srcID = a.AuthSourceID
	}
	if srcID == 0 || s.dirLogin == nil {
		// No directory sign-in: an unknown name costs what a wrong
		// password does.
		if err := s.dummyCheck(ctx, password); err != nil {
			return nil, err
		}
		return nil, nil
	}
	src, err := s.store.GetSource(ctx, srcID)
	if err != nil {
		if model.ErrorCode(err) == model.ENOTFOUND {
			return nil, errDirectoryDown
		}
		return nil, err
	}
	groups := directoryGroups(ca, srcID)
	acc, err := s.dirLogin.Authenticate(ctx, src, username, password, groups)
	switch {
	case errors.Is(err, directory.ErrBadCredentials):
		return nil, nil
	case err != nil:
		s.log.Warn("web: directory sign-in: directory unavailable", "source", src.Name, "username", username, "err", err)
		return nil, errDirectoryDown
	case acc.Disabled:
		return nil, errDirectoryDisabled
	}
	stored := model.RoleAuditor
	if a != nil {
		stored = a.Role
	}
	role := directoryRole(ca, groups, acc, stored)
	if role == "" {
		return nil, errNotInGroups
	}
	actx := model.WithActor(ctx, "directory")
	if a == nil {
		if f := auth.ValidateAccount(acc.Username, "placeholder-password", "placeholder-password"); f != nil {
			return nil, errNotInGroups
		}
		a = &model.Admin{Username: acc.Username, Role: role, AuthSourceID: src.ID, DirectoryDN: acc.DN}
		if err := s.store.CreateAdmin(actx, a); err != nil {
			return nil, err
		}
	} else if role != a.Role {
		if a, err = s.store.SetAdminRole(actx, a.ID, role); err != nil {
			return nil, err
		}
	}
	if err := s.store.TouchDirectoryCheck(ctx, a.ID, acc.DN, s.now()); err != nil {
		return nil, err
	}
	return s.store.GetAdmin(ctx, a.ID)
}

// directoryStillAllows reports whether a signed-in account may keep its
// session. Local accounts always may. A directory account is looked up
// again once its last check is older than the re-check interval: removed,
// disabled, or out of both groups there, all its sessions end; a new role
// from the groups is applied (which ends them too). While the directory
// cannot be reached the session stays (its idle and absolute limits still
// apply) and the next request tries again.
func (s *Server) directoryStillAllows(c echo.Context, a *model.Admin) (bool, error) {
	if !a.Directory() || s.dirLogin == nil {
		return true, nil
	}
	ctx := c.Request().Context()
	ca, err := s.store.GetConsoleAuth(ctx)
	if err != nil {
		return false, err
	}
	every := ca.DirectoryRecheck
	if every <= 0 {
		every = 5 * time.Minute
	}
	if s.now().Sub(a.DirectoryCheckedAt) < every {
		return true, nil
	}
	src, err := s.store.GetSource(ctx, a.AuthSourceID)
	if model.ErrorCode(err) == model.ENOTFOUND {
		return false, s.endDirectorySessions(ctx, a, "its directory source was deleted")
	} else if err != nil {
		return false, err
	}
	groups := directoryGroups(ca, src.ID)
	acc, err := s.dirLogin.LookupAccount(ctx, src, a.Username, groups)
	switch {
	case errors.Is(err, directory.ErrBadCredentials):
		return false, s.endDirectorySessions(ctx, a, "it is gone from the directory")
	case err != nil:
		s.log.Warn("web: directory re-check: directory unavailable; the session stays", "username", a.Username, "err", err)
		return true, nil
	case acc.Disabled:
		return false, s.endDirectorySessions(ctx, a, "it is disabled in the directory")
	}
	role := directoryRole(ca, groups, acc, a.Role)
	if role == "" {
		return false, s.endDirectorySessions(ctx, a, "it left the console's groups")
	}
	if role != a.Role {
		_, err := s.store.SetAdminRole(model.WithActor(ctx, "directory"), a.ID, role)
		return false, err
	}
	return true, s.store.TouchDirectoryCheck(ctx, a.ID, acc.DN, s.now())
}

func (s *Server) endDirectorySessions(ctx context.Context, a *model.Admin, why string) error {
	s.log.Info("web: directory re-check ends the account's sessions", "username", a.Username, "why", why)
	_, err := s.store.EndAdminSessions(model.WithActor(ctx, "directory"), a.ID, "")
	return err
}
