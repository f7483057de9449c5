package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

type userRow struct {
	ID             int64 `gorm:"primaryKey"`
	Username       string
	UsernameKey    string
	Email          string
	EmailKey       string
	DisplayName    string
	Search         string
	Status         string
	Origin         string
	AccountType    string
	SourceID       *int64
	ExternalID     string
	DN             string `gorm:"column:dn"`
	DisabledBySync bool
	Version        int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

func (userRow) TableName() string { return "users" }

type userAttrRow struct {
	UserID      int64 `gorm:"primaryKey"`
	AttributeID int64 `gorm:"primaryKey"`
	Value       string
}

func (userAttrRow) TableName() string { return "user_attribute_values" }

func (r *userRow) model() model.User {
	u := model.User{
		ID: r.ID, Username: r.Username, Email: r.Email, DisplayName: r.DisplayName,
		Status: model.UserStatus(r.Status), Origin: model.Origin(r.Origin), AccountType: model.AccountType(r.AccountType),
		ExternalID: r.ExternalID, DN: r.DN, DisabledBySync: r.DisabledBySync, Version: r.Version,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), Attributes: model.Attributes{},
	}
	if r.SourceID != nil {
		u.SourceID = *r.SourceID
	}
	return u
}

func userToRow(u *model.User) userRow {
	r := userRow{
		ID: u.ID, Username: u.Username, UsernameKey: strings.ToLower(u.Username),
		Email: u.Email, EmailKey: strings.ToLower(u.Email), DisplayName: u.DisplayName,
		Search: searchText(u.Username, u.Email, u.DisplayName),
		Status: string(u.Status), Origin: string(u.Origin), AccountType: string(u.AccountType),
		ExternalID: u.ExternalID, DN: u.DN, DisabledBySync: u.DisabledBySync, Version: u.Version,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
	}
	if u.SourceID != 0 {
		id := u.SourceID
		r.SourceID = &id
	}
	return r
}

// normalizeUser trims u's fields, fills defaults and validates it against
// attrs; it returns EINVALID with Fields and leaves the database alone.
func normalizeUser(tx *gorm.DB, u *model.User, attrs *attrSet) error {
	u.Username = strings.TrimSpace(u.Username)
	u.Email = strings.TrimSpace(u.Email)
	u.DisplayName = strings.TrimSpace(u.DisplayName)
	u.ExternalID = strings.TrimSpace(u.ExternalID)
	u.DN = strings.TrimSpace(u.DN)
	if u.Status == "" {
		u.Status = model.StatusActive
	}
	if u.Origin == "" {
		u.Origin = model.OriginLocal
	}
	if u.AccountType == "" {
		u.AccountType = model.AccountDeviceEnabled
	}
	f := fields{}
	f.text("username", u.Username, true, maxName)
	if strings.ContainsAny(u.Username, " \t") {
		f.add("username", "must not contain spaces")
	}
	f.email("email", u.Email)
	f.text("display_name", u.DisplayName, false, maxName)
	f.text("external_id", u.ExternalID, false, maxName)
	f.text("dn", u.DN, false, 1000)
	oneOf(f, "status", u.Status, model.StatusActive, model.StatusDisabled)
	oneOf(f, "origin", u.Origin, model.OriginDirectory, model.OriginLocal, model.OriginSystem)
	oneOf(f, "account_type", u.AccountType, model.AccountDeviceEnabled, model.AccountAdministrator)
	switch {
	case u.Origin == model.OriginDirectory && u.SourceID == 0:
		f.add("source_id", "is required for a directory user")
	case u.Origin != model.OriginDirectory && (u.SourceID != 0 || u.ExternalID != ""):
		f.add("origin", "must be directory for a user linked to a directory source")
	case u.SourceID != 0:
		var n int64
		if err := tx.Model(&sourceRow{}).Where("id = ?", u.SourceID).Count(&n).Error; err != nil {
			return fmt.Errorf("store: check source: %w", err)
		}
		if n == 0 {
			f.add("source_id", "does not exist")
		}
	}
	if u.Status == model.StatusActive {
		u.DisabledBySync = false
	}
	u.Attributes = attrs.cleanValues(f, u.Attributes, false)
	return f.err()
}

