package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// userSideError re-renders the user page with msg above it, for a side
// action (assign a group, add a profile, assign a device) that was refused.
func (s *Server) userSideError(c echo.Context, u *model.User, err error) error {
	switch model.ErrorCode(err) {
	case model.EINVALID, model.ECONFLICT, model.ENOTFOUND:
	default:
		return err
	}
	defs, lerr := s.store.ListAttributes(c.Request().Context())
	if lerr != nil {
		return lerr
	}
	v, lerr := s.userView(c, pages.UserForm{User: *u, Attrs: defs})
	if lerr != nil {
		return lerr
	}
	v.Error = model.ErrorMessage(err)
	if f := model.ErrorFields(err); len(f) > 0 {
		for _, m := range f {
			v.Error += " " + m
		}
	}
	return s.renderTitled(c, http.StatusUnprocessableEntity, "User "+u.Username, pages.UserPage(v))
}

// setUserServiceGroup places a user in the chosen service group (0 = none),
// replacing their manual membership, in one store change (the API makes
// the same call). Synced memberships are left to sync.
func (s *Server) setUserServiceGroup(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	u, err := s.store.GetUser(ctx, id)
	if err != nil {
		return err
	}
	gid, err := strconv.ParseInt(c.FormValue("service_group_id"), 10, 64)
	if err != nil || gid < 0 {
		return s.userSideError(c, u, model.Errorf(model.EINVALID, "Choose a service group."))
	}
	if err := s.store.SetUserServiceGroup(ctx, id, gid); err != nil {
		return s.userSideError(c, u, err)
	}
	if err := s.flash(c, "Service group saved."); err != nil {
		return err
	}
	return redirect(c, "/users/"+objIDStr(id))
}

// addUserProfile adds the user to a profile as a manual member.
func (s *Server) addUserProfile(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	u, err := s.store.GetUser(ctx, id)
	if err != nil {
		return err
	}
	pid, err := strconv.ParseInt(c.FormValue("profile_id"), 10, 64)
	if err != nil || pid < 1 {
		return s.userSideError(c, u, model.Errorf(model.EINVALID, "Choose a profile."))
	}
	if err := s.store.AddProfileMember(ctx, pid, id); err != nil {
		return s.userSideError(c, u, err)
	}
	if err := s.flash(c, "Profile added."); err != nil {
		return err
	}
	return redirect(c, "/users/"+objIDStr(id))
}

// removeUserProfile removes the user from a profile.
func (s *Server) removeUserProfile(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	pid, err := objParseID(c, "pid")
	if err != nil {
		return err
	}
	if _, err := s.store.GetUser(ctx, id); err != nil {
		return err
	}
	if err := s.store.RemoveProfileMember(ctx, pid, id); err != nil {
		return err
	}
	if err := s.flash(c, "Profile removed."); err != nil {
		return err
	}
	return redirect(c, "/users/"+objIDStr(id))
}

// assignUserDevice assigns an unassigned device, named by its name or
// serial, to the user.
func (s *Server) assignUserDevice(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	u, err := s.store.GetUser(ctx, id)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(c.FormValue("device"))
	if name == "" {
		return s.userSideError(c, u, model.Errorf(model.EINVALID, "Enter a device name or serial."))
	}
	devs, _, err := s.store.ListDevices(ctx, model.DeviceFilter{Unassigned: true, ListQuery: model.ListQuery{Search: name, PerPage: 500}})
	if err != nil {
		return err
	}
	var match []model.Device
	for _, d := range devs {
		if strings.EqualFold(d.Serial, name) || strings.EqualFold(d.Name, name) {
			match = append(match, d)
		}
	}
	switch len(match) {
	case 0:
		return s.userSideError(c, u, model.Errorf(model.ENOTFOUND, "No unassigned device with name or serial %q.", name))
	case 1:
	default:
		return s.userSideError(c, u, model.Errorf(model.ECONFLICT, "Several unassigned devices are called %q; use the serial number.", name))
	}
	if err := s.store.AssignDevice(ctx, match[0].ID, id); err != nil {
		return s.userSideError(c, u, err)
	}
	if err := s.flash(c, "Device "+match[0].Name+" assigned."); err != nil {
		return err
	}
	return redirect(c, "/users/"+objIDStr(id))
}
