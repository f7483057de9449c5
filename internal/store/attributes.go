package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

type attributeRow struct {
	ID              int64 `gorm:"primaryKey"`
	Key             string
	Name            string
	EnterpriseGroup bool
	Position        int
}

func (attributeRow) TableName() string { return "attribute_defs" }

func (r *attributeRow) model() model.AttributeDef {
	return model.AttributeDef{ID: r.ID, Key: r.Key, Name: r.Name, EnterpriseGroup: r.EnterpriseGroup, Position: r.Position}
}

// attrSet is the attribute definitions, indexed both ways.
type attrSet struct {
	defs  []model.AttributeDef
	byKey map[string]model.AttributeDef
	byID  map[int64]model.AttributeDef
}

// loadAttrs reads every attribute definition (a handful of rows).
func loadAttrs(tx *gorm.DB) (*attrSet, error) {
	var rows []attributeRow
	if err := tx.Order("position, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: load attributes: %w", err)
	}
	a := &attrSet{byKey: make(map[string]model.AttributeDef, len(rows)), byID: make(map[int64]model.AttributeDef, len(rows))}
	for i := range rows {
		d := rows[i].model()
		a.defs = append(a.defs, d)
		a.byKey[d.Key] = d
		a.byID[d.ID] = d
	}
	return a, nil
}

// cleanValues trims values, drops empty ones and checks every key exists
// (and, with groupOnly, is an enterprise-group attribute). Messages go to
// f under "attributes.<key>".
func (a *attrSet) cleanValues(f fields, in model.Attributes, groupOnly bool) model.Attributes {
	out := model.Attributes{}
	for k, v := range in {
		v = strings.TrimSpace(v)
		field := "attributes." + k
		d, ok := a.byKey[k]
		switch {
		case !ok:
			f.add(field, "is not a known attribute")
			continue
		case groupOnly && !d.EnterpriseGroup:
			f.add(field, "is not an enterprise group attribute")
			continue
		}
		f.text(field, v, false, maxValue)
		if v != "" {
			out[k] = v
		}
	}
	return out
}

// validKey reports whether k is an attribute key: [a-z][a-z0-9_]{0,39}.
func validKey(k string) bool {
	if k == "" || len(k) > 40 || k[0] < 'a' || k[0] > 'z' {
		return false
	}
	for _, c := range []byte(k) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

func validateAttribute(a *model.AttributeDef) error {
	a.Key = strings.TrimSpace(a.Key)
	a.Name = strings.TrimSpace(a.Name)
	f := fields{}
	if !validKey(a.Key) {
		f.add("key", "must start with a letter and hold only a-z, 0-9 and _ (at most 40)")
	}
	f.text("name", a.Name, true, 100)
	if a.Position < 0 || a.Position > 100000 {
		f.add("position", "must be between 0 and 100000")
	}
	return f.err()
}

// ListAttributes returns every attribute definition by Position.
func (s *Store) ListAttributes(ctx context.Context) ([]model.AttributeDef, error) {
	a, err := loadAttrs(s.db.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	return a.defs, nil
}

// GetAttribute returns one attribute definition, or ENOTFOUND.
func (s *Store) GetAttribute(ctx context.Context, id int64) (*model.AttributeDef, error) {
	var r attributeRow
	if err := s.db.WithContext(ctx).Take(&r, id).Error; err != nil {
		return nil, dbErrNotFound("store: get attribute", err, "Attribute", id)
	}
	d := r.model()
	return &d, nil
}

// CreateAttribute adds an attribute definition; Position 0 appends it.
func (s *Store) CreateAttribute(ctx context.Context, a *model.AttributeDef) error {
	if err := validateAttribute(a); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		if a.Position == 0 {
			var max int
			if err := tx.Model(&attributeRow{}).Select("COALESCE(MAX(position), 0)").Scan(&max).Error; err != nil {
				return fmt.Errorf("store: create attribute: %w", err)
			}
			a.Position = max + 1
		}
		r := attributeRow{Key: a.Key, Name: a.Name, EnterpriseGroup: a.EnterpriseGroup, Position: a.Position}
		if err := tx.Create(&r).Error; err != nil {
			return dbErr("store: create attribute", err)
		}
		a.ID = r.ID
		return audit(ctx, tx, "create", "attribute", r.ID, "created attribute "+a.Name, nil, a)
	})
}

// UpdateAttribute changes name, enterprise-group flag and position; the key
// is immutable (a different key is EINVALID).
func (s *Store) UpdateAttribute(ctx context.Context, a *model.AttributeDef) error {
	if err := validateAttribute(a); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		var old attributeRow
		if err := tx.Take(&old, a.ID).Error; err != nil {
			return dbErrNotFound("store: update attribute", err, "Attribute", a.ID)
		}
		if old.Key != a.Key {
			return model.Invalid(map[string]string{"key": "cannot be changed"})
		}
		before := old.model()
		if old.EnterpriseGroup && !a.EnterpriseGroup {
			// devices carry only enterprise-group attributes
			if err := tx.Where("attribute_id = ?", a.ID).Delete(&deviceAttrRow{}).Error; err != nil {
				return fmt.Errorf("store: update attribute: %w", err)
			}
		}
		err := tx.Model(&attributeRow{}).Where("id = ?", a.ID).Updates(map[string]any{
			"name": a.Name, "enterprise_group": a.EnterpriseGroup, "position": a.Position}).Error
		if err != nil {
			return dbErr("store: update attribute", err)
		}
		return audit(ctx, tx, "update", "attribute", a.ID, "updated attribute "+a.Name, before, a)
	})
}

// DeleteAttribute removes an attribute and every user's and device's value
// of it. An attribute used by a service group or profile rule cannot be
// deleted (ECONFLICT): dropping a condition would widen whom the rule matches.
func (s *Store) DeleteAttribute(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var old attributeRow
		if err := tx.Take(&old, id).Error; err != nil {
			return dbErrNotFound("store: delete attribute", err, "Attribute", id)
		}
		var users []string
		if err := tx.Raw(`SELECT g.name FROM service_group_rules r JOIN service_groups g ON g.id = r.service_group_id WHERE r.attribute_id = ?
			UNION SELECT p.name FROM profile_rules r JOIN profiles p ON p.id = r.profile_id WHERE r.attribute_id = ?`, id, id).
			Scan(&users).Error; err != nil {
			return fmt.Errorf("store: delete attribute: %w", err)
		}
		if len(users) > 0 {
			sort.Strings(users)
			return model.Errorf(model.ECONFLICT, "Attribute %q is used by the rules of %s; remove those rules first.", old.Name, strings.Join(users, ", "))
		}
		if err := tx.Delete(&attributeRow{}, id).Error; err != nil {
			return dbErr("store: delete attribute", err)
		}
		d := old.model()
		return audit(ctx, tx, "delete", "attribute", id, "deleted attribute "+old.Name, d, nil)
	})
}

// dbErrNotFound is dbErr with a not-found message naming the object.
func dbErrNotFound(op string, err error, what string, id int64) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return notFound(what, id)
	}
	return dbErr(op, err)
}