// GetUser returns one user with attributes, or ENOTFOUND.
func (s *Store) GetUser(ctx context.Context, id int64) (*model.User, error) {
	db := s.db.WithContext(ctx)
	u, err := getUser(db, id)
	if err != nil {
		return nil, err
	}
	attrs, err := loadAttrs(db)
	if err != nil {
		return nil, err
	}
	if err := fillUserAttrs(db, attrs, []*model.User{u}); err != nil {
		return nil, err
	}
	return u, nil
}

func getUser(tx *gorm.DB, id int64) (*model.User, error) {
	var r userRow
	if err := tx.Take(&r, id).Error; err != nil {
		return nil, dbErrNotFound("store: get user", err, "User", id)
	}
	u := r.model()
	return &u, nil
}

// fillUserAttrs loads the attribute values of users in one query.
func fillUserAttrs(tx *gorm.DB, attrs *attrSet, users []*model.User) error {
	if len(users) == 0 {
		return nil
	}
	byID := make(map[int64]*model.User, len(users))
	ids := make([]int64, 0, len(users))
	for _, u := range users {
		if u.Attributes == nil {
			u.Attributes = model.Attributes{}
		}
		byID[u.ID] = u
		ids = append(ids, u.ID)
	}
	for chunk := range slices.Chunk(ids, 5000) {
		var vals []userAttrRow
		if err := tx.Where("user_id IN ?", chunk).Find(&vals).Error; err != nil {
			return fmt.Errorf("store: load user attributes: %w", err)
		}
		for _, v := range vals {
			if d, ok := attrs.byID[v.AttributeID]; ok {
				byID[v.UserID].Attributes[d.Key] = v.Value
			}
		}
	}
	return nil
}

// ListUsers returns one page of users (with attributes) and the total that
// match f. Sort accepts username, email, display_name, status, origin,
// created_at and updated_at; search matches username, e-mail and display name.
func (s *Store) ListUsers(ctx context.Context, f model.UserFilter) ([]model.User, int, error) {
	q := f.ListQuery.Normalize()
	db := s.db.WithContext(ctx)
	where := s.userWhere(db, f)
	order := orderBy(q, map[string]string{
		"username": "username_key", "email": "email_key", "display_name": "lower(display_name)",
		"status": "status", "origin": "origin", "created_at": "id", "updated_at": "updated_at",
	}, "username")
	if q.Sort == "" || q.Sort == "username" {
		// username_key is unique: no tie-break needed, and the plain
		// index serves the order.
		order = strings.TrimSuffix(strings.TrimSuffix(order, ", id DESC"), ", id")
	}
	ids, total, err := s.pageIDs(where, order, q)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list users: %w", err)
	}
	var rows []userRow
	if len(ids) > 0 {
		if err := db.Where("id IN ?", ids).Find(&rows).Error; err != nil {
			return nil, 0, fmt.Errorf("store: list users: %w", err)
		}
	}
	rows = inOrder(ids, rows, func(r *userRow) int64 { return r.ID })
	users, err := s.usersWithAttrs(db, rows)
	if err != nil {
		return nil, 0, err
	}
	return users, total, nil
}

// userWhere selects the users f asks for (search and filters, no order).
func (s *Store) userWhere(db *gorm.DB, f model.UserFilter) *gorm.DB {
	where := s.whereSearch(db.Model(&userRow{}), "search", f.Search)
	if f.Status != "" {
		where = where.Where("status = ?", string(f.Status))
	}
	if f.Origin != "" {
		where = where.Where("origin = ?", string(f.Origin))
	}
	if f.ServiceGroupID != 0 {
		where = where.Where("id IN (SELECT user_id FROM service_group_members WHERE service_group_id = ?)", f.ServiceGroupID)
	}
	if f.ProfileID != 0 {
		where = where.Where("id IN (SELECT user_id FROM profile_members WHERE profile_id = ?)", f.ProfileID)
	}
	return where
}

