package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/idsync/idsync/internal/model"
)

// Lease is held leadership of one named role (the scheduler). On
// PostgreSQL it is a session advisory lock on a dedicated connection: a lost
// connection is lost leadership. On SQLite it is a row in scheduler_lease
// with an expiry the holder renews; a crashed holder's row expires after
// the TTL. A Lease is used by one goroutine.
type Lease struct {
	s      *Store
	name   string
	holder string
	ttl    time.Duration
	key    int64
	conn   *sql.Conn // PostgreSQL only
}

// LeaseAdvisoryKey returns the PostgreSQL advisory lock key of the named
// lease, to find its holder in pg_locks.
func LeaseAdvisoryKey(name string) int64 { return leaseKey(name) }

// leaseKey maps a lease name to a PostgreSQL advisory lock key, in a range
// apart from the apply lock's constant.
func leaseKey(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("idsync-lease:" + name))
	return int64(h.Sum64() &^ (1 << 63))
}

// ErrLeaseHeld is returned by TryLease when another process holds the lease.
var ErrLeaseHeld = errors.New("store: the lease is held by another process")

// TryLease tries, without waiting, to become the holder of the named lease.
// holder identifies this process (unique per replica); ttl is how long a
// SQLite lease lasts without Renew (ignored on PostgreSQL). It returns
// ErrLeaseHeld when another process holds the lease, and another error when
// the database cannot be asked.
func (s *Store) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (*Lease, error) {
	l := &Lease{s: s, name: name, holder: holder, ttl: ttl, key: leaseKey(name)}
	if s.dialect == DialectPostgres {
		sqlDB, err := s.db.DB()
		if err != nil {
			return nil, fmt.Errorf("store: lease %s: %w", name, err)
		}
		conn, err := sqlDB.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("store: lease %s: connect: %w", name, err)
		}
		var ok bool
		if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", l.key).Scan(&ok); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("store: lease %s: %w", name, err)
		}
		if !ok {
			_ = conn.Close()
			return nil, ErrLeaseHeld
		}
		l.conn = conn
		return l, nil
	}
	now := time.Now()
	res := s.db.WithContext(ctx).Exec(`INSERT INTO scheduler_lease (name, holder, expires_at_ms) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at_ms = excluded.expires_at_ms
WHERE scheduler_lease.expires_at_ms < ? OR scheduler_lease.holder = excluded.holder`,
		name, holder, now.Add(ttl).UnixMilli(), now.UnixMilli())
	if res.Error != nil {
		return nil, fmt.Errorf("store: lease %s: %w", name, res.Error)
	}
	if res.RowsAffected != 1 {
		return nil, ErrLeaseHeld
	}
	return l, nil
}

