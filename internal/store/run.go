package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

// runRow is one row of runs.
type runRow struct {
	ID           int64 `gorm:"primaryKey"`
	Kind         string
	Trigger      string
	Actor        string
	SourceID     int64
	UserID       int64
	PreviewRunID int64
	Status       string
	Phase        string
	Done         int
	Total        int
	Counts       string
	Holds        string
	SnapshotHash string
	StateHash    string
	Error        string
	Log          string
	Baseline     string
	StartedAt    time.Time
	FinishedAt   *time.Time
	// HeartbeatAtMS is when the run's process last said it is alive.
	HeartbeatAtMS int64 `gorm:"column:heartbeat_at_ms"`
	PlanHash      string
	ReadMarker    string
}

func (runRow) TableName() string { return "runs" }

func (r *runRow) toModel() model.Run {
	m := model.Run{
		ID: r.ID, Kind: model.RunKind(r.Kind), Trigger: model.RunTrigger(r.Trigger), Actor: r.Actor,
		SourceID: r.SourceID, UserID: r.UserID, PreviewRunID: r.PreviewRunID,
		Status: model.RunStatus(r.Status), Phase: model.Phase(r.Phase), Done: r.Done, Total: r.Total,
		SnapshotHash: r.SnapshotHash, StateHash: r.StateHash, Error: r.Error, Log: r.Log,
		StartedAt: r.StartedAt.UTC(), PlanHash: r.PlanHash, ReadMarker: r.ReadMarker,
	}
	if r.HeartbeatAtMS > 0 {
		m.HeartbeatAt = time.UnixMilli(r.HeartbeatAtMS).UTC()
	}
	if r.FinishedAt != nil {
		m.FinishedAt = r.FinishedAt.UTC()
	}
	_ = json.Unmarshal([]byte(r.Counts), &m.Counts)
	_ = json.Unmarshal([]byte(r.Holds), &m.Holds)
	return m
}

func runFromModel(m *model.Run) *runRow {
	counts, _ := json.Marshal(m.Counts)
	if m.Counts == nil {
		counts = []byte("{}")
	}
	holds, _ := json.Marshal(m.Holds)
	if m.Holds == nil {
		holds = []byte("[]")
	}
	r := &runRow{
		ID: m.ID, Kind: string(m.Kind), Trigger: string(m.Trigger), Actor: m.Actor,
		SourceID: m.SourceID, UserID: m.UserID, PreviewRunID: m.PreviewRunID,
		Status: string(m.Status), Phase: string(m.Phase), Done: m.Done, Total: m.Total,
		Counts: string(counts), Holds: string(holds), SnapshotHash: m.SnapshotHash, StateHash: m.StateHash,
		Error: m.Error, Log: m.Log, StartedAt: m.StartedAt.UTC().Truncate(time.Microsecond),
		PlanHash: m.PlanHash, ReadMarker: m.ReadMarker,
	}
	if !m.FinishedAt.IsZero() {
		f := m.FinishedAt.UTC().Truncate(time.Microsecond)
		r.FinishedAt = &f
	}
	return r
}

// runItemRow is one row of run_items.
type runItemRow struct {
	RunID     int64 `gorm:"primaryKey"`
	Seq       int   `gorm:"primaryKey"`
	Phase     string
	Kind      string
	Performed bool
	UserID    int64
	Username  string
	Object    string
	OldValue  string
	NewValue  string
	Reason    string
	Outcome   string
}

func (runItemRow) TableName() string { return "run_items" }

func (r *runItemRow) toModel() model.RunItem {
	return model.RunItem{RunID: r.RunID, Seq: r.Seq, Phase: model.Phase(r.Phase), Kind: model.ActionKind(r.Kind),
		Performed: r.Performed, UserID: r.UserID, Username: r.Username, Object: r.Object,
		Old: r.OldValue, New: r.NewValue, Reason: r.Reason, Outcome: r.Outcome}
}