func (s *Store) usersWithAttrs(db *gorm.DB, rows []userRow) ([]model.User, error) {
	users := make([]model.User, len(rows))
	ptrs := make([]*model.User, len(rows))
	for i := range rows {
		users[i] = rows[i].model()
		ptrs[i] = &users[i]
	}
	attrs, err := loadAttrs(db)
	if err != nil {
		return nil, err
	}
	if err := fillUserAttrs(db, attrs, ptrs); err != nil {
		return nil, err
	}
	return users, nil
}

// UsernamesByID returns the usernames of the given user ids (missing ids
// are left out), for lists that show an owner column.
func (s *Store) UsernamesByID(ctx context.Context, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	for chunk := range slices.Chunk(ids, 5000) {
		var rows []userRow
		if err := s.db.WithContext(ctx).Select("id", "username").Where("id IN ?", chunk).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("store: usernames: %w", err)
		}
		for _, r := range rows {
			out[r.ID] = r.Username
		}
	}
	return out, nil
}

// CreateUser validates and inserts u with its attributes, sets u.ID,
// u.Version and the timestamps. A taken username, e-mail or external id is
// ECONFLICT with Fields; bad input EINVALID; nothing is saved on error.
func (s *Store) CreateUser(ctx context.Context, u *model.User) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		attrs, err := loadAttrs(tx)
		if err != nil {
			return err
		}
		return createUser(ctx, tx, attrs, u)
	})
}

// createUser is CreateUser inside tx.
func createUser(ctx context.Context, tx *gorm.DB, attrs *attrSet, u *model.User) error {
	nu := *u
	if err := normalizeUser(tx, &nu, attrs); err != nil {
		return err
	}
	t := now()
	nu.ID, nu.Version, nu.CreatedAt, nu.UpdatedAt = 0, 1, t, t
	r := userToRow(&nu)
	if err := tx.Create(&r).Error; err != nil {
		return dbErr("store: create user", err)
	}
	nu.ID = r.ID
	if err := writeUserAttrs(tx, attrs, nu.ID, nil, nu.Attributes); err != nil {
		return err
	}
	if err := audit(ctx, tx, "create", "user", nu.ID, "created user "+nu.Username, nil, &nu); err != nil {
		return err
	}
	if err := bumpProductVersions(tx, []int64{nu.ID}, false); err != nil {
		return fmt.Errorf("store: create user: products: %w", err)
	}
	*u = nu
	return nil
}

// writeUserAttrs applies the difference between old and new values.
func writeUserAttrs(tx *gorm.DB, attrs *attrSet, userID int64, old, new model.Attributes) error {
	return writeAttrValues(tx, attrs, "user_id", userID, old, new, func(attrID int64, v string) userAttrRow {
		return userAttrRow{UserID: userID, AttributeID: attrID, Value: v}
	})
}

// UpdateUser stores u's fields and attributes (ID, Version and CreatedAt
// are not taken from u; nil Attributes keeps the stored values, an empty
// map clears them). When nothing changed it writes nothing. Otherwise it
// bumps the version, audits the change, notifies products and, when
// Settings.SyncEnterpriseGroupsToDevices is on, writes changed
// enterprise-group values to every device assigned to the user (SPEC §6).
func (s *Store) UpdateUser(ctx context.Context, u *model.User) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		attrs, err := loadAttrs(tx)
		if err != nil {
			return err
		}
		old, err := getUser(tx, u.ID)
		if err != nil {
			return err
		}
		if err := fillUserAttrs(tx, attrs, []*model.User{old}); err != nil {
			return err
		}
		return s.updateUser(ctx, tx, attrs, old, u)
	})
}

