package store

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/faultinject"
	"github.com/idsync/idsync/internal/model"
)

// ApplyBatch is one slice of a plan applied in one transaction.
type ApplyBatch struct {
	RunID    int64
	SourceID int64 // source of the users the plan creates
	Seq      int   // run item seq of Actions[0]
	Actions  []model.Action
	// DeferDeliveries, for a run of several batches, queues the product
	// delivery of a user this batch changes (but did not create) in
	// run_deliveries instead of at once: a later batch may change them
	// again, and FlushRunDeliveries queues each once, after the run's
	// last change (one delivery per user per run). A user created here is
	// queued at once: the plan writes all of a new user in its create.
	DeferDeliveries bool
	// Progress written to the run row in the same transaction.
	Done, Total int
	// Lease is the apply lease the run holds: the batch commits only if it
	// is still held (checked and renewed inside the transaction). nil
	// (tests of the store alone) skips the check.
	Lease *ApplyLease
}

// maxParams keeps multi-row statements under SQLite's (32766) and
// PostgreSQL's (65535) bind-parameter limits.
const maxParams = 30000

// ApplyActions executes b.Actions in one transaction: all of them or none.
// Users the plan creates are identified by ExternalID; ids maps external id
// → user id and is filled with the users this batch creates, so later
// batches can resolve them. Side effects are those of console edits: one
// audit entry per user touched (actor from ctx, "sync" for runs), the user's
// version bumped once, the products' wanted versions raised. Enterprise
// group data is not propagated to devices here: the plan lists device
// updates explicitly. Each action gets a run item with outcome "ok", and the
// run row gets b.Done/b.Total, in the same transaction. On failure nothing
// of the batch is kept and the error says which action failed, when known.
func (s *Store) ApplyActions(ctx context.Context, b ApplyBatch, ids map[string]int64) error {
	if len(b.Actions) == 0 {
		return nil
	}
	created := map[string]int64{}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		a := &applier{tx: tx, ctx: ctx, b: b, ids: ids, created: created, dialect: s.dialect}
		// The proof comes first: it locks the lease row until this
		// transaction ends, so no take-over can slip in before the commit,
		// and a run that lost the lease is told so, not some later error.
		if b.Lease != nil {
			if err := b.Lease.check(tx, b.RunID); err != nil {
				return err
			}
		}
		if err := a.run(); err != nil {
			return err
		}
		faultinject.Hit(faultinject.ApplyBeforeCommit)
		return nil
	})
	if err != nil {
		return dbErr("store: apply batch", err)
	}
	faultinject.Hit(faultinject.ApplyAfterCommit)
	for k, v := range created {
		ids[k] = v
	}
	return nil
}

type applier struct {
	tx      *gorm.DB
	ctx     context.Context
	b       ApplyBatch
	ids     map[string]int64
	created map[string]int64
	dialect string
	attrs   *attrSet
	userIDs []int64 // resolved user id per action (0 = none)
}

func (a *applier) uid(i int) int64 {
	act := &a.b.Actions[i]
	if act.UserID != 0 {
		return act.UserID
	}
	if act.ExternalID == "" {
		return 0
	}
	if id, ok := a.created[act.ExternalID]; ok {
		return id
	}
	return a.ids[act.ExternalID]
}

