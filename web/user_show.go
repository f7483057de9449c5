package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// showUserPage shows one user: details, edit form, service group,
// profiles and devices. An unknown id is a 404 page.
func (s *Server) showUserPage(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	u, err := s.store.GetUser(c.Request().Context(), id)
	if err != nil {
		return err
	}
	defs, err := s.store.ListAttributes(c.Request().Context())
	if err != nil {
		return err
	}
	v, err := s.userView(c, pages.UserForm{User: *u, Attrs: defs})
	if err != nil {
		return err
	}
	return s.renderTitled(c, http.StatusOK, "User "+u.Username, pages.UserPage(v))
}

// userView loads what the user page shows around form f.
func (s *Server) userView(c echo.Context, f pages.UserForm) (pages.UserView, error) {
	ctx := c.Request().Context()
	u := f.User
	v := pages.UserView{Form: f, CSRF: s.csrfToken(c), CanEdit: isAdmin(c)}
	if u.Managed() && s.syncer != nil {
		v.Actions = pages.UserSyncActions(u.ID, v.CSRF, v.CanEdit) // web/refresh.go
	}
	var err error
	if u.Origin == model.OriginDirectory && u.SourceID != 0 {
		v.SourceName = "#" + strconv.FormatInt(u.SourceID, 10)
		if src, err := s.store.GetSource(ctx, u.SourceID); err == nil {
			v.SourceName = src.Name
		} else if !objIsNotFound(err) {
			return v, err
		}
	}
	if v.ServiceGroups, v.GroupMembers, err = s.store.UserServiceGroups(ctx, u.ID); err != nil {
		return v, err
	}
	if v.Profiles, v.ProfileMembers, err = s.store.UserProfiles(ctx, u.ID); err != nil {
		return v, err
	}
	if v.Devices, _, err = s.store.ListDevices(ctx, model.DeviceFilter{UserID: u.ID, ListQuery: model.ListQuery{PerPage: 500}}); err != nil {
		return v, err
	}
	if v.CanEdit {
		if v.AllServiceGroups, _, err = s.store.ListServiceGroups(ctx, model.ListQuery{PerPage: 500}); err != nil {
			return v, err
		}
		all, _, err := s.store.ListProfiles(ctx, model.ListQuery{PerPage: 500})
		if err != nil {
			return v, err
		}
		for _, p := range all {
			if !containsProfile(v.Profiles, p.ID) {
				v.AllProfiles = append(v.AllProfiles, p)
			}
		}
	}
	v.Actions = s.withProductActions(c, v.Actions, u.ID)
	return v, nil
}

func containsProfile(ps []model.Profile, id int64) bool {
	for _, p := range ps {
		if p.ID == id {
			return true
		}
	}
	return false
}