// CreateRun inserts r (status, kind, trigger… as given; StartedAt defaults
// to now) and sets r.ID.
func (s *Store) CreateRun(ctx context.Context, r *model.Run) error {
	if r.StartedAt.IsZero() {
		r.StartedAt = now()
	}
	row := runFromModel(r)
	row.ID = 0
	row.HeartbeatAtMS = r.StartedAt.UnixMilli()
	if err := s.db.WithContext(ctx).Create(row).Error; err != nil {
		return dbErr("store: create run", err)
	}
	r.ID = row.ID
	return nil
}

// UpdateRunProgress records a running run's phase and progress.
func (s *Store) UpdateRunProgress(ctx context.Context, id int64, phase model.Phase, done, total int) error {
	err := s.db.WithContext(ctx).Model(&runRow{}).Where("id = ?", id).
		Updates(map[string]any{"phase": string(phase), "done": done, "total": total}).Error
	return dbErr("store: run progress", err)
}

// SaveRun writes every field of r (status, counts, holds, hashes, error,
// log, progress, finish time) over its row. ENOTFOUND when r.ID is unknown.
func (s *Store) SaveRun(ctx context.Context, r *model.Run) error {
	row := runFromModel(r)
	row.Error = CleanText(row.Error, maxRunError)
	row.Log = CleanText(row.Log, 0)
	res := s.db.WithContext(ctx).Model(&runRow{}).Where("id = ?", r.ID).Select(
		"status", "phase", "done", "total", "counts", "holds", "snapshot_hash", "state_hash",
		"error", "log", "finished_at", "preview_run_id", "user_id", "plan_hash", "read_marker").Updates(row)
	if res.Error != nil {
		return dbErr("store: save run", res.Error)
	}
	if res.RowsAffected == 0 {
		return notFound("Run", r.ID)
	}
	return nil
}

// SetRunStatus changes only a run's status (e.g. a preview becoming stale).
func (s *Store) SetRunStatus(ctx context.Context, id int64, status model.RunStatus) error {
	err := s.db.WithContext(ctx).Model(&runRow{}).Where("id = ?", id).Update("status", string(status)).Error
	return dbErr("store: run status", err)
}

// TouchRuns records that the runs ids, still running, are alive: their
// process calls it every few seconds (see MarkInterruptedRuns).
func (s *Store) TouchRuns(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.db.WithContext(ctx).Exec("UPDATE runs SET heartbeat_at_ms = ? WHERE id IN ? AND status = ?",
		time.Now().UnixMilli(), ids, string(model.RunRunning)).Error
	return dbErr("store: touch runs", err)
}

// MarkInterruptedRuns marks runs still "running" whose process has not
// touched them (TouchRuns) since `before` as failed, interrupted: their
// process stopped, or lost the database for that long (SPEC: the next run
// converges). A run whose process is alive is touched and never marked.
func (s *Store) MarkInterruptedRuns(ctx context.Context, before time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Model(&runRow{}).
		Where("status = ? AND ((heartbeat_at_ms > 0 AND heartbeat_at_ms < ?) OR (heartbeat_at_ms = 0 AND started_at < ?))",
			string(model.RunRunning), before.UnixMilli(), before.UTC()).
		Updates(map[string]any{"status": string(model.RunFailed),
			"error":       fmt.Sprintf("The run was interrupted: its process stopped, or lost the database, while it ran (no sign of life for %s). Every batch it applied is complete; the next run converges.", time.Since(before).Round(time.Second)),
			"finished_at": now()})
	return res.RowsAffected, dbErr("store: mark interrupted runs", res.Error)
}

// GetRun returns run id, or ENOTFOUND.
func (s *Store) GetRun(ctx context.Context, id int64) (*model.Run, error) {
	var row runRow
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, notFound("Run", id)
	}
	if err != nil {
		return nil, dbErr("store: get run", err)
	}
	m := row.toModel()
	return &m, nil
}