func (a *applier) run() error {
	var err error
	if a.attrs, err = loadAttrs(a.tx); err != nil {
		return err
	}
	byKind := map[model.ActionKind][]int{}
	for i := range a.b.Actions {
		if a.b.Actions[i].AtCreate {
			continue // written with its create_user (model.Action.AtCreation)
		}
		k := a.b.Actions[i].Kind
		byKind[k] = append(byKind[k], i)
	}
	// Creates first, so every later action can resolve the new ids.
	if err := a.createUsers(byKind[model.ActCreateUser]); err != nil {
		return err
	}
	a.userIDs = make([]int64, len(a.b.Actions))
	for i := range a.b.Actions {
		a.userIDs[i] = a.uid(i)
		k := a.b.Actions[i].Kind
		if a.userIDs[i] == 0 && k != model.ActUpdateDevice && k != model.ActNotifyProduct {
			act := a.b.Actions[i]
			return fmt.Errorf("%s %q: the user does not exist", act.Kind, act.Username)
		}
	}
	steps := []struct {
		kind model.ActionKind
		fn   func([]int) error
	}{
		{model.ActUpdateUser, a.updateUsers},
		{model.ActEnableUser, func(ix []int) error { return a.setStatus(ix, model.StatusActive, false) }},
		{model.ActUpdateAttribute, a.updateAttributes},
		{model.ActUpdateUserFromDev, a.updateAttributes},
		{model.ActDisableUser, func(ix []int) error { return a.setStatus(ix, model.StatusDisabled, true) }},
		{model.ActRemoveServiceGroup, func(ix []int) error { return a.removeMembers("service_group_members", "service_group_id", ix) }},
		{model.ActAddServiceGroup, func(ix []int) error { return a.addMembers("service_group_members", "service_group_id", ix) }},
		{model.ActRemoveProfile, func(ix []int) error { return a.removeMembers("profile_members", "profile_id", ix) }},
		{model.ActAddProfile, func(ix []int) error { return a.addMembers("profile_members", "profile_id", ix) }},
		{model.ActUpdateDevice, a.updateDevices},
	}
	for _, st := range steps {
		if ix := byKind[st.kind]; len(ix) > 0 {
			if err := st.fn(ix); err != nil {
				return fmt.Errorf("%s: %w", st.kind, err)
			}
		}
	}
	// Version bump and product delivery for every user changed but not deleted.
	deleted := map[int64]bool{}
	var delIDs []int64
	for _, i := range byKind[model.ActDeleteUser] {
		if id := a.userIDs[i]; !deleted[id] {
			deleted[id] = true
			delIDs = append(delIDs, id)
		}
	}
	touched := map[int64]bool{}
	var changed []int64
	for i, id := range a.userIDs {
		k := a.b.Actions[i].Kind
		if id == 0 || deleted[id] || touched[id] || k == model.ActNotifyProduct || a.b.Actions[i].AtCreate {
			continue
		}
		touched[id] = true
		if k == model.ActCreateUser {
			continue // created at version 1
		}
		changed = append(changed, id)
	}
	ts := now()
	for _, chunk := range chunks(changed, 1000) {
		if err := a.tx.Exec("UPDATE users SET version = version + 1, updated_at = ? WHERE id IN ?", ts, chunk).Error; err != nil {
			return fmt.Errorf("bump versions: %w", err)
		}
	}
	var notify []int64
	for id := range touched {
		notify = append(notify, id)
	}
	sort.Slice(notify, func(i, j int) bool { return notify[i] < notify[j] })
	// Without an enabled product there is nothing to deliver, and raising
	// wanted versions would cost a join per batch for nothing.
	var products int64
	if err := a.tx.Raw("SELECT count(*) FROM products WHERE enabled").Scan(&products).Error; err != nil {
		return fmt.Errorf("count products: %w", err)
	}
	if products > 0 {
		if a.b.DeferDeliveries {
			now, later := a.splitDeliveries(notify)
			if err := bumpProductVersions(a.tx, now, false); err != nil {
				return err
			}
			rows := make([][]any, 0, len(later))
			for _, id := range later {
				rows = append(rows, []any{a.b.RunID, id})
			}
			if err := a.insertRows("run_deliveries", []string{"run_id", "user_id"}, rows, "ON CONFLICT DO NOTHING"); err != nil {
				return err
			}
		} else if err := bumpProductVersions(a.tx, notify, false); err != nil {
			return err
		}
	}
	if len(delIDs) > 0 {
		if err := bumpProductVersions(a.tx, delIDs, true); err != nil {
			return err
		}
		for _, chunk := range chunks(delIDs, 1000) {
			if err := a.tx.Exec("DELETE FROM users WHERE id IN ?", chunk).Error; err != nil {
				return fmt.Errorf("delete users: %w", err)
			}
		}
	}
	if err := a.writeItemsAndAudit(); err != nil {
		return err
	}
	return a.tx.Exec("UPDATE runs SET done = ?, total = ?, phase = ? WHERE id = ?",
		a.b.Done, a.b.Total, string(a.b.Actions[len(a.b.Actions)-1].Phase), a.b.RunID).Error
}

