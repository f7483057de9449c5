package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

// Apply lease timings: the holder renews the lease every leaseHeartbeat
// (and every batch renews it in its own transaction); a lease not renewed
// for leaseTTL belongs to a dead or cut-off process and may be taken over.
const (
	leaseTTL       = 60 * time.Second
	leaseHeartbeat = 10 * time.Second
)

// errRunInProgress is what a caller sees while another apply holds the lock.
func errRunInProgress() error {
	return model.Errorf(model.ECONFLICT, "A sync run is in progress. Try again when it has finished.")
}

// ErrLeaseLost is the cause wrapped by the error of a batch (or a check)
// whose run no longer holds the apply lease.
var ErrLeaseLost = errors.New("the apply lock was lost")

// ApplyLease is the held apply lock: the one row of apply_lease, taken with
// a new generation (a fencing token). The holder renews it in the
// background; every batch of its run proves, inside the batch's own
// transaction, that the generation is still its own and renews it there
// (see ApplyActions), so a run whose lease expired and was taken over can
// never commit another batch, whatever happened to its connections. The
// same holds on SQLite and PostgreSQL.
type ApplyLease struct {
	s      *Store
	holder string
	gen    int64
	ttl    time.Duration

	stop     context.CancelFunc
	finished chan struct{}
	once     sync.Once

	mu   sync.Mutex
	lost error
}

// TryApplyLock takes the apply lease (see AcquireApplyLease) for callers
// that only need "nobody applies now"; release frees it and is safe to call
// more than once.
func (s *Store) TryApplyLock(ctx context.Context) (release func(), err error) {
	l, err := s.AcquireApplyLease(ctx)
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// AcquireApplyLease takes the lock that lets one apply run at a time across
// every replica, without waiting: ECONFLICT "a sync run is in progress"
// while another live holder has it, another error when the database cannot
// be asked. A holder that stopped renewing for a minute (crashed, or cut off
// from the database) loses it to the next caller.
func (s *Store) AcquireApplyLease(ctx context.Context) (*ApplyLease, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("store: apply lock: %w", err)
	}
	l := &ApplyLease{s: s, holder: hex.EncodeToString(b[:]), ttl: leaseTTL}
	now := time.Now().UnixMilli()
	var gens []int64
	err := s.db.WithContext(ctx).Raw(`UPDATE apply_lease SET holder = ?, generation = generation + 1, run_id = 0, expires_at_ms = ?
		WHERE name = 'apply' AND (holder = '' OR expires_at_ms < ?) RETURNING generation`,
		l.holder, now+l.ttl.Milliseconds(), now).Scan(&gens).Error
	if err != nil {
		return nil, fmt.Errorf("store: apply lock: %w", err)
	}
	if len(gens) != 1 {
		return nil, errRunInProgress()
	}
	l.gen = gens[0]
	hctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	l.stop = stop
	l.finished = make(chan struct{})
	go l.heartbeat(hctx)
	return l, nil
}

// Generation returns the lease's fencing token.
func (l *ApplyLease) Generation() int64 { return l.gen }

// Err returns nil while the lease is held, and an error wrapping
// ErrLeaseLost once the heartbeat found it expired or taken over.
func (l *ApplyLease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

func (l *ApplyLease) setLost(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost == nil {
		l.lost = err
	}
}

func (l *ApplyLease) heartbeat(ctx context.Context) {
	defer close(l.finished)
	tick := time.NewTicker(leaseHeartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := l.renew(l.s.db.WithContext(ctx), 0); err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, ErrLeaseLost) {
				l.setLost(err)
				l.s.log.Error("apply lock lost", "err", err)
				return
			}
			l.s.log.Warn("apply lock: heartbeat failed; retrying", "err", err)
		}
	}
}

// renew extends the lease if it is still this holder's generation and not
// expired; db may be a batch's transaction. runID, when not 0, is recorded
// as the run applying under the lease.
func (l *ApplyLease) renew(db *gorm.DB, runID int64) error {
	now := time.Now().UnixMilli()
	q := "UPDATE apply_lease SET expires_at_ms = ? WHERE name = 'apply' AND holder = ? AND generation = ? AND expires_at_ms >= ?"
	args := []any{now + l.ttl.Milliseconds(), l.holder, l.gen, now}
	if runID != 0 {
		q = "UPDATE apply_lease SET expires_at_ms = ?, run_id = ? WHERE name = 'apply' AND holder = ? AND generation = ? AND expires_at_ms >= ?"
		args = []any{now + l.ttl.Milliseconds(), runID, l.holder, l.gen, now}
	}
	res := db.Exec(q, args...)
	if res.Error != nil {
		return fmt.Errorf("apply lock: renew: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("%w: it expired (not renewed for %s) or another run took it over", ErrLeaseLost, l.ttl)
	}
	return nil
}

// check is what a batch runs inside its transaction before it commits.
func (l *ApplyLease) check(tx *gorm.DB, runID int64) error {
	if err := l.Err(); err != nil {
		return err
	}
	if err := l.renew(tx, runID); err != nil {
		if errors.Is(err, ErrLeaseLost) {
			l.setLost(err)
		}
		return err
	}
	return nil
}

// Release frees the lease so that another apply can start at once. It is
// safe to call more than once and on a lost lease (which it leaves alone).
func (l *ApplyLease) Release() {
	l.once.Do(func() {
		l.stop()
		<-l.finished
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := l.s.db.WithContext(ctx).Exec("UPDATE apply_lease SET holder = '', run_id = 0, expires_at_ms = 0 WHERE name = 'apply' AND holder = ? AND generation = ?",
			l.holder, l.gen).Error
		if err != nil {
			l.s.log.Warn("apply lock: release failed; it expires by itself", "err", err)
		}
	})
}