// updateUser is UpdateUser inside tx, old being the stored user with its
// attributes.
func (s *Store) updateUser(ctx context.Context, tx *gorm.DB, attrs *attrSet, old, u *model.User) error {
	nu := *u
	if nu.Attributes == nil {
		nu.Attributes = old.Attributes.Clone()
	}
	if err := normalizeUser(tx, &nu, attrs); err != nil {
		return err
	}
	nu.Version, nu.CreatedAt, nu.UpdatedAt = old.Version, old.CreatedAt, old.UpdatedAt
	if sameUser(old, &nu) {
		*u = nu
		return nil
	}
	nu.Version, nu.UpdatedAt = old.Version+1, now()
	r := userToRow(&nu)
	err := tx.Model(&userRow{}).Where("id = ?", nu.ID).Select("*").Omit("id", "created_at").Updates(&r).Error
	if err != nil {
		return dbErr("store: update user", err)
	}
	if err := writeUserAttrs(tx, attrs, nu.ID, old.Attributes, nu.Attributes); err != nil {
		return err
	}
	if err := audit(ctx, tx, "update", "user", nu.ID, "updated user "+nu.Username, old, &nu); err != nil {
		return err
	}
	if err := s.propagateToDevices(ctx, tx, attrs, &nu, old.Attributes); err != nil {
		return err
	}
	if err := bumpProductVersions(tx, []int64{nu.ID}, false); err != nil {
		return fmt.Errorf("store: update user: products: %w", err)
	}
	*u = nu
	return nil
}

func sameUser(a, b *model.User) bool {
	return a.Username == b.Username && a.Email == b.Email && a.DisplayName == b.DisplayName &&
		a.Status == b.Status && a.Origin == b.Origin && a.AccountType == b.AccountType &&
		a.SourceID == b.SourceID && a.ExternalID == b.ExternalID && a.DN == b.DN &&
		a.DisabledBySync == b.DisabledBySync && maps.Equal(a.Attributes, b.Attributes)
}

// propagateToDevices writes the enterprise-group values that changed on u
// to every device assigned to u, when the setting is on (SPEC §6). It is
// triggered by the change only: unchanged values are not rewritten.
func (s *Store) propagateToDevices(ctx context.Context, tx *gorm.DB, attrs *attrSet, u *model.User, old model.Attributes) error {
	var egKeys []string
	for _, d := range attrs.defs {
		if d.EnterpriseGroup {
			egKeys = append(egKeys, d.Key)
		}
	}
	if !anyChanged(egKeys, old, u.Attributes) {
		return nil
	}
	st, err := loadSettings(tx)
	if err != nil {
		return err
	}
	if !st.SyncEnterpriseGroupsToDevices {
		return nil
	}
	var devs []deviceRow
	if err := tx.Where("user_id = ?", u.ID).Order("id").Find(&devs).Error; err != nil {
		return fmt.Errorf("store: propagate to devices: %w", err)
	}
	for i := range devs {
		before, err := getDevice(tx, attrs, devs[i].ID)
		if err != nil {
			return err
		}
		changes := model.PropagateToDevice(egKeys, old, u.Attributes, before.Attributes)
		if len(changes) == 0 {
			continue
		}
		after := *before
		after.Attributes = before.Attributes.Clone()
		for _, c := range changes {
			if c.New == "" {
				delete(after.Attributes, c.Key)
			} else {
				after.Attributes[c.Key] = c.New
			}
		}
		after.UpdatedAt = now()
		if err := tx.Model(&deviceRow{}).Where("id = ?", after.ID).Update("updated_at", after.UpdatedAt).Error; err != nil {
			return fmt.Errorf("store: propagate to device %d: %w", after.ID, err)
		}
		if err := writeDeviceAttrs(tx, attrs, after.ID, before.Attributes, after.Attributes); err != nil {
			return err
		}
		summary := fmt.Sprintf("enterprise groups of device %s follow user %s", after.Name, u.Username)
		if err := audit(ctx, tx, "propagate", "device", after.ID, summary, before, &after); err != nil {
			return err
		}
	}
	return nil
}

// anyChanged reports whether any of keys differs between a and b.
func anyChanged(keys []string, a, b model.Attributes) bool {
	for _, k := range keys {
		if a[k] != b[k] {
			return true
		}
	}
	return false
}

