package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ncruces/go-sqlite3"
	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

// uniqueField returns the form field a unique index guards and the message
// for a taken value. constraint is the index name (PostgreSQL) or SQLite's
// message, which names the index or its "table.column".
func uniqueField(constraint string) (field, msg string, ok bool) {
	table := []struct {
		needles    []string
		field, msg string
	}{
		{[]string{"users_username_key", "users.username_key"}, "username", "is already taken"},
		{[]string{"users_email_key", "users.email_key"}, "email", "is already used by another user"},
		{[]string{"users_external_id", "users.external_id"}, "external_id", "is already linked to another user"},
		{[]string{"devices_serial_key"}, "serial", "is already used by another device"},
		{[]string{"attribute_defs_key", "attribute_defs.key"}, "key", "is already taken"},
		{[]string{"attribute_defs_name", "service_groups_name", "profiles_name", "sources_name"}, "name", "is already taken"},
		{[]string{"admins_username"}, "username", "is already taken"},
		{[]string{"group_mappings_dn", "group_mappings.source_id", "provisioning_mappings_dn", "provisioning_mappings.source_id"}, "group_dn", "is already mapped"},
	}
	for _, u := range table {
		for _, n := range u.needles {
			if strings.Contains(constraint, n) {
				return u.field, u.msg, true
			}
		}
	}
	return "", "", false
}

// dbErr turns a database error into the error a caller should see:
// ENOTFOUND for a missing row, ECONFLICT with Fields for a taken unique
// value, ECONFLICT for a row still referenced; anything else is wrapped with
// op. A *model.Error passes through unchanged.
func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var me *model.Error
	if errors.As(err, &me) {
		return err
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return model.Errorf(model.ENOTFOUND, "Not found.")
	}
	if constraint, ok := uniqueViolation(err); ok {
		if field, msg, ok := uniqueField(constraint); ok {
			return &model.Error{Code: model.ECONFLICT, Message: "Please correct the highlighted fields.",
				Fields: map[string]string{field: msg}}
		}
		return model.Errorf(model.ECONFLICT, "This value is already taken.")
	}
	if isForeignKeyViolation(err) {
		return model.Errorf(model.ECONFLICT, "This object is still in use by other objects.")
	}
	return fmt.Errorf("%s: %w", op, err)
}

// notFound returns an ENOTFOUND error naming what was missing.
func notFound(what string, id int64) error {
	return model.Errorf(model.ENOTFOUND, "%s %d does not exist.", what, id)
}

func uniqueViolation(err error) (string, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return pe.ConstraintName, true
	}
	if errors.Is(err, sqlite3.CONSTRAINT_UNIQUE) || errors.Is(err, sqlite3.CONSTRAINT_PRIMARYKEY) {
		return err.Error(), true
	}
	return "", false
}

func isForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23503"
	}
	return errors.Is(err, sqlite3.CONSTRAINT_FOREIGNKEY)
}

// Transient reports whether err means the database could not be reached
// or was busy (worth trying again as it is), rather than an answer that
// would be the same next time: a PostgreSQL error outside the connection,
// shutdown and resource classes, a SQLite error other than busy, or a
// model.Error.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var me *model.Error
	if errors.As(err, &me) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P") || strings.HasPrefix(pe.Code, "53")
	}
	var se *sqlite3.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.BUSY || se.Code() == sqlite3.LOCKED
	}
	return true // no answer at all: a closed connection, a refused dial, EOF
}
