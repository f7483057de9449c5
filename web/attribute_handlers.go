package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// showAttributesPage lists the enterprise attribute definitions with a
// create form.
func (s *Server) showAttributesPage(c echo.Context) error {
	v, err := s.attributesView(c, pages.AttributeForm{})
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, pages.AttributesPage(v))
}

func (s *Server) attributesView(c echo.Context, f pages.AttributeForm) (pages.AttributesView, error) {
	defs, err := s.store.ListAttributes(c.Request().Context())
	if err != nil {
		return pages.AttributesView{}, err
	}
	if f.Attr.Position == 0 && f.Errors == nil {
		f.Attr.Position = len(defs) + 1
	}
	return pages.AttributesView{Attrs: defs, New: f, CSRF: s.csrfToken(c), CanEdit: isAdmin(c)}, nil
}

// attributeFromForm reads the form into a; a position that is not a
// whole number is a field error.
func attributeFromForm(c echo.Context, a *model.AttributeDef, withKey bool) map[string]string {
	if withKey {
		a.Key = strings.TrimSpace(c.FormValue("key"))
	}
	a.Name = strings.TrimSpace(c.FormValue("name"))
	a.EnterpriseGroup = c.FormValue("enterprise_group") == "on"
	pos := strings.TrimSpace(c.FormValue("position"))
	if pos == "" {
		return nil
	}
	n, err := strconv.Atoi(pos)
	if err != nil || n < 0 || n > 10000 {
		return map[string]string{"position": "must be a whole number from 0 to 10000"}
	}
	a.Position = n
	return nil
}

// createAttribute adds a definition; a rejected form re-renders the list
// page with the typed values.
func (s *Server) createAttribute(c echo.Context) error {
	var a model.AttributeDef
	err := model.Invalid(attributeFromForm(c, &a, true))
	if err == nil {
		err = s.store.CreateAttribute(c.Request().Context(), &a)
	}
	if err != nil {
		fields, msg, err := objFormError(err)
		if err != nil {
			return err
		}
		v, err := s.attributesView(c, pages.AttributeForm{Attr: a, Errors: fields, Message: msg})
		if err != nil {
			return err
		}
		return s.render(c, http.StatusUnprocessableEntity, pages.AttributesPage(v))
	}
	if err := s.flash(c, "Attribute "+a.Name+" created."); err != nil {
		return err
	}
	return redirect(c, "/attributes")
}

func (s *Server) showAttributePage(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	a, err := s.store.GetAttribute(c.Request().Context(), id)
	if err != nil {
		return err
	}
	v := pages.AttributeView{Form: pages.AttributeForm{Attr: *a}, CSRF: s.csrfToken(c), CanEdit: isAdmin(c)}
	return s.renderTitled(c, http.StatusOK, "Attribute "+a.Name, pages.AttributePage(v))
}

// updateAttribute saves name, position and the enterprise-group flag;
// the key is immutable and not read from the form.
func (s *Server) updateAttribute(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	old, err := s.store.GetAttribute(ctx, id)
	if err != nil {
		return err
	}
	a := *old
	err = model.Invalid(attributeFromForm(c, &a, false))
	if err == nil {
		err = s.store.UpdateAttribute(ctx, &a)
	}
	if err != nil {
		fields, msg, err := objFormError(err)
		if err != nil {
			return err
		}
		v := pages.AttributeView{Form: pages.AttributeForm{Attr: a, Errors: fields, Message: msg}, CSRF: s.csrfToken(c), CanEdit: true}
		return s.renderTitled(c, http.StatusUnprocessableEntity, "Attribute "+old.Name, pages.AttributePage(v))
	}
	if err := s.flash(c, "Attribute "+a.Name+" saved."); err != nil {
		return err
	}
	return redirect(c, "/attributes")
}

func (s *Server) deleteAttribute(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	a, err := s.store.GetAttribute(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if err := s.store.DeleteAttribute(c.Request().Context(), id); err != nil {
		return err
	}
	if err := s.flash(c, "Attribute "+a.Name+" deleted."); err != nil {
		return err
	}
	return redirect(c, "/attributes")
}
