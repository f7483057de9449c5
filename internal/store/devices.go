package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

type deviceRow struct {
	ID        int64 `gorm:"primaryKey"`
	Name      string
	Serial    string
	Platform  string
	Search    string
	UserID    *int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (deviceRow) TableName() string { return "devices" }

type deviceAttrRow struct {
	DeviceID    int64 `gorm:"primaryKey"`
	AttributeID int64 `gorm:"primaryKey"`
	Value       string
}

func (deviceAttrRow) TableName() string { return "device_attribute_values" }

func (r *deviceRow) model() model.Device {
	d := model.Device{ID: r.ID, Name: r.Name, Serial: r.Serial, Platform: r.Platform,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), Attributes: model.Attributes{}}
	if r.UserID != nil {
		d.UserID = *r.UserID
	}
	return d
}

func deviceToRow(d *model.Device) deviceRow {
	r := deviceRow{ID: d.ID, Name: d.Name, Serial: d.Serial, Platform: d.Platform,
		Search: searchText(d.Name, d.Serial, d.Platform), CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if d.UserID != 0 {
		id := d.UserID
		r.UserID = &id
	}
	return r
}

func normalizeDevice(tx *gorm.DB, d *model.Device, attrs *attrSet) error {
	d.Name = strings.TrimSpace(d.Name)
	d.Serial = strings.TrimSpace(d.Serial)
	d.Platform = strings.TrimSpace(d.Platform)
	f := fields{}
	f.text("name", d.Name, true, maxName)
	f.text("serial", d.Serial, false, maxName)
	f.text("platform", d.Platform, false, 100)
	if d.UserID != 0 {
		if err := checkUserExists(tx, f, "user_id", d.UserID); err != nil {
			return err
		}
	}
	d.Attributes = attrs.cleanValues(f, d.Attributes, true)
	return f.err()
}

func checkUserExists(tx *gorm.DB, f fields, field string, id int64) error {
	var n int64
	if err := tx.Model(&userRow{}).Where("id = ?", id).Count(&n).Error; err != nil {
		return fmt.Errorf("store: check user: %w", err)
	}
	if n == 0 {
		f.add(field, "does not exist")
	}
	return nil
}

func getDevice(tx *gorm.DB, attrs *attrSet, id int64) (*model.Device, error) {
	var r deviceRow
	if err := tx.Take(&r, id).Error; err != nil {
		return nil, dbErrNotFound("store: get device", err, "Device", id)
	}
	d := r.model()
	if err := fillDeviceAttrs(tx, attrs, []*model.Device{&d}); err != nil {
		return nil, err
	}
	return &d, nil
}

func fillDeviceAttrs(tx *gorm.DB, attrs *attrSet, devs []*model.Device) error {
	if len(devs) == 0 {
		return nil
	}
	byID := make(map[int64]*model.Device, len(devs))
	ids := make([]int64, 0, len(devs))
	for _, d := range devs {
		if d.Attributes == nil {
			d.Attributes = model.Attributes{}
		}
		byID[d.ID] = d
		ids = append(ids, d.ID)
	}
	for chunk := range slices.Chunk(ids, 5000) {
		var vals []deviceAttrRow
		if err := tx.Where("device_id IN ?", chunk).Find(&vals).Error; err != nil {
			return fmt.Errorf("store: load device attributes: %w", err)
		}
		for _, v := range vals {
			if a, ok := attrs.byID[v.AttributeID]; ok {
				byID[v.DeviceID].Attributes[a.Key] = v.Value
			}
		}
	}
	return nil
}

// writeDeviceAttrs applies the difference between old and new values.
func writeDeviceAttrs(tx *gorm.DB, attrs *attrSet, deviceID int64, old, new model.Attributes) error {
	return writeAttrValues(tx, attrs, "device_id", deviceID, old, new, func(attrID int64, v string) deviceAttrRow {
		return deviceAttrRow{DeviceID: deviceID, AttributeID: attrID, Value: v}
	})
}

// GetDevice returns one device with its enterprise-group values, or ENOTFOUND.
func (s *Store) GetDevice(ctx context.Context, id int64) (*model.Device, error) {
	db := s.db.WithContext(ctx)
	attrs, err := loadAttrs(db)
	if err != nil {
		return nil, err
	}
	return getDevice(db, attrs, id)
}

// ListDevices returns one page of devices and the total that match f. Sort
// accepts name, serial, platform, created_at and updated_at; search matches
// name, serial and platform.
func (s *Store) ListDevices(ctx context.Context, f model.DeviceFilter) ([]model.Device, int, error) {
	q := f.ListQuery.Normalize()
	db := s.db.WithContext(ctx)
	where := s.deviceWhere(db, f)
	order := orderBy(q, map[string]string{
		"name": "lower(name)", "serial": "lower(serial)", "platform": "lower(platform)",
		"created_at": "id", "updated_at": "updated_at",
	}, "name")
	ids, total, err := s.pageIDs(where, order, q)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list devices: %w", err)
	}
	var rows []deviceRow
	if len(ids) > 0 {
		if err := db.Where("id IN ?", ids).Find(&rows).Error; err != nil {
			return nil, 0, fmt.Errorf("store: list devices: %w", err)
		}
	}
	rows = inOrder(ids, rows, func(r *deviceRow) int64 { return r.ID })
	devs, err := devicesWithAttrs(db, rows)
	if err != nil {
		return nil, 0, err
	}
	return devs, total, nil
}

