package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// updateDevice saves the device form. It never changes the device's user
// (assignment has its own forms) and never the user's data (one-way §6).
func (s *Server) updateDevice(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	old, err := s.store.GetDevice(ctx, id)
	if err != nil {
		return err
	}
	defs, err := s.store.ListAttributes(ctx)
	if err != nil {
		return err
	}
	defs = objEnterpriseGroupAttrs(defs)
	d := *old
	deviceFromForm(c, &d, defs)
	if err := s.store.UpdateDevice(ctx, &d); err != nil {
		fields, msg, err := objFormError(err)
		if err != nil {
			return err
		}
		v, err := s.deviceView(c, pages.DeviceForm{Device: d, Attrs: defs, Errors: fields, Message: msg})
		if err != nil {
			return err
		}
		return s.renderTitled(c, http.StatusUnprocessableEntity, "Device "+old.Name, pages.DevicePage(v))
	}
	if err := s.flash(c, "Device "+d.Name+" saved."); err != nil {
		return err
	}
	return redirect(c, "/devices/"+objIDStr(id))
}

// deleteDevice deletes a device after the page's confirm.
func (s *Server) deleteDevice(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	d, err := s.store.GetDevice(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if err := s.store.DeleteDevice(c.Request().Context(), id); err != nil {
		return err
	}
	if err := s.flash(c, "Device "+d.Name+" deleted."); err != nil {
		return err
	}
	return redirect(c, "/devices")
}

// assignDevice assigns the device to the user named in the form.
func (s *Server) assignDevice(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	d, err := s.store.GetDevice(ctx, id)
	if err != nil {
		return err
	}
	name := c.FormValue("username")
	u, err := s.objFindUserByName(c, name)
	if err == nil {
		err = s.store.AssignDevice(ctx, id, u.ID)
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
		v, lerr := s.deviceView(c, pages.DeviceForm{Device: *d, Attrs: objEnterpriseGroupAttrs(defs)})
		if lerr != nil {
			return lerr
		}
		v.AssignUsername, v.AssignError = name, model.ErrorMessage(err)
		return s.renderTitled(c, http.StatusUnprocessableEntity, "Device "+d.Name, pages.DevicePage(v))
	}
	if err := s.flash(c, "Device assigned to "+u.Username+"."); err != nil {
		return err
	}
	return redirect(c, "/devices/"+objIDStr(id))
}

// unassignDevice removes the device's user.
func (s *Server) unassignDevice(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	if err := s.store.AssignDevice(c.Request().Context(), id, 0); err != nil {
		return err
	}
	if err := s.flash(c, "Device unassigned."); err != nil {
		return err
	}
	return redirect(c, "/devices/"+objIDStr(id))
}