// splitDeliveries splits the users to deliver into those this batch
// created (queued now) and the others (queued at the run's end).
func (a *applier) splitDeliveries(ids []int64) (now, later []int64) {
	created := make(map[int64]bool, len(a.created))
	for _, id := range a.created {
		created[id] = true
	}
	for _, id := range ids {
		if created[id] {
			now = append(now, id)
		} else {
			later = append(later, id)
		}
	}
	return now, later
}

// FlushRunDeliveries queues the product deliveries that run runID deferred
// (ApplyBatch.DeferDeliveries), each user once, and forgets them; with
// others true, those of every run but runID instead: called under the
// apply lease, they are what a killed run left. It works in chunks, one
// transaction each, so that a failure loses nothing: what is left is
// flushed by the next call.
func (s *Store) FlushRunDeliveries(ctx context.Context, runID int64, others bool) (int, error) {
	cond := "run_id = ?"
	if others {
		cond = "run_id <> ?"
	}
	total := 0
	for {
		var ids []int64
		err := s.db.WithContext(ctx).Raw("SELECT DISTINCT user_id FROM run_deliveries WHERE "+cond+" ORDER BY user_id LIMIT 5000", runID).Scan(&ids).Error
		if err != nil {
			return total, dbErr("store: flush deliveries", err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := bumpProductVersions(tx, ids, false); err != nil {
				return err
			}
			return tx.Exec("DELETE FROM run_deliveries WHERE "+cond+" AND user_id IN ?", runID, ids).Error
		})
		if err != nil {
			return total, dbErr("store: flush deliveries", err)
		}
		total += len(ids)
	}
}

func chunks[T any](s []T, n int) [][]T {
	var out [][]T
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	if len(s) > 0 {
		out = append(out, s)
	}
	return out
}

// insertRows writes rows with multi-row INSERT statements; suffix follows
// the VALUES list (ON CONFLICT …).
func (a *applier) insertRows(table string, cols []string, rows [][]any, suffix string) error {
	if len(rows) == 0 {
		return nil
	}
	per := maxParams / len(cols)
	ph := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	for _, chunk := range chunks(rows, per) {
		var sb strings.Builder
		sb.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ")
		args := make([]any, 0, len(chunk)*len(cols))
		for i, r := range chunk {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(ph)
			args = append(args, r...)
		}
		sb.WriteString(" " + suffix)
		if err := a.tx.Exec(sb.String(), args...).Error; err != nil {
			return fmt.Errorf("insert %s: %w", table, err)
		}
	}
	return nil
}

