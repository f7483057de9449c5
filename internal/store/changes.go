package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

// UserChange is one change of a user made through the API or a bulk
// request. ID 0 creates a local user. Nil fields keep the stored value;
// Attributes merge (a key with "" clears that attribute).
type UserChange struct {
	ID             int64
	Username       *string
	Email          *string
	DisplayName    *string
	Status         *model.UserStatus
	AccountType    *model.AccountType
	Attributes     model.Attributes
	ServiceGroupID *int64 // 0: no service group (manual membership; see SetUserServiceGroup)
	AddProfiles    []int64
	RemoveProfiles []int64
}

// DeviceChange is one change of a device. ID 0 creates one. Nil fields
// keep the stored value; Attributes merge. UserID assigns (0 unassigns).
type DeviceChange struct {
	ID         int64
	Name       *string
	Serial     *string
	Platform   *string
	Attributes model.Attributes
	UserID     *int64
}

// ChangeResult is the outcome of one change: the object's id, whether it
// was created, and the refusal (nil when applied).
type ChangeResult struct {
	ID      int64
	Created bool
	Err     error
}

// errRollback ends an all-or-nothing transaction that had a refused row.
var errRollback = errors.New("store: a change was refused")

// ApplyUserChanges applies changes in order through the same code as the
// console's edits (the user update with its device propagation, product
// notification and audit; service group and profile membership). When
// perRow is false it is all-or-nothing: the first refused change rolls
// everything back and is the only result with Err set (later rows are not
// tried). When perRow is true each change is applied or refused alone.
// The returned error is for failures other than a refused change.
func (s *Store) ApplyUserChanges(ctx context.Context, changes []UserChange, perRow bool) ([]ChangeResult, error) {
	return applyChanges(s, ctx, changes, perRow, func(tx *gorm.DB, attrs *attrSet, ch *UserChange) (ChangeResult, error) {
		return s.applyUserChange(ctx, tx, attrs, ch)
	})
}

// ApplyDeviceChanges is ApplyUserChanges for devices.
func (s *Store) ApplyDeviceChanges(ctx context.Context, changes []DeviceChange, perRow bool) ([]ChangeResult, error) {
	return applyChanges(s, ctx, changes, perRow, func(tx *gorm.DB, attrs *attrSet, ch *DeviceChange) (ChangeResult, error) {
		return applyDeviceChange(ctx, tx, attrs, ch)
	})
}

func applyChanges[C any](s *Store, ctx context.Context, changes []C, perRow bool,
	apply func(tx *gorm.DB, attrs *attrSet, ch *C) (ChangeResult, error)) ([]ChangeResult, error) {
	results := make([]ChangeResult, len(changes))
	err := s.tx(ctx, func(tx *gorm.DB) error {
		attrs, err := loadAttrs(tx)
		if err != nil {
			return err
		}
		for i := range changes {
			if !perRow {
				res, err := apply(tx, attrs, &changes[i])
				if err != nil {
					if !isRefusal(err) {
						return err
					}
					results = results[:i+1]
					results[i] = ChangeResult{Err: err}
					return errRollback
				}
				results[i] = res
				continue
			}
			sp := fmt.Sprintf("row%d", i)
			if err := tx.SavePoint(sp).Error; err != nil {
				return fmt.Errorf("store: savepoint: %w", err)
			}
			res, err := apply(tx, attrs, &changes[i])
			if err != nil {
				if !isRefusal(err) {
					return err
				}
				if rerr := tx.RollbackTo(sp).Error; rerr != nil {
					return fmt.Errorf("store: rollback to savepoint: %w", rerr)
				}
				results[i] = ChangeResult{Err: err}
				continue
			}
			results[i] = res
		}
		return nil
	})
	if errors.Is(err, errRollback) {
		return results, nil
	}
	if err != nil {
		return nil, err
	}
	return results, nil
}

// isRefusal reports whether err refuses one change (bad input, conflict,
// unknown object) rather than a failure of the database.
func isRefusal(err error) bool {
	switch model.ErrorCode(err) {
	case model.EINVALID, model.ECONFLICT, model.ENOTFOUND:
		return true
	}
	return false
}