// Renew confirms the lease is still held and, on SQLite, extends it by the
// TTL. It returns an error when leadership is lost (connection gone, row
// taken over) or cannot be confirmed; the caller must then stop acting as
// leader and Release.
func (l *Lease) Renew(ctx context.Context) error {
	if l.conn != nil {
		var n int
		err := l.conn.QueryRowContext(ctx, `SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
  AND classid = $1 AND objid = $2 AND objsubid = 1`,
			uint32(uint64(l.key)>>32), uint32(uint64(l.key))).Scan(&n)
		if err != nil {
			return fmt.Errorf("store: lease %s: heartbeat: %w", l.name, err)
		}
		if n == 0 {
			return fmt.Errorf("store: lease %s: lock no longer held", l.name)
		}
		return nil
	}
	now := time.Now()
	res := l.s.db.WithContext(ctx).Exec("UPDATE scheduler_lease SET expires_at_ms = ? WHERE name = ? AND holder = ? AND expires_at_ms >= ?",
		now.Add(l.ttl).UnixMilli(), l.name, l.holder, now.UnixMilli())
	if res.Error != nil {
		return fmt.Errorf("store: lease %s: renew: %w", l.name, res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("store: lease %s: expired or taken over", l.name)
	}
	return nil
}

// Release gives the lease up so another replica can take over at once. It
// is safe to call on a lost lease and more than once.
func (l *Lease) Release(ctx context.Context) error {
	if l == nil || l.s == nil {
		return nil
	}
	defer func() { l.s = nil }()
	if l.conn != nil {
		_, err := l.conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", l.key)
		if err != nil {
			// Closing a broken connection ends its session, and the lock with it.
			_ = l.conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		cerr := l.conn.Close()
		l.conn = nil
		if err != nil {
			return fmt.Errorf("store: lease %s: release: %w", l.name, err)
		}
		if cerr != nil && !errors.Is(cerr, sql.ErrConnDone) {
			return fmt.Errorf("store: lease %s: release: %w", l.name, cerr)
		}
		return nil
	}
	if err := l.s.db.WithContext(ctx).Exec("DELETE FROM scheduler_lease WHERE name = ? AND holder = ?", l.name, l.holder).Error; err != nil {
		return fmt.Errorf("store: lease %s: release: %w", l.name, err)
	}
	return nil
}

// scheduleStateRow is the single row of scheduler_state.
type scheduleStateRow struct {
	ID                int64 `gorm:"primaryKey"`
	LastRunAt         *time.Time
	LastRunFinishedAt *time.Time
	LastRunIDs        string `gorm:"column:last_run_ids"`
	LastStatus        string
	LastError         string
	LastTrigger       string
	LastPrunedAt      *time.Time
}

func (scheduleStateRow) TableName() string { return "scheduler_state" }

func timeOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

// ScheduleState returns what the scheduler recorded about the last refresh.
func (s *Store) ScheduleState(ctx context.Context) (model.ScheduleState, error) {
	var r scheduleStateRow
	if err := s.db.WithContext(ctx).Where("id = 1").Take(&r).Error; err != nil {
		return model.ScheduleState{}, fmt.Errorf("store: schedule state: %w", err)
	}
	st := model.ScheduleState{
		LastRunAt:         timeOrZero(r.LastRunAt),
		LastRunFinishedAt: timeOrZero(r.LastRunFinishedAt),
		LastStatus:        model.RunStatus(r.LastStatus),
		LastError:         r.LastError,
		LastTrigger:       model.RunTrigger(r.LastTrigger),
		LastPrunedAt:      timeOrZero(r.LastPrunedAt),
	}
	for _, f := range strings.Fields(r.LastRunIDs) {
		if id, err := strconv.ParseInt(f, 10, 64); err == nil {
			st.LastRunIDs = append(st.LastRunIDs, id)
		}
	}
	return st, nil
}

// SaveScheduleState records the last refresh: every field of st except
// LastPrunedAt (see SaveSchedulePruned), so the two never overwrite each
// other.
func (s *Store) SaveScheduleState(ctx context.Context, st model.ScheduleState) error {
	ids := make([]string, len(st.LastRunIDs))
	for i, id := range st.LastRunIDs {
		ids[i] = strconv.FormatInt(id, 10)
	}
	err := s.db.WithContext(ctx).Model(&scheduleStateRow{}).Where("id = 1").Updates(map[string]any{
		"last_run_at":          timeOrNil(st.LastRunAt),
		"last_run_finished_at": timeOrNil(st.LastRunFinishedAt),
		"last_run_ids":         strings.Join(ids, " "),
		"last_status":          string(st.LastStatus),
		"last_error":           st.LastError,
		"last_trigger":         string(st.LastTrigger),
	}).Error
	if err != nil {
		return fmt.Errorf("store: save schedule state: %w", err)
	}
	return nil
}

// SaveSchedulePruned records when run retention last pruned old runs.
func (s *Store) SaveSchedulePruned(ctx context.Context, at time.Time) error {
	err := s.db.WithContext(ctx).Model(&scheduleStateRow{}).Where("id = 1").Update("last_pruned_at", timeOrNil(at)).Error
	if err != nil {
		return fmt.Errorf("store: save schedule pruned: %w", err)
	}
	return nil
}
