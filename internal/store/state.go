package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

// LoadState reads everything a sync plans against in one read-only
// transaction (a consistent snapshot on PostgreSQL: REPEATABLE READ), with
// one query per table: users and devices by id, groups and profiles by name,
// memberships by group then user, mappings by priority then DN.
func (s *Store) LoadState(ctx context.Context) (*model.State, error) {
	st := &model.State{}
	opts := &sql.TxOptions{ReadOnly: true}
	if s.dialect == DialectPostgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	load := func(tx *gorm.DB) error { return loadState(tx, st) }
	var err error
	if s.inTx {
		err = load(s.db.WithContext(ctx))
	} else {
		err = s.db.WithContext(ctx).Transaction(load, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("store: load state: %w", err)
	}
	return st, nil
}

func loadState(tx *gorm.DB, st *model.State) error {
	var err error
	if st.Settings, err = loadSettings(tx); err != nil {
		return err
	}
	attrs, err := loadAttrs(tx)
	if err != nil {
		return err
	}
	st.AttributeDefs = attrs.defs
	if st.Users, err = loadAllUsers(tx, attrs); err != nil {
		return err
	}
	if st.Devices, err = loadAllDevices(tx, attrs); err != nil {
		return err
	}
	if st.ServiceGroupMembers, err = loadMembers(tx, serviceGroupKind()); err != nil {
		return err
	}
	if st.ProfileMembers, err = loadMembers(tx, profileKind()); err != nil {
		return err
	}
	if st.ServiceGroups, err = loadAllServiceGroups(tx, attrs); err != nil {
		return err
	}
	if st.Profiles, err = loadAllProfiles(tx, attrs); err != nil {
		return err
	}
	if st.GroupMappings, err = listGroupMappings(tx); err != nil {
		return err
	}
	if st.ProvisioningMappings, err = listProvMappings(tx); err != nil {
		return err
	}
	return nil
}

// attrRows reads (owner id, attribute id, value) rows ordered by owner id
// and adds them to the owners, which are sorted by id.
func attrRows(tx *gorm.DB, query string, attrs *attrSet, n int, id func(i int) int64, set func(i int, key, v string)) error {
	rows, err := tx.Raw(query).Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	i := 0
	in := interner{}
	for rows.Next() {
		var owner, attr int64
		var raw sql.RawBytes
		if err := rows.Scan(&owner, &attr, &raw); err != nil {
			return err
		}
		v := in.get(raw)
		for i < n && id(i) < owner {
			i++
		}
		if i == n {
			break
		}
		if d, ok := attrs.byID[attr]; ok && id(i) == owner {
			set(i, d.Key, v)
		}
	}
	return rows.Err()
}

func loadAllUsers(tx *gorm.DB, attrs *attrSet) ([]model.User, error) {
	var n int64
	if err := tx.Model(&userRow{}).Count(&n).Error; err != nil {
		return nil, fmt.Errorf("count users: %w", err)
	}
	users := make([]model.User, 0, n)
	rows, err := tx.Raw(`SELECT id, username, email, display_name, status, origin, account_type, source_id,
		external_id, dn, disabled_by_sync, version, created_at, updated_at FROM users ORDER BY id`).Rows()
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	defer rows.Close()
	in := interner{}
	for rows.Next() {
		var u model.User
		var src sql.NullInt64
		var status, origin, typ sql.RawBytes
		var created, updated time.Time
		if err := rows.Scan(&u.ID, &u.Username, &u.Email, &u.DisplayName, &status, &origin, &typ, &src,
			&u.ExternalID, &u.DN, &u.DisabledBySync, &u.Version, &created, &updated); err != nil {
			return nil, fmt.Errorf("users: %w", err)
		}
		u.Status, u.Origin, u.AccountType = model.UserStatus(in.get(status)), model.Origin(in.get(origin)), model.AccountType(in.get(typ))
		u.SourceID = src.Int64
		u.CreatedAt, u.UpdatedAt = created.UTC(), updated.UTC()
		u.Attributes = make(model.Attributes, len(attrs.defs))
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	err = attrRows(tx, "SELECT user_id, attribute_id, value FROM user_attribute_values ORDER BY user_id", attrs, len(users),
		func(i int) int64 { return users[i].ID }, func(i int, k, v string) { users[i].Attributes[k] = v })
	if err != nil {
		return nil, fmt.Errorf("user attributes: %w", err)
	}
	return users, nil
}

func loadAllDevices(tx *gorm.DB, attrs *attrSet) ([]model.Device, error) {
	var n int64
	if err := tx.Model(&deviceRow{}).Count(&n).Error; err != nil {
		return nil, fmt.Errorf("count devices: %w", err)
	}
	devs := make([]model.Device, 0, n)
	rows, err := tx.Raw(`SELECT id, name, serial, platform, user_id, created_at, updated_at FROM devices ORDER BY id`).Rows()
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d model.Device
		var uid sql.NullInt64
		var created, updated time.Time
		if err := rows.Scan(&d.ID, &d.Name, &d.Serial, &d.Platform, &uid, &created, &updated); err != nil {
			return nil, fmt.Errorf("devices: %w", err)
		}
		d.UserID = uid.Int64
		d.CreatedAt, d.UpdatedAt = created.UTC(), updated.UTC()
		d.Attributes = model.Attributes{}
		devs = append(devs, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	err = attrRows(tx, "SELECT device_id, attribute_id, value FROM device_attribute_values ORDER BY device_id", attrs, len(devs),
		func(i int) int64 { return devs[i].ID }, func(i int, k, v string) { devs[i].Attributes[k] = v })
	if err != nil {
		return nil, fmt.Errorf("device attributes: %w", err)
	}
	return devs, nil
}

func loadMembers(tx *gorm.DB, k groupKind) ([]model.Membership, error) {
	rows, err := tx.Raw("SELECT " + k.fk + ", user_id, manual FROM " + k.members + " ORDER BY " + k.fk + ", user_id").Rows()
	if err != nil {
		return nil, fmt.Errorf("%s members: %w", k.object, err)
	}
	defer rows.Close()
	var out []model.Membership
	for rows.Next() {
		var m model.Membership
		if err := rows.Scan(&m.GroupID, &m.UserID, &m.Manual); err != nil {
			return nil, fmt.Errorf("%s members: %w", k.object, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func allGroups(tx *gorm.DB, k groupKind, attrs *attrSet) ([]groupRow, map[int64][]model.Rule, error) {
	var rows []groupRow
	// Planning never reads member counts: counting every membership would
	// cost a one-user refresh more than all the rest of it.
	if err := tx.Raw("SELECT " + k.columnsWith("0") + " FROM " + k.table + " g ORDER BY lower(g.name), g.id").Scan(&rows).Error; err != nil {
		return nil, nil, fmt.Errorf("%s: %w", k.object, err)
	}
	ids := make([]int64, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	rules, err := k.loadRules(tx, attrs, ids)
	return rows, rules, err
}

func loadAllServiceGroups(tx *gorm.DB, attrs *attrSet) ([]model.ServiceGroup, error) {
	rows, rules, err := allGroups(tx, serviceGroupKind(), attrs)
	if err != nil {
		return nil, err
	}
	out := make([]model.ServiceGroup, len(rows))
	for i := range rows {
		out[i] = rows[i].serviceGroup(rules[rows[i].ID])
	}
	return out, nil
}

func loadAllProfiles(tx *gorm.DB, attrs *attrSet) ([]model.Profile, error) {
	rows, rules, err := allGroups(tx, profileKind(), attrs)
	if err != nil {
		return nil, err
	}
	out := make([]model.Profile, len(rows))
	for i := range rows {
		out[i] = rows[i].profile(rules[rows[i].ID])
	}
	return out, nil
}

// interner shares one string per distinct value: attribute values repeat
// across thousands of users, and a state of 100k users would otherwise hold
// a copy each.
type interner map[string]string

func (in interner) get(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	in[s] = s
	return s
}
