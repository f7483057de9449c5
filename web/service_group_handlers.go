package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// The handlers below serve both /service-groups and /profiles; the route
// list binds them to s.serviceGroupOps() or s.profileOps().

func (s *Server) showGroupsPage(ops groupOps) echo.HandlerFunc {
	return func(c echo.Context) error {
		q, st := objListQuery(c, ops.kind.Path, ops.kind.TestID+"s-table")
		rows, total, err := ops.list(c.Request().Context(), q)
		if err != nil {
			return err
		}
		st.Total = total
		v := pages.GroupsView{Kind: ops.kind, List: st, Rows: rows, CanEdit: isAdmin(c)}
		if isFragment(c) {
			return s.render(c, http.StatusOK, pages.GroupsTable(v))
		}
		return s.render(c, http.StatusOK, pages.GroupsPage(v))
	}
}

func (s *Server) showCreateGroupPage(ops groupOps) echo.HandlerFunc {
	return func(c echo.Context) error {
		defs, err := s.store.ListAttributes(c.Request().Context())
		if err != nil {
			return err
		}
		return s.renderTitled(c, http.StatusOK, "New "+ops.kind.Singular, pages.GroupNewPage(ops.kind, pages.GroupForm{Attrs: defs}, s.csrfToken(c)))
	}
}

// groupFromForm reads name, description, rules and the sync checkbox.
func groupFromForm(c echo.Context, f *pages.GroupForm) error {
	f.Name = strings.TrimSpace(c.FormValue("name"))
	f.Description = strings.TrimSpace(c.FormValue("description"))
	f.SyncEnabled = c.FormValue("sync_enabled") == "on"
	rules, err := objRules(c)
	f.Rules = rules
	return err
}

func (s *Server) createGroup(ops groupOps) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		defs, err := s.store.ListAttributes(ctx)
		if err != nil {
			return err
		}
		f := pages.GroupForm{Attrs: defs}
		err = groupFromForm(c, &f)
		if err == nil {
			err = ops.create(ctx, &f)
		}
		if err != nil {
			fields, msg, err := objFormError(err)
			if err != nil {
				return err
			}
			f.Errors, f.Message = fields, msg
			return s.renderTitled(c, http.StatusUnprocessableEntity, "New "+ops.kind.Singular, pages.GroupNewPage(ops.kind, f, s.csrfToken(c)))
		}
		if err := s.flash(c, strings.ToUpper(ops.kind.Singular[:1])+ops.kind.Singular[1:]+" "+f.Name+" created."); err != nil {
			return err
		}
		return redirect(c, ops.kind.Path+"/"+objIDStr(f.ID))
	}
}

func (s *Server) showGroupPage(ops groupOps) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := objParseID(c, "id")
		if err != nil {
			return err
		}
		g, err := ops.get(c.Request().Context(), id)
		if err != nil {
			return err
		}
		defs, err := s.store.ListAttributes(c.Request().Context())
		if err != nil {
			return err
		}
		f := pages.GroupForm{ID: g.ID, Name: g.Name, Description: g.Description, Rules: g.Rules, SyncEnabled: g.SyncEnabled, Attrs: defs}
		v, err := s.groupView(c, ops, f)
		if err != nil {
			return err
		}
		return s.renderTitled(c, http.StatusOK, g.Name, pages.GroupPage(v))
	}
}

// groupView fills a group page around form f, with the member list's
// page taken from the query.
func (s *Server) groupView(c echo.Context, ops groupOps, f pages.GroupForm) (pages.GroupView, error) {
	q, st := objListQuery(c, ops.kind.Path+"/"+objIDStr(f.ID), "members-table")
	members, ms, total, err := ops.members(c.Request().Context(), f.ID, q)
	if err != nil {
		return pages.GroupView{}, err
	}
	st.Total = total
	return pages.GroupView{Kind: ops.kind, Form: f, CSRF: s.csrfToken(c), CanEdit: isAdmin(c),
		Members: members, Memberships: ms, MemberList: st}, nil
}

func (s *Server) updateGroup(ops groupOps) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		id, err := objParseID(c, "id")
		if err != nil {
			return err
		}
		old, err := ops.get(ctx, id)
		if err != nil {
			return err
		}
		defs, err := s.store.ListAttributes(ctx)
		if err != nil {
			return err
		}
		f := pages.GroupForm{ID: id, Attrs: defs}
		err = groupFromForm(c, &f)
		if err == nil {
			err = ops.update(ctx, &f)
		}
		if err != nil {
			fields, msg, err := objFormError(err)
			if err != nil {
				return err
			}
			f.Errors, f.Message = fields, msg
			v, err := s.groupView(c, ops, f)
			if err != nil {
				return err
			}
			return s.renderTitled(c, http.StatusUnprocessableEntity, old.Name, pages.GroupPage(v))
		}
		if err := s.flash(c, "Saved."); err != nil {
			return err
		}
		return redirect(c, ops.kind.Path+"/"+objIDStr(id))
	}
}

func (s *Server) deleteGroup(ops groupOps) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		id, err := objParseID(c, "id")
		if err != nil {
			return err
		}
		g, err := ops.get(ctx, id)
		if err != nil {
			return err
		}
		if err := ops.remove(ctx, id); err != nil {
			return err
		}
		if err := s.flash(c, g.Name+" deleted."); err != nil {
			return err
		}
		return redirect(c, ops.kind.Path)
	}
}

// addGroupMember adds the user named in the form as a manual member.
func (s *Server) addGroupMember(ops groupOps) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		id, err := objParseID(c, "id")
		if err != nil {
			return err
		}
		g, err := ops.get(ctx, id)
		if err != nil {
			return err
		}
		name := c.FormValue("username")
		u, err := s.objFindUserByName(c, name)
		if err == nil {
			err = ops.addMember(ctx, id, u.ID)
		}
		if err != nil {
			switch model.ErrorCode(err) {
			case model.ENOTFOUND, model.EINVALID, model.ECONFLICT:
			default:
				return err
			}
			defs, lerr := s.store.ListAttributes(ctx)
			if lerr != nil {
				return lerr
			}
			v, lerr := s.groupView(c, ops, pages.GroupForm{ID: g.ID, Name: g.Name, Description: g.Description, Rules: g.Rules, SyncEnabled: g.SyncEnabled, Attrs: defs})
			if lerr != nil {
				return lerr
			}
			v.AddUsername, v.AddError = name, model.ErrorMessage(err)
			return s.renderTitled(c, http.StatusUnprocessableEntity, g.Name, pages.GroupPage(v))
		}
		if err := s.flash(c, u.Username+" added."); err != nil {
			return err
		}
		return redirect(c, ops.kind.Path+"/"+objIDStr(id))
	}
}

func (s *Server) removeGroupMember(ops groupOps) echo.HandlerFunc {
	return func(c echo.Context) error {
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
		if err := s.flash(c, "Member removed."); err != nil {
			return err
		}
		return redirect(c, ops.kind.Path+"/"+objIDStr(id))
	}
}
