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

// Service groups and profiles share their shape: a named object with
// attribute rules and members marked manual or synced. groupKind names the
// tables of one of them; every name here is a constant, never user input.
type groupKind struct {
	table, rules, members, fk string
	object                    string // audit object type
	what                      string // for messages
}

func serviceGroupKind() groupKind {
	return groupKind{"service_groups", "service_group_rules", "service_group_members", "service_group_id", "service_group", "Service group"}
}

func profileKind() groupKind {
	return groupKind{"profiles", "profile_rules", "profile_members", "profile_id", "profile", "Profile"}
}

// groupRow is a row of service_groups or profiles (SyncEnabled is always
// false for service groups).
type groupRow struct {
	ID          int64 `gorm:"primaryKey"`
	Name        string
	Description string
	SyncEnabled bool
	MemberCount int `gorm:"->"`
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

type ruleRow struct {
	GroupID     int64
	AttributeID int64
	Value       string
}

func (k groupKind) columns() string {
	return k.columnsWith("(SELECT COUNT(*) FROM " + k.members + " m WHERE m." + k.fk + " = g.id)")
}

// columnsWith is columns with count as the member count expression.
func (k groupKind) columnsWith(count string) string {
	c := "g.id, g.name, g.description, g.created_at, g.updated_at, " + count + " AS member_count"
	if k.table == "profiles" {
		c += ", g.sync_enabled"
	}
	return c
}

// loadRules returns the rules of the given groups, in order, by group id.
func (k groupKind) loadRules(tx *gorm.DB, attrs *attrSet, ids []int64) (map[int64][]model.Rule, error) {
	out := map[int64][]model.Rule{}
	for chunk := range slices.Chunk(ids, 5000) {
		var rows []ruleRow
		err := tx.Raw("SELECT "+k.fk+" AS group_id, attribute_id, value FROM "+k.rules+" WHERE "+k.fk+" IN ? ORDER BY "+k.fk+", position, id", chunk).
			Scan(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("store: load %s rules: %w", k.object, err)
		}
		for _, r := range rows {
			out[r.GroupID] = append(out[r.GroupID], model.Rule{Attribute: attrs.byID[r.AttributeID].Key, Value: r.Value})
		}
	}
	return out, nil
}

// list returns a page of groups with member counts and rules.
func (k groupKind) list(db *gorm.DB, q model.ListQuery) ([]groupRow, map[int64][]model.Rule, int, error) {
	q = q.Normalize()
	where := ""
	var args []any
	if p := likePattern(q.Search); p != "" {
		where = ` WHERE (lower(g.name) LIKE ? ESCAPE '\' OR lower(g.description) LIKE ? ESCAPE '\')`
		args = append(args, p, p)
	}
	var total int64
	if err := db.Raw("SELECT COUNT(*) FROM "+k.table+" g"+where, args...).Scan(&total).Error; err != nil {
		return nil, nil, 0, fmt.Errorf("store: count %s: %w", k.object, err)
	}
	order := orderBy(q, map[string]string{"name": "lower(g.name)", "created_at": "id", "member_count": "member_count"}, "name")
	var rows []groupRow
	err := db.Raw("SELECT "+k.columns()+" FROM "+k.table+" g"+where+" ORDER BY "+order+" LIMIT ? OFFSET ?",
		append(args, q.PerPage, q.Offset())...).Scan(&rows).Error
	if err != nil {
		return nil, nil, 0, fmt.Errorf("store: list %s: %w", k.object, err)
	}
	rules, err := k.rulesFor(db, rows)
	if err != nil {
		return nil, nil, 0, err
	}
	return rows, rules, int(total), nil
}

func (k groupKind) rulesFor(db *gorm.DB, rows []groupRow) (map[int64][]model.Rule, error) {
	attrs, err := loadAttrs(db)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	return k.loadRules(db, attrs, ids)
}

// byIDs returns the groups with the given ids, by name.
func (k groupKind) byIDs(db *gorm.DB, ids []int64) ([]groupRow, map[int64][]model.Rule, error) {
	if len(ids) == 0 {
		return nil, map[int64][]model.Rule{}, nil
	}
	var rows []groupRow
	if err := db.Raw("SELECT "+k.columns()+" FROM "+k.table+" g WHERE g.id IN ? ORDER BY lower(g.name), g.id", ids).Scan(&rows).Error; err != nil {
		return nil, nil, fmt.Errorf("store: get %s: %w", k.object, err)
	}
	rules, err := k.rulesFor(db, rows)
	return rows, rules, err
}

// get returns one group, or ENOTFOUND.
func (k groupKind) get(db *gorm.DB, id int64) (*groupRow, []model.Rule, error) {
	rows, rules, err := k.byIDs(db, []int64{id})
	if err != nil {
		return nil, nil, err
	}
	if len(rows) == 0 {
		return nil, nil, notFound(k.what, id)
	}
	return &rows[0], rules[id], nil
}

// validate normalizes name, description and rules.
func (k groupKind) validate(name, desc *string, rules []model.Rule, attrs *attrSet) ([]model.Rule, error) {
	*name = strings.TrimSpace(*name)
	*desc = strings.TrimSpace(*desc)
	f := fields{}
	f.text("name", *name, true, maxName)
	f.multiline("description", *desc, maxText)
	out := make([]model.Rule, 0, len(rules))
	seen := map[string]bool{}
	for i, r := range rules {
		field := fmt.Sprintf("rules.%d", i)
		r.Attribute = strings.TrimSpace(r.Attribute)
		r.Value = strings.TrimSpace(r.Value)
		if r.Attribute == "" && r.Value == "" {
			continue // an empty form row
		}
		if _, ok := attrs.byKey[r.Attribute]; !ok {
			f.add(field, "uses an unknown attribute")
			continue
		}
		if seen[r.Attribute] {
			f.add(field, "repeats attribute %s: a rule set needs each attribute once", r.Attribute)
			continue
		}
		seen[r.Attribute] = true
		f.text(field, r.Value, true, maxValue)
		out = append(out, r)
	}
	if len(out) > 20 {
		f.add("rules", "at most 20 rules")
	}
	return out, f.err()
}

func (k groupKind) writeRules(tx *gorm.DB, attrs *attrSet, id int64, rules []model.Rule) error {
	if err := tx.Exec("DELETE FROM "+k.rules+" WHERE "+k.fk+" = ?", id).Error; err != nil {
		return fmt.Errorf("store: write %s rules: %w", k.object, err)
	}
	for i, r := range rules {
		if err := tx.Exec("INSERT INTO "+k.rules+" ("+k.fk+", attribute_id, value, position) VALUES (?, ?, ?, ?)",
			id, attrs.byKey[r.Attribute].ID, r.Value, i).Error; err != nil {
			return fmt.Errorf("store: write %s rules: %w", k.object, err)
		}
	}
	return nil
}

func (k groupKind) memberIDs(tx *gorm.DB, id int64) ([]int64, error) {
	var ids []int64
	if err := tx.Raw("SELECT user_id FROM "+k.members+" WHERE "+k.fk+" = ? ORDER BY user_id", id).Scan(&ids).Error; err != nil {
		return nil, fmt.Errorf("store: %s members: %w", k.object, err)
	}
	return ids, nil
}

// create inserts a group and returns its id.
func (k groupKind) create(tx *gorm.DB, name, desc string, syncEnabled bool, rules []model.Rule, attrs *attrSet) (int64, time.Time, error) {
	t := now()
	r := groupRow{Name: name, Description: desc, SyncEnabled: syncEnabled, CreatedAt: t, UpdatedAt: t}
	var db *gorm.DB
	if k.table == "profiles" {
		db = tx.Table(k.table).Select("name", "description", "sync_enabled", "created_at", "updated_at").Create(&r)
	} else {
		db = tx.Table(k.table).Select("name", "description", "created_at", "updated_at").Create(&r)
	}
	if err := db.Error; err != nil {
		return 0, t, dbErr("store: create "+k.object, err)
	}
	if err := k.writeRules(tx, attrs, r.ID, rules); err != nil {
		return 0, t, err
	}
	return r.ID, t, nil
}

// update rewrites a group's fields and rules.
func (k groupKind) update(tx *gorm.DB, id int64, name, desc string, syncEnabled bool, rules []model.Rule, attrs *attrSet) (time.Time, error) {
	t := now()
	vals := map[string]any{"name": name, "description": desc, "updated_at": t}
	if k.table == "profiles" {
		vals["sync_enabled"] = syncEnabled
	}
	if err := tx.Table(k.table).Where("id = ?", id).Updates(vals).Error; err != nil {
		return t, dbErr("store: update "+k.object, err)
	}
	return t, k.writeRules(tx, attrs, id, rules)
}

// remove deletes a group; its members' versions are bumped (their
// assignments changed).
func (k groupKind) remove(ctx context.Context, tx *gorm.DB, id int64, before any, name string) error {
	members, err := k.memberIDs(tx, id)
	if err != nil {
		return err
	}
	if err := tx.Exec("DELETE FROM "+k.table+" WHERE id = ?", id).Error; err != nil {
		return dbErr("store: delete "+k.object, err)
	}
	if err := touchUsers(tx, members...); err != nil {
		return err
	}
	return audit(ctx, tx, "delete", k.object, id, fmt.Sprintf("deleted %s %s (%d members)", strings.ToLower(k.what), name, len(members)), before, nil)
}

// listMembers returns a page of the group's members (users with
// attributes) and their memberships; search as for the users list.
func (k groupKind) listMembers(s *Store, db *gorm.DB, id int64, q model.ListQuery) ([]model.User, []model.Membership, int, error) {
	if _, _, err := k.get(db, id); err != nil {
		return nil, nil, 0, err
	}
	q = q.Normalize()
	where := db.Model(&userRow{}).Joins("JOIN "+k.members+" m ON m.user_id = users.id AND m."+k.fk+" = ?", id)
	if p := likePattern(q.Search); p != "" {
		where = where.Where(`users.search LIKE ? ESCAPE '\'`, p)
	}
	var total int64
	if err := where.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, nil, 0, fmt.Errorf("store: count %s members: %w", k.object, err)
	}
	order := orderBy(q, map[string]string{"username": "users.username_key", "email": "users.email_key",
		"display_name": "lower(users.display_name)", "manual": "m.manual"}, "username")
	order = strings.ReplaceAll(order, ", id", ", users.id")
	if strings.HasPrefix(order, "id") {
		order = "users." + order
	}
	var rows []userRow
	if err := where.Session(&gorm.Session{}).Select("users.*").Order(order).Limit(q.PerPage).Offset(q.Offset()).Find(&rows).Error; err != nil {
		return nil, nil, 0, fmt.Errorf("store: list %s members: %w", k.object, err)
	}
	users, err := s.usersWithAttrs(db, rows)
	if err != nil {
		return nil, nil, 0, err
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	manual := map[int64]bool{}
	if len(ids) > 0 {
		var ms []memberRow
		if err := db.Raw("SELECT "+k.fk+" AS group_id, user_id, manual FROM "+k.members+" WHERE "+k.fk+" = ? AND user_id IN ?", id, ids).
			Scan(&ms).Error; err != nil {
			return nil, nil, 0, fmt.Errorf("store: %s members: %w", k.object, err)
		}
		for _, m := range ms {
			manual[m.UserID] = m.Manual
		}
	}
	mem := make([]model.Membership, len(users))
	for i, u := range users {
		mem[i] = model.Membership{GroupID: id, UserID: u.ID, Manual: manual[u.ID]}
	}
	return users, mem, int(total), nil
}

// addMember adds userID to group id (manual or synced). An existing
// membership keeps its row; a manual add marks it manual; anything else is
// a no-op that writes nothing.
func (k groupKind) addMember(ctx context.Context, tx *gorm.DB, id, userID int64, manual bool, groupName string) error {
	var username string
	if err := tx.Model(&userRow{}).Select("username").Where("id = ?", userID).Scan(&username).Error; err != nil {
		return fmt.Errorf("store: add %s member: %w", k.object, err)
	}
	if username == "" {
		return notFound("User", userID)
	}
	var cur []memberRow
	if err := tx.Raw("SELECT "+k.fk+" AS group_id, user_id, manual FROM "+k.members+" WHERE "+k.fk+" = ? AND user_id = ?", id, userID).
		Scan(&cur).Error; err != nil {
		return fmt.Errorf("store: add %s member: %w", k.object, err)
	}
	how := "synced"
	if manual {
		how = "manual"
	}
	type membership struct {
		User   string
		Manual bool
	}
	switch {
	case len(cur) == 1 && (cur[0].Manual || !manual):
		return nil // already there, nothing to change
	case len(cur) == 1:
		if err := tx.Exec("UPDATE "+k.members+" SET manual = ? WHERE "+k.fk+" = ? AND user_id = ?", true, id, userID).Error; err != nil {
			return fmt.Errorf("store: add %s member: %w", k.object, err)
		}
		if err := audit(ctx, tx, "mark_manual", k.object, id, fmt.Sprintf("%s is now a manual member of %s", username, groupName),
			membership{username, false}, membership{username, true}); err != nil {
			return err
		}
	default:
		if err := tx.Exec("INSERT INTO "+k.members+" ("+k.fk+", user_id, manual, created_at) VALUES (?, ?, ?, ?)", id, userID, manual, now()).Error; err != nil {
			return dbErr("store: add "+k.object+" member", err)
		}
		if err := audit(ctx, tx, "add_member", k.object, id, fmt.Sprintf("added %s to %s (%s)", username, groupName, how),
			nil, membership{username, manual}); err != nil {
			return err
		}
	}
	return touchUsers(tx, userID)
}

func (k groupKind) removeMember(ctx context.Context, tx *gorm.DB, id, userID int64, groupName string) error {
	var cur []memberRow
	if err := tx.Raw("SELECT "+k.fk+" AS group_id, user_id, manual FROM "+k.members+" WHERE "+k.fk+" = ? AND user_id = ?", id, userID).
		Scan(&cur).Error; err != nil {
		return fmt.Errorf("store: remove %s member: %w", k.object, err)
	}
	if len(cur) == 0 {
		return model.Errorf(model.ENOTFOUND, "User %d is not a member of %s.", userID, groupName)
	}
	var username string
	if err := tx.Model(&userRow{}).Select("username").Where("id = ?", userID).Scan(&username).Error; err != nil {
		return fmt.Errorf("store: remove %s member: %w", k.object, err)
	}
	if err := tx.Exec("DELETE FROM "+k.members+" WHERE "+k.fk+" = ? AND user_id = ?", id, userID).Error; err != nil {
		return fmt.Errorf("store: remove %s member: %w", k.object, err)
	}
	type membership struct {
		User   string
		Manual bool
	}
	if err := audit(ctx, tx, "remove_member", k.object, id, fmt.Sprintf("removed %s from %s", username, groupName),
		membership{username, cur[0].Manual}, nil); err != nil {
		return err
	}
	return touchUsers(tx, userID)
}