// ListRuns returns one page of runs, newest first, and the total matching.
// The log column is left out of list results.
func (s *Store) ListRuns(ctx context.Context, f model.RunFilter) ([]model.Run, int, error) {
	q := f.ListQuery.Normalize()
	db := s.db.WithContext(ctx).Model(&runRow{})
	if f.Kind != "" {
		db = db.Where("kind = ?", string(f.Kind))
	}
	if f.Status != "" {
		db = db.Where("status = ?", string(f.Status))
	}
	if f.Trigger != "" {
		db = db.Where("trigger = ?", string(f.Trigger))
	}
	if f.SourceID != 0 {
		db = db.Where("source_id = ?", f.SourceID)
	}
	if !f.From.IsZero() {
		db = db.Where("started_at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		db = db.Where("started_at < ?", f.To.UTC())
	}
	if p := likePattern(q.Search); p != "" {
		db = db.Where(`(lower(actor) LIKE ? ESCAPE '\' OR lower(error) LIKE ? ESCAPE '\')`, p, p)
	}
	var total int64
	if err := db.Count(&total).Error; err != nil {
		return nil, 0, dbErr("store: list runs", err)
	}
	var rows []runRow
	err := db.Omit("log").Order("started_at DESC, id DESC").Limit(q.PerPage).Offset(q.Offset()).Find(&rows).Error
	if err != nil {
		return nil, 0, dbErr("store: list runs", err)
	}
	out := make([]model.Run, len(rows))
	for i := range rows {
		out[i] = rows[i].toModel()
	}
	return out, int(total), nil
}

// RunningRuns returns the runs whose status is running, newest first.
func (s *Store) RunningRuns(ctx context.Context) ([]model.Run, error) {
	runs, _, err := s.ListRuns(ctx, model.RunFilter{Status: model.RunRunning, ListQuery: model.ListQuery{PerPage: 100}})
	return runs, err
}

// insertRunItems writes items with multi-row INSERT statements through db
// (a transaction or the pool).
func insertRunItems(db *gorm.DB, items []model.RunItem) error {
	if len(items) == 0 {
		return nil
	}
	cleanItems(items)
	if db.Dialector.Name() == "postgres" {
		return pgInsertRunItems(db, items)
	}
	cols := []string{"run_id", "seq", "phase", "kind", "performed", "user_id", "username", "object", "old_value", "new_value", "reason", "outcome"}
	ph := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	head := "INSERT INTO run_items (" + strings.Join(cols, ", ") + ") VALUES "
	for _, chunk := range chunks(items, maxParams/len(cols)) {
		var sb strings.Builder
		sb.Grow(len(head) + len(chunk)*(len(ph)+1))
		sb.WriteString(head)
		args := make([]any, 0, len(chunk)*len(cols))
		for i := range chunk {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(ph)
			it := &chunk[i]
			args = append(args, it.RunID, it.Seq, string(it.Phase), string(it.Kind), it.Performed, it.UserID,
				it.Username, it.Object, it.Old, it.New, it.Reason, it.Outcome)
		}
		if err := db.Exec(sb.String(), args...).Error; err != nil {
			return fmt.Errorf("insert run items: %w", err)
		}
	}
	return nil
}

// pgInsertRunItems sends items as one array per column and unnests them
// on the server: a handful of parameters instead of twelve per row, which
// PostgreSQL plans and ingests far faster than a long VALUES list. It goes
// around gorm (which would expand the slices) on the same connection or
// transaction.
func pgInsertRunItems(db *gorm.DB, items []model.RunItem) error {
	const q = `INSERT INTO run_items (run_id, seq, phase, kind, performed, user_id, username, object, old_value, new_value, reason, outcome)
		SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::bool[], $6::bigint[],
			$7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])`
	ctx := db.Statement.Context
	if ctx == nil {
		ctx = context.Background()
	}
	for _, chunk := range chunks(items, 50000) {
		n := len(chunk)
		runIDs, users := make([]int64, n), make([]int64, n)
		seqs := make([]int32, n)
		perf := make([]bool, n)
		phase, kind, uname, obj, oldv, newv, reason, outcome := make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		for i := range chunk {
			it := &chunk[i]
			runIDs[i], seqs[i], phase[i], kind[i], perf[i], users[i] = it.RunID, int32(it.Seq), string(it.Phase), string(it.Kind), it.Performed, it.UserID
			uname[i], obj[i], oldv[i], newv[i], reason[i], outcome[i] = it.Username, it.Object, it.Old, it.New, it.Reason, it.Outcome
		}
		if _, err := db.Statement.ConnPool.ExecContext(ctx, q, runIDs, seqs, phase, kind, perf, users, uname, obj, oldv, newv, reason, outcome); err != nil {
			return fmt.Errorf("insert run items: %w", err)
		}
	}
	return nil
}

// AddRunItems stores a run's items (a preview's plan lines, a run's report),
// all or none.
func (s *Store) AddRunItems(ctx context.Context, items []model.RunItem) error {
	if len(items) == 0 {
		return nil
	}
	cleanItems(items)
	if s.dialect == DialectPostgres {
		return dbErr("store: add run items", s.copyRunItems(ctx, items))
	}
	return dbErr("store: add run items", s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return insertRunItems(tx, items)
	}))
}