// deviceWhere selects the devices f asks for (search and filters, no order).
func (s *Store) deviceWhere(db *gorm.DB, f model.DeviceFilter) *gorm.DB {
	where := s.whereSearch(db.Model(&deviceRow{}), "search", f.Search)
	if f.UserID != 0 {
		where = where.Where("user_id = ?", f.UserID)
	}
	if f.Unassigned {
		where = where.Where("user_id IS NULL")
	}
	return where
}

// CreateDevice validates and inserts d (UserID 0 = unassigned) and sets
// d.ID. Only enterprise-group attributes are allowed. A taken serial is
// ECONFLICT; bad input EINVALID; nothing is saved on error.
func (s *Store) CreateDevice(ctx context.Context, d *model.Device) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		attrs, err := loadAttrs(tx)
		if err != nil {
			return err
		}
		return createDevice(ctx, tx, attrs, d)
	})
}

// createDevice is CreateDevice inside tx (the console, the API and bulk
// changes all create devices here).
func createDevice(ctx context.Context, tx *gorm.DB, attrs *attrSet, d *model.Device) error {
	nd := *d
	if err := normalizeDevice(tx, &nd, attrs); err != nil {
		return err
	}
	t := now()
	nd.ID, nd.CreatedAt, nd.UpdatedAt = 0, t, t
	r := deviceToRow(&nd)
	if err := tx.Create(&r).Error; err != nil {
		return dbErr("store: create device", err)
	}
	nd.ID = r.ID
	if err := writeDeviceAttrs(tx, attrs, nd.ID, nil, nd.Attributes); err != nil {
		return err
	}
	if err := audit(ctx, tx, "create", "device", nd.ID, "created device "+nd.Name, nil, &nd); err != nil {
		return err
	}
	*d = nd
	return nil
}

// UpdateDevice stores d's name, serial, platform and enterprise-group
// values. It never changes the assigned user (use AssignDevice) nor the
// user's data: propagation is one-way, user → device (SPEC §6).
func (s *Store) UpdateDevice(ctx context.Context, d *model.Device) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		attrs, err := loadAttrs(tx)
		if err != nil {
			return err
		}
		old, err := getDevice(tx, attrs, d.ID)
		if err != nil {
			return err
		}
		return updateDevice(ctx, tx, attrs, old, d)
	})
}

// updateDevice is UpdateDevice inside tx, old being the stored device.
func updateDevice(ctx context.Context, tx *gorm.DB, attrs *attrSet, old, d *model.Device) error {
	nd := *d
	nd.UserID = old.UserID
	if err := normalizeDevice(tx, &nd, attrs); err != nil {
		return err
	}
	nd.CreatedAt, nd.UpdatedAt = old.CreatedAt, now()
	r := deviceToRow(&nd)
	err := tx.Model(&deviceRow{}).Where("id = ?", nd.ID).
		Select("name", "serial", "platform", "search", "updated_at").Updates(&r).Error
	if err != nil {
		return dbErr("store: update device", err)
	}
	if err := writeDeviceAttrs(tx, attrs, nd.ID, old.Attributes, nd.Attributes); err != nil {
		return err
	}
	if err := audit(ctx, tx, "update", "device", nd.ID, "updated device "+nd.Name, old, &nd); err != nil {
		return err
	}
	*d = nd
	return nil
}

// DeleteDevice removes a device, or returns ENOTFOUND.
func (s *Store) DeleteDevice(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		attrs, err := loadAttrs(tx)
		if err != nil {
			return err
		}
		old, err := getDevice(tx, attrs, id)
		if err != nil {
			return err
		}
		if err := tx.Delete(&deviceRow{}, id).Error; err != nil {
			return dbErr("store: delete device", err)
		}
		return audit(ctx, tx, "delete", "device", id, "deleted device "+old.Name, old, nil)
	})
}

// AssignDevice sets the device's user; userID 0 unassigns. An unknown
// device is ENOTFOUND, an unknown user EINVALID (field user_id). Assigning
// does not copy the user's enterprise groups: propagation is triggered only
// by a change of the user's values (SPEC §6).
func (s *Store) AssignDevice(ctx context.Context, deviceID, userID int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error { return assignDevice(ctx, tx, deviceID, userID) })
}

// assignDevice is AssignDevice inside tx.
func assignDevice(ctx context.Context, tx *gorm.DB, deviceID, userID int64) error {
	var r deviceRow
	if err := tx.Take(&r, deviceID).Error; err != nil {
		return dbErrNotFound("store: assign device", err, "Device", deviceID)
	}
	old := r.model()
	if old.UserID == userID {
		return nil
	}
	var val any
	summary := "unassigned device " + r.Name
	if userID != 0 {
		f := fields{}
		if err := checkUserExists(tx, f, "user_id", userID); err != nil {
			return err
		}
		if err := f.err(); err != nil {
			return err
		}
		val = userID
		var name string
		if err := tx.Model(&userRow{}).Select("username").Where("id = ?", userID).Scan(&name).Error; err != nil {
			return fmt.Errorf("store: assign device: %w", err)
		}
		summary = fmt.Sprintf("assigned device %s to %s", r.Name, name)
	}
	t := now()
	if err := tx.Model(&deviceRow{}).Where("id = ?", deviceID).
		Updates(map[string]any{"user_id": val, "updated_at": t}).Error; err != nil {
		return dbErr("store: assign device", err)
	}
	type assignment struct{ UserID int64 }
	return audit(ctx, tx, "assign", "device", deviceID, summary, assignment{old.UserID}, assignment{userID})
}