func (s *Store) applyUserChange(ctx context.Context, tx *gorm.DB, attrs *attrSet, ch *UserChange) (ChangeResult, error) {
	res := ChangeResult{ID: ch.ID}
	if ch.ID == 0 {
		u := model.User{Origin: model.OriginLocal, Attributes: model.Attributes{}}
		applyUserFields(&u, ch)
		if err := createUser(ctx, tx, attrs, &u); err != nil {
			return res, err
		}
		res.ID, res.Created = u.ID, true
	} else {
		old, err := getUser(tx, ch.ID)
		if err != nil {
			return res, err
		}
		if err := fillUserAttrs(tx, attrs, []*model.User{old}); err != nil {
			return res, err
		}
		if err := checkManagedFields(old, ch); err != nil {
			return res, err
		}
		u := *old
		u.Attributes = old.Attributes.Clone()
		applyUserFields(&u, ch)
		if u.Status != old.Status {
			// An admin's choice: sync must not undo it as its own.
			u.DisabledBySync = false
		}
		if err := s.updateUser(ctx, tx, attrs, old, &u); err != nil {
			return res, err
		}
	}
	if ch.ServiceGroupID != nil {
		if err := setUserServiceGroup(ctx, tx, res.ID, *ch.ServiceGroupID); err != nil {
			return res, err
		}
	}
	for _, p := range ch.AddProfiles {
		if err := addProfileMember(ctx, tx, p, res.ID, true); err != nil {
			return res, fieldErr(err, "add_profiles")
		}
	}
	for _, p := range ch.RemoveProfiles {
		if err := removeProfileMember(ctx, tx, p, res.ID); err != nil {
			return res, fieldErr(err, "remove_profiles")
		}
	}
	return res, nil
}

// fieldErr names field in a refusal that has no field of its own.
func fieldErr(err error, field string) error {
	var me *model.Error
	if errors.As(err, &me) && len(me.Fields) == 0 && isRefusal(err) {
		return &model.Error{Code: me.Code, Message: me.Message, Fields: map[string]string{field: me.Message}}
	}
	return err
}

// checkManagedFields refuses changes to what directory sync manages on a
// directory user (the console's form does not offer those fields).
func checkManagedFields(old *model.User, ch *UserChange) error {
	if !old.Managed() {
		return nil
	}
	f := fields{}
	if ch.Username != nil && *ch.Username != old.Username {
		f.add("username", "is managed by the directory")
	}
	if ch.Email != nil && *ch.Email != old.Email {
		f.add("email", "is managed by the directory")
	}
	if ch.DisplayName != nil && *ch.DisplayName != old.DisplayName {
		f.add("display_name", "is managed by the directory")
	}
	for k, v := range ch.Attributes {
		if old.Attributes[k] != v {
			f.add("attributes."+k, "is managed by the directory")
		}
	}
	return f.err()
}

func applyUserFields(u *model.User, ch *UserChange) {
	if ch.Username != nil {
		u.Username = *ch.Username
	}
	if ch.Email != nil {
		u.Email = *ch.Email
	}
	if ch.DisplayName != nil {
		u.DisplayName = *ch.DisplayName
	}
	if ch.Status != nil {
		u.Status = *ch.Status
	}
	if ch.AccountType != nil {
		u.AccountType = *ch.AccountType
	}
	for k, v := range ch.Attributes {
		if v == "" {
			delete(u.Attributes, k)
		} else {
			u.Attributes[k] = v
		}
	}
}

func applyDeviceChange(ctx context.Context, tx *gorm.DB, attrs *attrSet, ch *DeviceChange) (ChangeResult, error) {
	res := ChangeResult{ID: ch.ID}
	if ch.ID == 0 {
		d := model.Device{Attributes: model.Attributes{}}
		applyDeviceFields(&d, ch)
		if ch.UserID != nil {
			d.UserID = *ch.UserID
		}
		if err := createDevice(ctx, tx, attrs, &d); err != nil {
			return res, err
		}
		res.ID, res.Created = d.ID, true
		return res, nil
	}
	old, err := getDevice(tx, attrs, ch.ID)
	if err != nil {
		return res, err
	}
	if ch.Name != nil || ch.Serial != nil || ch.Platform != nil || len(ch.Attributes) > 0 {
		d := *old
		d.Attributes = old.Attributes.Clone()
		applyDeviceFields(&d, ch)
		if err := updateDevice(ctx, tx, attrs, old, &d); err != nil {
			return res, err
		}
	}
	if ch.UserID != nil {
		if err := assignDevice(ctx, tx, ch.ID, *ch.UserID); err != nil {
			return res, err
		}
	}
	return res, nil
}

func applyDeviceFields(d *model.Device, ch *DeviceChange) {
	if ch.Name != nil {
		d.Name = *ch.Name
	}
	if ch.Serial != nil {
		d.Serial = *ch.Serial
	}
	if ch.Platform != nil {
		d.Platform = *ch.Platform
	}
	for k, v := range ch.Attributes {
		if v == "" {
			delete(d.Attributes, k)
		} else {
			d.Attributes[k] = v
		}
	}
}