// copyRunItems writes items with PostgreSQL's COPY on one pooled
// connection: one statement (all or none), rows streamed as they are
// encoded, about twice as fast as the multi-row INSERT for a large plan.
func (s *Store) copyRunItems(ctx context.Context, items []model.RunItem) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }() // returns the connection to the pool
	cols := []string{"run_id", "seq", "phase", "kind", "performed", "user_id", "username", "object", "old_value", "new_value", "reason", "outcome"}
	return conn.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("copy run items: unexpected driver connection %T", dc)
		}
		row := make([]any, len(cols))
		_, err := pc.Conn().CopyFrom(ctx, pgx.Identifier{"run_items"}, cols, pgx.CopyFromSlice(len(items), func(i int) ([]any, error) {
			it := &items[i]
			row[0], row[1], row[2], row[3], row[4], row[5] = it.RunID, int32(it.Seq), string(it.Phase), string(it.Kind), it.Performed, it.UserID
			row[6], row[7], row[8], row[9], row[10], row[11] = it.Username, it.Object, it.Old, it.New, it.Reason, it.Outcome
			return row, nil
		}))
		if err != nil {
			return fmt.Errorf("copy run items: %w", err)
		}
		return nil
	})
}

func (s *Store) runItemQuery(ctx context.Context, runID int64, f model.RunItemFilter) *gorm.DB {
	db := s.db.WithContext(ctx).Model(&runItemRow{}).Where("run_id = ?", runID)
	if f.Phase != "" {
		db = db.Where("phase = ?", string(f.Phase))
	}
	if f.Kind != "" {
		db = db.Where("kind = ?", string(f.Kind))
	}
	switch f.Performed {
	case "yes":
		db = db.Where("performed = ?", true)
	case "no":
		db = db.Where("performed = ?", false)
	}
	if f.Outcome == "failed" {
		db = db.Where("outcome LIKE ?", "failed%")
	}
	if f.UserID != 0 {
		db = db.Where("user_id = ?", f.UserID)
	}
	if p := likePattern(f.Search); p != "" {
		db = db.Where(`(lower(username) LIKE ? ESCAPE '\' OR lower(object) LIKE ? ESCAPE '\' OR lower(reason) LIKE ? ESCAPE '\' OR lower(new_value) LIKE ? ESCAPE '\')`, p, p, p, p)
	}
	return db
}