// DeleteUser removes a user with their attribute values and memberships;
// their devices become unassigned.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		attrs, err := loadAttrs(tx)
		if err != nil {
			return err
		}
		old, err := getUser(tx, id)
		if err != nil {
			return err
		}
		if err := fillUserAttrs(tx, attrs, []*model.User{old}); err != nil {
			return err
		}
		// products read the user's assignments before they are gone
		if err := bumpProductVersions(tx, []int64{id}, true); err != nil {
			return fmt.Errorf("store: delete user: products: %w", err)
		}
		if err := tx.Delete(&userRow{}, id).Error; err != nil {
			return dbErr("store: delete user", err)
		}
		return audit(ctx, tx, "delete", "user", id, "deleted user "+old.Username, old, nil)
	})
}

// touchUsers bumps the version of users whose memberships changed and tells
// the products, in tx.
func touchUsers(tx *gorm.DB, ids ...int64) error {
	if len(ids) == 0 {
		return nil
	}
	err := tx.Model(&userRow{}).Where("id IN ?", ids).
		Updates(map[string]any{"version": gorm.Expr("version + 1"), "updated_at": now()}).Error
	if err != nil {
		return fmt.Errorf("store: touch users: %w", err)
	}
	if err := bumpProductVersions(tx, ids, false); err != nil {
		return fmt.Errorf("store: touch users: products: %w", err)
	}
	return nil
}

// UserServiceGroups returns the service groups the user is in, with the
// matching memberships, ordered by group name. ENOTFOUND for no such user.
func (s *Store) UserServiceGroups(ctx context.Context, userID int64) ([]model.ServiceGroup, []model.Membership, error) {
	db := s.db.WithContext(ctx)
	if _, err := getUser(db, userID); err != nil {
		return nil, nil, err
	}
	var ms []memberRow
	if err := db.Table("service_group_members").Select("service_group_id AS group_id, user_id, manual").
		Where("user_id = ?", userID).Find(&ms).Error; err != nil {
		return nil, nil, fmt.Errorf("store: user service groups: %w", err)
	}
	groups, err := s.serviceGroupsByID(db, memberGroupIDs(ms))
	if err != nil {
		return nil, nil, err
	}
	return groups, membershipsFor(groups, ms, func(g model.ServiceGroup) int64 { return g.ID }), nil
}

// UserProfiles returns the profiles the user is in, with the matching
// memberships, ordered by profile name. ENOTFOUND for no such user.
func (s *Store) UserProfiles(ctx context.Context, userID int64) ([]model.Profile, []model.Membership, error) {
	db := s.db.WithContext(ctx)
	if _, err := getUser(db, userID); err != nil {
		return nil, nil, err
	}
	var ms []memberRow
	if err := db.Table("profile_members").Select("profile_id AS group_id, user_id, manual").
		Where("user_id = ?", userID).Find(&ms).Error; err != nil {
		return nil, nil, fmt.Errorf("store: user profiles: %w", err)
	}
	profiles, err := s.profilesByID(db, memberGroupIDs(ms))
	if err != nil {
		return nil, nil, err
	}
	return profiles, membershipsFor(profiles, ms, func(p model.Profile) int64 { return p.ID }), nil
}

// memberRow is one membership row read from either membership table.
type memberRow struct {
	GroupID int64
	UserID  int64
	Manual  bool
}

func memberGroupIDs(ms []memberRow) []int64 {
	ids := make([]int64, len(ms))
	for i, m := range ms {
		ids[i] = m.GroupID
	}
	return ids
}

// membershipsFor orders memberships like groups.
func membershipsFor[G any](groups []G, ms []memberRow, id func(G) int64) []model.Membership {
	by := make(map[int64]memberRow, len(ms))
	for _, m := range ms {
		by[m.GroupID] = m
	}
	out := make([]model.Membership, 0, len(groups))
	for _, g := range groups {
		m := by[id(g)]
		out = append(out, model.Membership{GroupID: m.GroupID, UserID: m.UserID, Manual: m.Manual})
	}
	return out
}
