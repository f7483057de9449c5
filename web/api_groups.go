package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// Service groups and profiles in the API go through the same groupOps as
// their console pages (service_group_ops.go), so every change is the
// console's change.

type apiRule struct {
	Attribute string `json:"attribute"`
	Value     string `json:"value"`
}

type apiGroup struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Rules       []apiRule `json:"rules"`
	SyncEnabled *bool     `json:"sync_enabled,omitempty"` // profiles only
	MemberCount int       `json:"member_count"`
}

type apiGroupInput struct {
	Name        *string    `json:"name,omitempty"`
	Description *string    `json:"description,omitempty"`
	Rules       *[]apiRule `json:"rules,omitempty"`
	SyncEnabled *bool      `json:"sync_enabled,omitempty"`
}

type apiMemberInput struct {
	UserID int64 `json:"user_id"`
}

func toAPIGroup(ops groupOps, g pages.GroupRow) apiGroup {
	out := apiGroup{ID: g.ID, Name: g.Name, Description: g.Description, Rules: []apiRule{}, MemberCount: g.MemberCount}
	for _, r := range g.Rules {
		out.Rules = append(out.Rules, apiRule{Attribute: r.Attribute, Value: r.Value})
	}
	if ops.kind.Profile {
		se := g.SyncEnabled
		out.SyncEnabled = &se
	}
	return out
}

func (in *apiGroupInput) apply(f *pages.GroupForm, profile bool) error {
	if in.SyncEnabled != nil && !profile {
		return model.Invalid(map[string]string{"sync_enabled": "exists on profiles only"})
	}
	if in.Name != nil {
		f.Name = strings.TrimSpace(*in.Name)
	}
	if in.Description != nil {
		f.Description = strings.TrimSpace(*in.Description)
	}
	if in.Rules != nil {
		f.Rules = nil
		for _, r := range *in.Rules {
			f.Rules = append(f.Rules, model.Rule{Attribute: r.Attribute, Value: r.Value})
		}
	}
	if in.SyncEnabled != nil {
		f.SyncEnabled = *in.SyncEnabled
	}
	return nil
}

// apiGroupRoutes registers /service-groups and /profiles.
func (s *Server) apiGroupRoutes(g *echo.Group) {
	for _, ops := range []groupOps{s.serviceGroupOps(), s.profileOps()} {
		p := ops.kind.Path
		profile := ops.kind.Profile
		g.GET(p, func(c echo.Context) error {
			rows, _, err := ops.list(c.Request().Context(), model.ListQuery{PerPage: 500, Search: c.QueryParam("q")})
			if err != nil {
				return err
			}
			out := apiList[apiGroup]{Items: make([]apiGroup, len(rows))}
			for i, r := range rows {
				out.Items[i] = toAPIGroup(ops, r)
			}
			return c.JSON(http.StatusOK, out)
		})
		get := func(c echo.Context, id int64) (apiGroup, error) {
			r, err := ops.get(c.Request().Context(), id)
			if err != nil {
				return apiGroup{}, err
			}
			return toAPIGroup(ops, r), nil
		}
		g.GET(p+"/:id", func(c echo.Context) error {
			id, err := objParseID(c, "id")
			if err != nil {
				return err
			}
			out, err := get(c, id)
			if err != nil {
				return err
			}
			return writeResource(c, http.StatusOK, out)
		})
		g.POST(p, func(c echo.Context) error {
			var in apiGroupInput
			if err := decodeJSON(c, apiBodyLimit, &in); err != nil {
				return err
			}
			var f pages.GroupForm
			if err := in.apply(&f, profile); err != nil {
				return err
			}
			if err := ops.create(c.Request().Context(), &f); err != nil {
				return err
			}
			out, err := get(c, f.ID)
			if err != nil {
				return err
			}
			c.Response().Header().Set("Location", "/api/v1"+p+"/"+objIDStr(f.ID))
			return writeResource(c, http.StatusCreated, out)
		})
		g.PATCH(p+"/:id", func(c echo.Context) error {
			id, err := objParseID(c, "id")
			if err != nil {
				return err
			}
			var in apiGroupInput
			if err := decodeJSON(c, apiBodyLimit, &in); err != nil {
				return err
			}
			cur, err := ops.get(c.Request().Context(), id)
			if err != nil {
				return err
			}
			if err := checkIfMatch(c, etagOf(toAPIGroup(ops, cur))); err != nil {
				return err
			}
			f := pages.GroupForm{ID: id, Name: cur.Name, Description: cur.Description, Rules: cur.Rules, SyncEnabled: cur.SyncEnabled}
			if err := in.apply(&f, profile); err != nil {
				return err
			}
			if err := ops.update(c.Request().Context(), &f); err != nil {
				return err
			}
			out, err := get(c, id)
			if err != nil {
				return err
			}
			return writeResource(c, http.StatusOK, out)
		})
		g.DELETE(p+"/:id", func(c echo.Context) error {
			id, err := objParseID(c, "id")
			if err != nil {
				return err
			}
			if err := ops.remove(c.Request().Context(), id); err != nil {
				return err
			}
			return c.NoContent(http.StatusNoContent)
		})
		g.POST(p+"/:id/members", func(c echo.Context) error {
			id, err := objParseID(c, "id")
			if err != nil {
				return err
			}
			var in apiMemberInput
			if err := decodeJSON(c, apiBodyLimit, &in); err != nil {
				return err
			}
			if in.UserID < 1 {
				return model.Invalid(map[string]string{"user_id": "is required"})
			}
			if err := ops.addMember(c.Request().Context(), id, in.UserID); err != nil {
				return err
			}
			return c.NoContent(http.StatusNoContent)
		})
		g.DELETE(p+"/:id/members/:uid", func(c echo.Context) error {
			id, err := objParseID(c, "id")
			if err != nil {
				return err
			}
			uid, err := objParseID(c, "uid")
			if err != nil {
				return err
			}
			if err := ops.delMember(c.Request().Context(), id, uid); err != nil {
				return err
			}
			return c.NoContent(http.StatusNoContent)
		})
	}
}