// ListRunItems returns one page of a run's items in plan order and the
// total matching f.
func (s *Store) ListRunItems(ctx context.Context, runID int64, f model.RunItemFilter) ([]model.RunItem, int, error) {
	q := f.ListQuery.Normalize()
	var total int64
	if err := s.runItemQuery(ctx, runID, f).Count(&total).Error; err != nil {
		return nil, 0, dbErr("store: list run items", err)
	}
	var rows []runItemRow
	if err := s.runItemQuery(ctx, runID, f).Order("seq").Limit(q.PerPage).Offset(q.Offset()).Find(&rows).Error; err != nil {
		return nil, 0, dbErr("store: list run items", err)
	}
	out := make([]model.RunItem, len(rows))
	for i := range rows {
		out[i] = rows[i].toModel()
	}
	return out, int(total), nil
}

// CountRunItems returns, for run runID, the number of items per
// "phase/kind/performed" key, e.g. "attributes/update_attribute/yes".
func (s *Store) CountRunItems(ctx context.Context, runID int64) (map[string]int, error) {
	var rows []struct {
		Phase     string
		Kind      string
		Performed bool
		N         int
	}
	err := s.db.WithContext(ctx).Model(&runItemRow{}).Select("phase, kind, performed, count(*) AS n").
		Where("run_id = ?", runID).Group("phase, kind, performed").Scan(&rows).Error
	if err != nil {
		return nil, dbErr("store: count run items", err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		p := "no"
		if r.Performed {
			p = "yes"
		}
		out[r.Phase+"/"+r.Kind+"/"+p] = r.N
	}
	return out, nil
}

// EachRunItem calls fn for every item of run runID in order, reading in
// pages so that a large report never sits in memory whole.
func (s *Store) EachRunItem(ctx context.Context, runID int64, fn func(model.RunItem) error) error {
	last := -1
	for {
		var rows []runItemRow
		err := s.db.WithContext(ctx).Where("run_id = ? AND seq > ?", runID, last).Order("seq").Limit(5000).Find(&rows).Error
		if err != nil {
			return dbErr("store: read run items", err)
		}
		for i := range rows {
			if err := fn(rows[i].toModel()); err != nil {
				return err
			}
		}
		if len(rows) < 5000 {
			return nil
		}
		last = rows[len(rows)-1].Seq
	}
}

// SaveRunBaseline stores the figures the next run's guard compares with
// (opaque JSON owned by the syncer) on a run that succeeded.
func (s *Store) SaveRunBaseline(ctx context.Context, runID int64, baseline []byte) error {
	err := s.db.WithContext(ctx).Model(&runRow{}).Where("id = ?", runID).Update("baseline", string(baseline)).Error
	return dbErr("store: save baseline", err)
}

// LastGoodBaseline returns the baseline of the newest succeeded run of
// source sourceID that recorded one, or nil when there is none.
func (s *Store) LastGoodBaseline(ctx context.Context, sourceID int64) ([]byte, error) {
	var rows []runRow
	err := s.db.WithContext(ctx).Select("id", "baseline").
		Where("source_id = ? AND status = ? AND baseline <> ''", sourceID, string(model.RunSucceeded)).
		Order("id DESC").Limit(1).Find(&rows).Error
	if err != nil {
		return nil, dbErr("store: last good run", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return []byte(rows[0].Baseline), nil
}

// PruneRuns deletes runs (with their items and plans) that started before
// `before` and are no longer running; it returns how many runs went.
func (s *Store) PruneRuns(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		sub := tx.Model(&runRow{}).Select("id").Where("started_at < ? AND status <> ?", before.UTC(), string(model.RunRunning))
		if err := tx.Where("run_id IN (?)", sub).Delete(&runItemRow{}).Error; err != nil {
			return err
		}
		if err := tx.Where("run_id IN (?)", sub).Delete(&runPlanRow{}).Error; err != nil {
			return err
		}
		res := tx.Where("started_at < ? AND status <> ?", before.UTC(), string(model.RunRunning)).Delete(&runRow{})
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, dbErr("store: prune runs", err)
	}
	return n, nil
}