func (a *applier) createUsers(ix []int) error {
	if len(ix) == 0 {
		return nil
	}
	ts := now()
	cols := []string{"username", "username_key", "email", "email_key", "display_name", "search", "status", "origin",
		"account_type", "source_id", "external_id", "dn", "disabled_by_sync", "version", "created_at", "updated_at"}
	per := maxParams / len(cols)
	ph := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	for _, chunk := range chunks(ix, per) {
		var sb strings.Builder
		sb.WriteString("INSERT INTO users (" + strings.Join(cols, ", ") + ") VALUES ")
		args := make([]any, 0, len(chunk)*len(cols))
		for n, i := range chunk {
			act := &a.b.Actions[i]
			u := act.User
			if u == nil {
				return fmt.Errorf("create_user %q: the plan carries no user", act.Username)
			}
			ext := u.ExternalID
			if ext == "" {
				ext = act.ExternalID
			}
			if ext == "" {
				return fmt.Errorf("create_user %q: no external id", u.Username)
			}
			src := u.SourceID
			if src == 0 {
				src = a.b.SourceID
			}
			status := u.Status
			if status == "" {
				status = model.StatusActive
			}
			acct := u.AccountType
			if acct == "" {
				acct = model.AccountDeviceEnabled
			}
			if n > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(ph)
			// The syncer cleans directory values before planning; cleaning
			// here again only guards the database (see CleanText).
			name, email, display := CleanText(u.Username, 0), CleanText(u.Email, 0), CleanText(u.DisplayName, 0)
			args = append(args, name, strings.ToLower(name), email, strings.ToLower(email), display,
				searchText(name, email, display), string(status), string(model.OriginDirectory),
				string(acct), src, CleanText(ext, 0), CleanText(u.DN, 0), u.DisabledBySync, 1, ts, ts)
		}
		sb.WriteString(" RETURNING id, external_id")
		rows, err := a.tx.Raw(sb.String(), args...).Rows()
		if err != nil {
			return fmt.Errorf("create users: %w", err)
		}
		for rows.Next() {
			var id int64
			var ext string
			if err := rows.Scan(&id, &ext); err != nil {
				_ = rows.Close()
				return fmt.Errorf("create users: %w", err)
			}
			a.created[ext] = id
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("create users: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("create users: %w", err)
		}
	}
	var vals [][]any
	for _, i := range ix {
		u := a.b.Actions[i].User
		ext := u.ExternalID
		if ext == "" {
			ext = a.b.Actions[i].ExternalID
		}
		id := a.created[ext]
		if id == 0 {
			return fmt.Errorf("create_user %q: no id returned", u.Username)
		}
		keys := make([]string, 0, len(u.Attributes))
		for k := range u.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := CleanText(strings.TrimSpace(u.Attributes[k]), 0)
			def, ok := a.attrs.byKey[k]
			if v == "" || !ok {
				continue
			}
			vals = append(vals, []any{id, def.ID, v})
		}
	}
	if err := a.insertRows("user_attribute_values", []string{"user_id", "attribute_id", "value"}, vals, ""); err != nil {
		return err
	}
	// What is decided at creation only goes in with the create.
	var sgs, profs [][]any
	for _, i := range ix {
		act := &a.b.Actions[i]
		id := a.created[newUserExt(act)]
		for _, pl := range act.AtCreation {
			row := []any{pl.GroupID, id, false, ts}
			switch pl.Kind {
			case model.ActAddServiceGroup:
				sgs = append(sgs, row)
			case model.ActAddProfile:
				profs = append(profs, row)
			default:
				return fmt.Errorf("create_user %q: cannot place the new user by %s", act.Username, pl.Kind)
			}
		}
	}
	if err := a.insertRows("service_group_members", []string{"service_group_id", "user_id", "manual", "created_at"}, sgs, "ON CONFLICT DO NOTHING"); err != nil {
		return err
	}
	return a.insertRows("profile_members", []string{"profile_id", "user_id", "manual", "created_at"}, profs, "ON CONFLICT DO NOTHING")
}

// newUserExt is the external id of the user create_user act creates.
func newUserExt(act *model.Action) string {
	if act.User != nil && act.User.ExternalID != "" {
		return act.User.ExternalID
	}
	return act.ExternalID
}

func (a *applier) updateUsers(ix []int) error {
	ts := now()
	for _, i := range ix {
		u := a.b.Actions[i].User
		if u == nil {
			return fmt.Errorf("user %q: the plan carries no new values", a.b.Actions[i].Username)
		}
		name, email, display := CleanText(u.Username, 0), CleanText(u.Email, 0), CleanText(u.DisplayName, 0)
		err := a.tx.Exec(`UPDATE users SET username = ?, username_key = ?, email = ?, email_key = ?, display_name = ?,
			dn = ?, search = ?, updated_at = ? WHERE id = ?`,
			name, strings.ToLower(name), email, strings.ToLower(email), display, CleanText(u.DN, 0),
			searchText(name, email, display), ts, a.userIDs[i]).Error
		if err != nil {
			return fmt.Errorf("user %q: %w", u.Username, err)
		}
	}
	return nil
}

