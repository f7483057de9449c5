package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
)

// apiUser is a user in the API.
type apiUser struct {
	ID             int64             `json:"id"`
	Username       string            `json:"username"`
	Email          string            `json:"email"`
	DisplayName    string            `json:"display_name"`
	Status         model.UserStatus  `json:"status"`
	Origin         model.Origin      `json:"origin"`
	AccountType    model.AccountType `json:"account_type"`
	SourceID       int64             `json:"source_id,omitempty"`
	ExternalID     string            `json:"external_id,omitempty"`
	DN             string            `json:"dn,omitempty"`
	DisabledBySync bool              `json:"disabled_by_sync"`
	Attributes     map[string]string `json:"attributes"`
	ServiceGroupID *int64            `json:"service_group_id"`
	ProfileIDs     []int64           `json:"profile_ids"`
	Version        int64             `json:"version"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
}

func toAPIUser(u *model.User) apiUser {
	a := apiUser{ID: u.ID, Username: u.Username, Email: u.Email, DisplayName: u.DisplayName, Status: u.Status,
		Origin: u.Origin, AccountType: u.AccountType, SourceID: u.SourceID, ExternalID: u.ExternalID, DN: u.DN,
		DisabledBySync: u.DisabledBySync, Attributes: map[string]string(u.Attributes), Version: u.Version,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, ProfileIDs: []int64{}}
	if a.Attributes == nil {
		a.Attributes = map[string]string{}
	}
	return a
}

// apiUserInput is the body of POST /users and PATCH /users/{id}, and one
// row of a users bulk request: every field optional (absent keeps the
// stored value), attributes merged ("" clears one).
type apiUserInput struct {
	ID             int64              `json:"id,omitempty"`
	Username       *string            `json:"username,omitempty"`
	Email          *string            `json:"email,omitempty"`
	DisplayName    *string            `json:"display_name,omitempty"`
	Status         *model.UserStatus  `json:"status,omitempty"`
	AccountType    *model.AccountType `json:"account_type,omitempty"`
	Attributes     map[string]string  `json:"attributes,omitempty"`
	ServiceGroupID *int64             `json:"service_group_id,omitempty"`
	AddProfiles    []int64            `json:"add_profiles,omitempty"`
	RemoveProfiles []int64            `json:"remove_profiles,omitempty"`
}

func (in *apiUserInput) change() store.UserChange {
	return store.UserChange{ID: in.ID, Username: in.Username, Email: in.Email, DisplayName: in.DisplayName,
		Status: in.Status, AccountType: in.AccountType, Attributes: model.Attributes(in.Attributes),
		ServiceGroupID: in.ServiceGroupID, AddProfiles: in.AddProfiles, RemoveProfiles: in.RemoveProfiles}
}

// loadAPIUser returns the user with their service group and profiles.
func (s *Server) loadAPIUser(c echo.Context, id int64) (apiUser, error) {
	ctx := c.Request().Context()
	u, err := s.store.GetUser(ctx, id)
	if err != nil {
		return apiUser{}, err
	}
	a := toAPIUser(u)
	groups, _, err := s.store.UserServiceGroups(ctx, id)
	if err != nil {
		return apiUser{}, err
	}
	if len(groups) > 0 {
		g := groups[0].ID
		a.ServiceGroupID = &g
	}
	profiles, _, err := s.store.UserProfiles(ctx, id)
	if err != nil {
		return apiUser{}, err
	}
	for _, p := range profiles {
		a.ProfileIDs = append(a.ProfileIDs, p.ID)
	}
	return a, nil
}

// apiListUsers is GET /api/v1/users: filters status, origin,
// service_group_id, profile_id, q (search); keyset pages by id.
func (s *Server) apiListUsers(c echo.Context) error {
	cur, limit, err := pageParams(c)
	if err != nil {
		return err
	}
	f := model.UserFilter{Status: model.UserStatus(c.QueryParam("status")), Origin: model.Origin(c.QueryParam("origin"))}
	f.Search = c.QueryParam("q")
	bad := map[string]string{}
	if f.Status != "" && f.Status != model.StatusActive && f.Status != model.StatusDisabled {
		bad["status"] = "must be active or disabled"
	}
	switch f.Origin {
	case "", model.OriginDirectory, model.OriginLocal, model.OriginSystem:
	default:
		bad["origin"] = "must be directory, local or system"
	}
	if err := model.Invalid(bad); err != nil {
		return err
	}
	if f.ServiceGroupID, err = queryID(c, "service_group_id"); err != nil {
		return err
	}
	if f.ProfileID, err = queryID(c, "profile_id"); err != nil {
		return err
	}
	users, more, err := s.store.UsersAfter(c.Request().Context(), f, cur.ID, limit)
	if err != nil {
		return err
	}
	out := apiList[apiUser]{Items: make([]apiUser, len(users))}
	for i := range users {
		out.Items[i] = toAPIUser(&users[i])
	}
	if more {
		out.NextCursor = cursor{ID: users[len(users)-1].ID}.String()
	}
	return c.JSON(http.StatusOK, out)
}

// apiGetUser is GET /api/v1/users/{id}, with an ETag.
func (s *Server) apiGetUser(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	u, err := s.loadAPIUser(c, id)
	if err != nil {
		return err
	}
	return writeResource(c, http.StatusOK, u)
}

// apiCreateUser is POST /api/v1/users: a local user.
func (s *Server) apiCreateUser(c echo.Context) error {
	var in apiUserInput
	if err := decodeJSON(c, apiBodyLimit, &in); err != nil {
		return err
	}
	if in.ID != 0 {
		return model.Invalid(map[string]string{"id": "is chosen by the server"})
	}
	res, err := s.store.ApplyUserChanges(c.Request().Context(), []store.UserChange{in.change()}, false)
	if err != nil {
		return err
	}
	if res[0].Err != nil {
		return res[0].Err
	}
	u, err := s.loadAPIUser(c, res[0].ID)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", "/api/v1/users/"+objIDStr(u.ID))
	return writeResource(c, http.StatusCreated, u)
}

// apiUpdateUser is PATCH /api/v1/users/{id}; If-Match with the ETag of GET
// makes a stale write fail with 412.
func (s *Server) apiUpdateUser(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	var in apiUserInput
	if err := decodeJSON(c, apiBodyLimit, &in); err != nil {
		return err
	}
	if in.ID != 0 && in.ID != id {
		return model.Invalid(map[string]string{"id": "must match the address"})
	}
	in.ID = id
	cur, err := s.loadAPIUser(c, id)
	if err != nil {
		return err
	}
	if err := checkIfMatch(c, etagOf(cur)); err != nil {
		return err
	}
	if err := s.applyOneUserChange(c.Request().Context(), in.change()); err != nil {
		return err
	}
	u, err := s.loadAPIUser(c, id)
	if err != nil {
		return err
	}
	return writeResource(c, http.StatusOK, u)
}

// apiDeleteUser is DELETE /api/v1/users/{id}.
func (s *Server) apiDeleteUser(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	cur, err := s.loadAPIUser(c, id)
	if err != nil {
		return err
	}
	if err := checkIfMatch(c, etagOf(cur)); err != nil {
		return err
	}
	if err := s.store.DeleteUser(c.Request().Context(), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
