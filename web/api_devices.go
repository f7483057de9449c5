package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
)

// apiDevice is a device in the API.
type apiDevice struct {
	ID         int64             `json:"id"`
	Name       string            `json:"name"`
	Serial     string            `json:"serial"`
	Platform   string            `json:"platform"`
	UserID     *int64            `json:"user_id"`
	Attributes map[string]string `json:"attributes"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
}

func toAPIDevice(d *model.Device) apiDevice {
	a := apiDevice{ID: d.ID, Name: d.Name, Serial: d.Serial, Platform: d.Platform,
		Attributes: map[string]string(d.Attributes), CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if d.UserID != 0 {
		u := d.UserID
		a.UserID = &u
	}
	if a.Attributes == nil {
		a.Attributes = map[string]string{}
	}
	return a
}

// apiDeviceInput is the body of POST /devices and PATCH /devices/{id} and
// one row of a devices bulk request. user_id assigns the device (0 or null
// unassigns).
type apiDeviceInput struct {
	ID         int64             `json:"id,omitempty"`
	Name       *string           `json:"name,omitempty"`
	Serial     *string           `json:"serial,omitempty"`
	Platform   *string           `json:"platform,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	UserID     *int64            `json:"user_id,omitempty"`
}

func (in *apiDeviceInput) change() store.DeviceChange {
	return store.DeviceChange{ID: in.ID, Name: in.Name, Serial: in.Serial, Platform: in.Platform,
		Attributes: model.Attributes(in.Attributes), UserID: in.UserID}
}

// apiListDevices is GET /api/v1/devices: filters user_id, unassigned, q.
func (s *Server) apiListDevices(c echo.Context) error {
	cur, limit, err := pageParams(c)
	if err != nil {
		return err
	}
	var f model.DeviceFilter
	f.Search = c.QueryParam("q")
	if f.UserID, err = queryID(c, "user_id"); err != nil {
		return err
	}
	if v := c.QueryParam("unassigned"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return model.Invalid(map[string]string{"unassigned": "must be true or false"})
		}
		f.Unassigned = b
	}
	devs, more, err := s.store.DevicesAfter(c.Request().Context(), f, cur.ID, limit)
	if err != nil {
		return err
	}
	out := apiList[apiDevice]{Items: make([]apiDevice, len(devs))}
	for i := range devs {
		out.Items[i] = toAPIDevice(&devs[i])
	}
	if more {
		out.NextCursor = cursor{ID: devs[len(devs)-1].ID}.String()
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) loadAPIDevice(c echo.Context, id int64) (apiDevice, error) {
	d, err := s.store.GetDevice(c.Request().Context(), id)
	if err != nil {
		return apiDevice{}, err
	}
	return toAPIDevice(d), nil
}

// apiGetDevice is GET /api/v1/devices/{id}, with an ETag.
func (s *Server) apiGetDevice(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	d, err := s.loadAPIDevice(c, id)
	if err != nil {
		return err
	}
	return writeResource(c, http.StatusOK, d)
}

func (s *Server) applyOneDeviceChange(c echo.Context, ch store.DeviceChange) (int64, error) {
	res, err := s.store.ApplyDeviceChanges(c.Request().Context(), []store.DeviceChange{ch}, false)
	if err != nil {
		return 0, err
	}
	return res[0].ID, res[0].Err
}

// apiCreateDevice is POST /api/v1/devices.
func (s *Server) apiCreateDevice(c echo.Context) error {
	var in apiDeviceInput
	if err := decodeJSON(c, apiBodyLimit, &in); err != nil {
		return err
	}
	if in.ID != 0 {
		return model.Invalid(map[string]string{"id": "is chosen by the server"})
	}
	id, err := s.applyOneDeviceChange(c, in.change())
	if err != nil {
		return err
	}
	d, err := s.loadAPIDevice(c, id)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", "/api/v1/devices/"+objIDStr(id))
	return writeResource(c, http.StatusCreated, d)
}

// apiUpdateDevice is PATCH /api/v1/devices/{id}, honouring If-Match.
func (s *Server) apiUpdateDevice(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	var in apiDeviceInput
	if err := decodeJSON(c, apiBodyLimit, &in); err != nil {
		return err
	}
	if in.ID != 0 && in.ID != id {
		return model.Invalid(map[string]string{"id": "must match the address"})
	}
	in.ID = id
	cur, err := s.loadAPIDevice(c, id)
	if err != nil {
		return err
	}
	if err := checkIfMatch(c, etagOf(cur)); err != nil {
		return err
	}
	if _, err := s.applyOneDeviceChange(c, in.change()); err != nil {
		return err
	}
	d, err := s.loadAPIDevice(c, id)
	if err != nil {
		return err
	}
	return writeResource(c, http.StatusOK, d)
}

// apiDeleteDevice is DELETE /api/v1/devices/{id}.
func (s *Server) apiDeleteDevice(c echo.Context) error {
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	cur, err := s.loadAPIDevice(c, id)
	if err != nil {
		return err
	}
	if err := checkIfMatch(c, etagOf(cur)); err != nil {
		return err
	}
	if err := s.store.DeleteDevice(c.Request().Context(), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
