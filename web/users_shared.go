package web

// Helpers shared by the object pages (users, devices, service groups,
// profiles, attributes, settings, audit).

import (
	"errors"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/components"
)

// objPerPage is the page size of the object lists.
const objPerPage = 50

// objListQuery reads ?q=&sort=&dir=&page= into a ListQuery and the list
// state the templates use to build links. Unknown sort columns are left to
// the store, which falls back to its default order.
func objListQuery(c echo.Context, path, target string) (model.ListQuery, components.ListState) {
	page, _ := strconv.Atoi(c.QueryParam("page"))
	if page < 1 {
		page = 1
	}
	q := model.ListQuery{
		Search:  strings.TrimSpace(c.QueryParam("q")),
		Sort:    c.QueryParam("sort"),
		Desc:    c.QueryParam("dir") == "desc",
		Page:    page,
		PerPage: objPerPage,
	}
	if len(q.Search) > 200 {
		q.Search = q.Search[:200]
	}
	if len(q.Sort) > 40 {
		q.Sort = ""
	}
	st := components.ListState{Path: path, Target: target, Q: q.Search, Sort: q.Sort, Desc: q.Desc, Page: page, PerPage: objPerPage}
	return q, st
}

// objParseID reads the :name path parameter; anything that is not a
// positive integer is a 404, like an id that does not exist.
func objParseID(c echo.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id < 1 {
		return 0, model.Errorf(model.ENOTFOUND, "No such object.")
	}
	return id, nil
}

// objFormError splits a service error into what a form shows: per-field
// messages and a form-level message, for EINVALID and ECONFLICT. Any other
// error is returned as is, for the error page.
func objFormError(err error) (map[string]string, string, error) {
	switch model.ErrorCode(err) {
	case model.EINVALID, model.ECONFLICT:
		return model.ErrorFields(err), model.ErrorMessage(err), nil
	}
	return nil, "", err
}

// objAttrs reads attr_<key> fields for the given definitions, trimmed.
func objAttrs(c echo.Context, defs []model.AttributeDef) model.Attributes {
	a := model.Attributes{}
	for _, d := range defs {
		if v := strings.TrimSpace(c.FormValue("attr_" + d.Key)); v != "" {
			a[d.Key] = v
		}
	}
	return a
}

// objRules reads the rules editor's parallel rule_attr / rule_value
// fields; rows without an attribute are ignored.
func objRules(c echo.Context) ([]model.Rule, error) {
	if err := c.Request().ParseForm(); err != nil {
		return nil, model.Errorf(model.EINVALID, "The form could not be read.")
	}
	attrs := c.Request().PostForm["rule_attr"]
	vals := c.Request().PostForm["rule_value"]
	var rules []model.Rule
	for i, a := range attrs {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		v := ""
		if i < len(vals) {
			v = strings.TrimSpace(vals[i])
		}
		rules = append(rules, model.Rule{Attribute: a, Value: v})
	}
	return rules, nil
}

// objEnterpriseGroupAttrs keeps the definitions devices carry.
func objEnterpriseGroupAttrs(defs []model.AttributeDef) []model.AttributeDef {
	var out []model.AttributeDef
	for _, d := range defs {
		if d.EnterpriseGroup {
			out = append(out, d)
		}
	}
	return out
}

// objIsNotFound reports whether err is ENOTFOUND.
func objIsNotFound(err error) bool {
	var me *model.Error
	return errors.As(err, &me) && me.Code == model.ENOTFOUND
}

// objFindUserByName returns the user with exactly this username
// (case-insensitive), or ENOTFOUND.
func (s *Server) objFindUserByName(c echo.Context, username string) (*model.User, error) {
	username = strings.TrimSpace(username)
	if username == "" {
		return nil, model.Errorf(model.ENOTFOUND, "Enter a username.")
	}
	users, _, err := s.store.ListUsers(c.Request().Context(), model.UserFilter{ListQuery: model.ListQuery{Search: username, PerPage: 500}})
	if err != nil {
		return nil, err
	}
	for i := range users {
		if strings.EqualFold(users[i].Username, username) {
			return &users[i], nil
		}
	}
	return nil, model.Errorf(model.ENOTFOUND, "No user named %q.", username)
}

// objIDStr formats an id for a URL.
func objIDStr(id int64) string { return strconv.FormatInt(id, 10) }