func (a *applier) setStatus(ix []int, st model.UserStatus, bySync bool) error {
	ids := make([]int64, 0, len(ix))
	for _, i := range ix {
		ids = append(ids, a.userIDs[i])
	}
	for _, chunk := range chunks(ids, 1000) {
		if err := a.tx.Exec("UPDATE users SET status = ?, disabled_by_sync = ? WHERE id IN ?", string(st), bySync, chunk).Error; err != nil {
			return err
		}
	}
	return nil
}

// updateAttributes sets (upsert) or clears (delete) user attribute values.
func (a *applier) updateAttributes(ix []int) error {
	var sets [][]any
	clears := map[int64][]int64{} // attribute id → user ids
	for _, i := range ix {
		act := &a.b.Actions[i]
		def, ok := a.attrs.byKey[act.Attribute]
		if !ok {
			return fmt.Errorf("user %q: attribute %q no longer exists", act.Username, act.Attribute)
		}
		if v := CleanText(strings.TrimSpace(act.New), 0); v != "" {
			sets = append(sets, []any{a.userIDs[i], def.ID, v})
		} else {
			clears[def.ID] = append(clears[def.ID], a.userIDs[i])
		}
	}
	if err := a.insertRows("user_attribute_values", []string{"user_id", "attribute_id", "value"}, sets,
		"ON CONFLICT (user_id, attribute_id) DO UPDATE SET value = excluded.value"); err != nil {
		return err
	}
	for attr, ids := range clears {
		for _, chunk := range chunks(ids, 1000) {
			if err := a.tx.Exec("DELETE FROM user_attribute_values WHERE attribute_id = ? AND user_id IN ?", attr, chunk).Error; err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *applier) addMembers(table, groupCol string, ix []int) error {
	ts := now()
	rows := make([][]any, 0, len(ix))
	for _, i := range ix {
		rows = append(rows, []any{a.b.Actions[i].GroupID, a.userIDs[i], false, ts})
	}
	return a.insertRows(table, []string{groupCol, "user_id", "manual", "created_at"}, rows, "ON CONFLICT DO NOTHING")
}

// removeMembers removes synced memberships; a member an admin added by hand
// in the meantime stays (SPEC §5).
func (a *applier) removeMembers(table, groupCol string, ix []int) error {
	byGroup := map[int64][]int64{}
	for _, i := range ix {
		g := a.b.Actions[i].GroupID
		byGroup[g] = append(byGroup[g], a.userIDs[i])
	}
	for g, ids := range byGroup {
		for _, chunk := range chunks(ids, 1000) {
			err := a.tx.Exec("DELETE FROM "+table+" WHERE "+groupCol+" = ? AND manual = ? AND user_id IN ?", g, false, chunk).Error
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *applier) updateDevices(ix []int) error {
	var sets [][]any
	clears := map[int64][]int64{}
	seen := map[int64]bool{}
	var devs []int64
	for _, i := range ix {
		act := &a.b.Actions[i]
		def, ok := a.attrs.byKey[act.Attribute]
		if !ok {
			return fmt.Errorf("device %d: attribute %q no longer exists", act.DeviceID, act.Attribute)
		}
		if v := CleanText(strings.TrimSpace(act.New), 0); v != "" {
			sets = append(sets, []any{act.DeviceID, def.ID, v})
		} else {
			clears[def.ID] = append(clears[def.ID], act.DeviceID)
		}
		if !seen[act.DeviceID] {
			seen[act.DeviceID] = true
			devs = append(devs, act.DeviceID)
		}
	}
	if err := a.insertRows("device_attribute_values", []string{"device_id", "attribute_id", "value"}, sets,
		"ON CONFLICT (device_id, attribute_id) DO UPDATE SET value = excluded.value"); err != nil {
		return err
	}
	for attr, ids := range clears {
		for _, chunk := range chunks(ids, 1000) {
			if err := a.tx.Exec("DELETE FROM device_attribute_values WHERE attribute_id = ? AND device_id IN ?", attr, chunk).Error; err != nil {
				return err
			}
		}
	}
	ts := now()
	for _, chunk := range chunks(devs, 1000) {
		if err := a.tx.Exec("UPDATE devices SET updated_at = ? WHERE id IN ?", ts, chunk).Error; err != nil {
			return err
		}
	}
	return nil
}

// ItemFromAction renders action or skip data as a run item.
func ItemFromAction(runID int64, seq int, act *model.Action, userID int64, outcome string) model.RunItem {
	it := model.RunItem{RunID: runID, Seq: seq, Phase: act.Phase, Kind: act.Kind, Performed: true,
		UserID: userID, Username: act.Username, Old: act.Old, New: act.New, Reason: act.Reason, Outcome: outcome}
	switch {
	case act.GroupName != "":
		it.Object = act.GroupName
	case act.DeviceID != 0:
		it.Object = fmt.Sprintf("device %d", act.DeviceID)
		if act.Attribute != "" {
			it.Object += " · " + act.Attribute
		}
	case act.Attribute != "":
		it.Object = act.Attribute
	}
	if act.Kind == model.ActCreateUser && act.User != nil && it.New == "" {
		it.New = string(act.User.AccountType)
	}
	return it
}

// writeItemsAndAudit records each action's outcome and one audit entry per
// user touched (and one per device), summarising what sync did to them.
func (a *applier) writeItemsAndAudit() error {
	items := make([]model.RunItem, len(a.b.Actions))
	type entry struct {
		objType string
		id      int64
		name    string
		action  string
		parts   []string
	}
	var order []string
	entries := map[string]*entry{}
	actor := model.ActorFrom(a.ctx)
	for i := range a.b.Actions {
		act := &a.b.Actions[i]
		items[i] = ItemFromAction(a.b.RunID, a.b.Seq+i, act, a.userIDs[i], "ok")
		if act.Kind == model.ActNotifyProduct || act.AtCreate {
			continue // an AtCreate placement is audited with its create_user
		}
		objType, id, name := "user", a.userIDs[i], act.Username
		if act.Kind == model.ActUpdateDevice {
			objType, id, name = "device", act.DeviceID, fmt.Sprintf("device %d", act.DeviceID)
		}
		key := fmt.Sprintf("%s/%d", objType, id)
		e := entries[key]
		if e == nil {
			e = &entry{objType: objType, id: id, name: name, action: "sync"}
			entries[key] = e
			order = append(order, key)
		}
		switch act.Kind {
		case model.ActCreateUser:
			e.action = "create"
		case model.ActDeleteUser:
			e.action = "delete"
		}
		part := string(act.Kind)
		if items[i].Object != "" {
			part += " " + items[i].Object
		}
		if act.Old != "" || act.New != "" {
			part += fmt.Sprintf(" %q → %q", act.Old, act.New)
		}
		e.parts = append(e.parts, part)
		for _, pl := range act.AtCreation {
			e.parts = append(e.parts, string(pl.Kind)+" "+pl.GroupName)
		}
	}
	if err := insertRunItems(a.tx, items); err != nil {
		return fmt.Errorf("run items: %w", err)
	}
	rows := make([][]any, 0, len(order))
	at := now()
	for _, k := range order {
		e := entries[k]
		summary := fmt.Sprintf("Sync run #%d: %s", a.b.RunID, strings.Join(e.parts, "; "))
		// Cut on a character boundary: PostgreSQL refuses a split one.
		if len(summary) > maxAuditSummary {
			summary = CleanText(summary, maxAuditSummary) + "…"
		} else {
			summary = CleanText(summary, 0)
		}
		rows = append(rows, []any{at, actor, e.action, e.objType, e.id, summary, "", "",
			strings.ToLower(actor + "\n" + e.action + "\n" + e.objType + "\n" + e.name + "\n" + summary)})
	}
	return a.insertRows("audit_log", []string{"at", "actor", "action", "object_type", "object_id", "summary", "before_json", "after_json", "search"}, rows, "")
}
