package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/secret"
)

// SealedSuffix names the columns that hold values sealed with the secret
// key (sources.bind_password_sealed, products.secret_sealed, …):
// RotateSecretKey finds them by this suffix, so a new sealed column only
// has to follow the naming to be rotated too.
const SealedSuffix = "_sealed"

// SealedColumn is one table column holding sealed values.
type SealedColumn struct{ Table, Column string }

// sealedByName are the sealed columns named before the convention.
var sealedByName = []SealedColumn{{"admins", "totp_secret"}}

// SealedColumns lists the columns named *_sealed in the database, sorted.
func (s *Store) SealedColumns(ctx context.Context) ([]SealedColumn, error) {
	db := s.db.WithContext(ctx)
	tables, err := db.Migrator().GetTables()
	if err != nil {
		return nil, fmt.Errorf("store: sealed columns: %w", err)
	}
	var out []SealedColumn
	for _, t := range tables {
		if strings.HasPrefix(t, "goose_") || strings.HasPrefix(t, "sqlite_") {
			continue
		}
		cols, err := db.Migrator().ColumnTypes(t)
		if err != nil {
			return nil, fmt.Errorf("store: sealed columns of %s: %w", t, err)
		}
		for _, c := range cols {
			if strings.HasSuffix(c.Name(), SealedSuffix) || slices.Contains(sealedByName, SealedColumn{t, c.Name()}) {
				out = append(out, SealedColumn{Table: t, Column: c.Name()})
			}
		}
	}
	slices.SortFunc(out, func(a, b SealedColumn) int { return strings.Compare(a.Table+"."+a.Column, b.Table+"."+b.Column) })
	return out, nil
}

// RotateSecretKey re-seals every stored secret with newKey, in one
// transaction: every value must open with the current key first, or
// nothing is changed. It returns how many values were re-sealed. The
// store keeps sealing with its old key afterwards; reopen it with newKey.
// It fails with EINVALID when newKey is the wrong size or the current key.
func (s *Store) RotateSecretKey(ctx context.Context, newKey []byte) (int, error) {
	nb, err := secret.NewBox(newKey)
	if err != nil {
		return 0, model.Errorf(model.EINVALID, "The new secret key must be %d bytes.", secret.KeySize)
	}
	cols, err := s.SealedColumns(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	err = s.tx(ctx, func(tx *gorm.DB) error {
		for _, c := range cols {
			table, col := tx.Statement.Quote(c.Table), tx.Statement.Quote(c.Column)
			var values []string
			if err := tx.Raw("SELECT DISTINCT " + col + " FROM " + table + " WHERE " + col + " IS NOT NULL AND " + col + " <> ''").
				Scan(&values).Error; err != nil {
				return fmt.Errorf("store: rotate key: read %s.%s: %w", c.Table, c.Column, err)
			}
			for _, old := range values {
				plain, err := s.box.Open(old)
				if err != nil {
					if _, nerr := nb.Open(old); nerr == nil {
						return model.Errorf(model.EINVALID, "%s.%s is already sealed with the new key: it is the current key, or a rotation was half done by hand.", c.Table, c.Column)
					}
					return fmt.Errorf("store: rotate key: %s.%s holds a value the current key cannot open: %w", c.Table, c.Column, err)
				}
				sealed, err := nb.Seal(plain)
				if err != nil {
					return fmt.Errorf("store: rotate key: %w", err)
				}
				res := tx.Exec("UPDATE "+table+" SET "+col+" = ? WHERE "+col+" = ?", sealed, old)
				if res.Error != nil {
					return fmt.Errorf("store: rotate key: update %s.%s: %w", c.Table, c.Column, res.Error)
				}
				n += int(res.RowsAffected)
			}
		}
		return audit(ctx, tx, "rotate_secret_key", "settings", 0,
			fmt.Sprintf("re-sealed %d stored secrets with a new secret key", n), nil, nil)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
