package store

import (
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/idsync/idsync/internal/model"
)

// writeAttrValues applies the difference between old and new attribute
// values of one owner (a user or a device) to its value table: values that
// changed are upserted, values that became blank are deleted. ownerCol is
// the owner's column in R's table; row builds one row of R.
func writeAttrValues[R any](tx *gorm.DB, attrs *attrSet, ownerCol string, ownerID int64, old, new model.Attributes, row func(attrID int64, v string) R) error {
	var upserts []R
	var deletes []int64
	for k, v := range new {
		if old[k] != v {
			upserts = append(upserts, row(attrs.byKey[k].ID, v))
		}
	}
	for k := range old {
		if new[k] == "" {
			deletes = append(deletes, attrs.byKey[k].ID)
		}
	}
	if len(deletes) > 0 {
		var zero R
		if err := tx.Where(ownerCol+" = ? AND attribute_id IN ?", ownerID, deletes).Delete(&zero).Error; err != nil {
			return fmt.Errorf("store: delete attribute values (%s %d): %w", ownerCol, ownerID, err)
		}
	}
	if len(upserts) > 0 {
		err := tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: ownerCol}, {Name: "attribute_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"value"}),
		}).Create(&upserts).Error
		if err != nil {
			return fmt.Errorf("store: write attribute values (%s %d): %w", ownerCol, ownerID, err)
		}
	}
	return nil
}
