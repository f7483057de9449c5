package store

import (
	"context"
	"crypto/rand"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

// applyLockKey is the PostgreSQL advisory lock key that guards applies
// ("idsync" + 1). Every replica uses the same constant.
const applyLockKey int64 = 0x6964_7379_6e63_01

// Lock row timings on SQLite: a holder renews its row every
// lockHeartbeat; a row not renewed for lockTTL belongs to a dead process.
const (
	lockTTL       = 60 * time.Second
	lockHeartbeat = 15 * time.Second
)

// errRunInProgress is what a caller sees while another apply holds the lock.
func errRunInProgress() error {
	return model.Errorf(model.ECONFLICT, "A sync run is in progress. Try again when it has finished.")
}

// TryApplyLock takes the lock that lets one apply run at a time across every
// replica: a PostgreSQL advisory lock held on a dedicated connection, or on
// SQLite a lock row renewed by a heartbeat until released (a crashed holder's
// row expires after a minute). It does not wait: when another run holds the
// lock it returns ECONFLICT "a sync run is in progress". release frees the
// lock and is safe to call more than once.
func (s *Store) TryApplyLock(ctx context.Context) (release func(), err error) {
	if s.dialect == DialectPostgres {
		return s.tryAdvisoryLock(ctx)
	}
	return s.tryLockRow(ctx)
}

func (s *Store) tryAdvisoryLock(ctx context.Context) (func(), error) {
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, fmt.Errorf("store: apply lock: %w", err)
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: apply lock: connect: %w", err)
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", applyLockKey).Scan(&ok); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("store: apply lock: %w", err)
	}
	if !ok {
		_ = conn.Close()
		return nil, errRunInProgress()
	}
	var done bool
	return func() {
		if done {
			return
		}
		done = true
		// The run's context may be cancelled already; unlocking must not be.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(uctx, "SELECT pg_advisory_unlock($1)", applyLockKey); err != nil {
			s.log.Warn("apply lock: unlock failed; closing the connection frees it", "err", err)
			_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // discard the connection
		}
		_ = conn.Close()
	}, nil
}

// lockTime is the time written to and compared with sync_lock.expires_at,
// whole seconds so that SQLite's text comparison orders it correctly.
func lockTime(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

func (s *Store) tryLockRow(ctx context.Context) (func(), error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("store: apply lock: %w", err)
	}
	holder := hex.EncodeToString(b[:])
	t := lockTime(time.Now())
	var got int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("DELETE FROM sync_lock WHERE name = ? AND expires_at < ?", "apply", t).Error; err != nil {
			return err
		}
		res := tx.Exec("INSERT INTO sync_lock (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
			"apply", holder, t.Add(lockTTL))
		got = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return nil, fmt.Errorf("store: apply lock: %w", err)
	}
	if got != 1 {
		return nil, errRunInProgress()
	}
	hctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(lockHeartbeat)
		defer tick.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-tick.C:
				err := s.db.WithContext(hctx).Exec("UPDATE sync_lock SET expires_at = ? WHERE name = ? AND holder = ?",
					lockTime(time.Now()).Add(lockTTL), "apply", holder).Error
				if err != nil && hctx.Err() == nil {
					s.log.Warn("apply lock: heartbeat failed", "err", err)
				}
			}
		}
	}()
	var done bool
	return func() {
		if done {
			return
		}
		done = true
		stop()
		<-finished
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := s.db.WithContext(uctx).Exec("DELETE FROM sync_lock WHERE name = ? AND holder = ?", "apply", holder).Error; err != nil {
			s.log.Warn("apply lock: release failed; the row expires by itself", "err", err)
		}
	}, nil
}
