// Package store keeps idsync's data in PostgreSQL or SQLite through gorm.
// One *Store implements every service interface of internal/model; row
// structs stay unexported, one file per entity. Every mutation writes its
// audit entry in the same transaction.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3/gormlite"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/idsync/idsync/internal/secret"
	"github.com/idsync/idsync/migrations"
)

// Dialect names returned by (*Store).Dialect.
const (
	DialectPostgres = "postgres"
	DialectSQLite   = "sqlite"
)

// Options configures Open.
type Options struct {
	// SecretKey seals secrets at rest (bind passwords, product tokens):
	// secret.KeySize bytes.
	SecretKey []byte
	Logger    *slog.Logger
}

// Store is the database. It is safe for concurrent use.
type Store struct {
	db      *gorm.DB
	box     *secret.Box
	log     *slog.Logger
	dialect string
	// inTx is set on the Store handed to a Tx callback.
	inTx bool
}

// Open connects to the database named by dsn: "sqlite:PATH" (the parent
// directory is created) or "postgres://…". It does not migrate. It fails on
// an unknown DSN scheme, a bad secret key or an unreachable database.
func Open(ctx context.Context, dsn string, o Options) (*Store, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	box, err := secret.NewBox(o.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	cfg := &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	}
	s := &Store{box: box, log: log}
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
		if path == "" {
			return nil, errors.New("store: open: sqlite DSN without a path (want sqlite:PATH)")
		}
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("store: open: create %s: %w", dir, err)
			}
		}
		if err := createPrivate(path, log); err != nil {
			return nil, err
		}
		// immediate transactions take the write lock up front, so two
		// writers wait on busy_timeout instead of failing on upgrade.
		file := "file:" + path + "?_txlock=immediate&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)"
		s.db, err = gorm.Open(gormlite.Open(file), cfg)
		s.dialect = DialectSQLite
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		s.db, err = gorm.Open(postgres.Open(pgDSN(dsn)), cfg)
		s.dialect = DialectPostgres
	default:
		return nil, errors.New("store: open: unknown database URL (want sqlite:PATH or postgres://…)")
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", s.dialect, err)
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if s.dialect == DialectSQLite {
		sqlDB.SetMaxOpenConns(8)
		sqlDB.SetMaxIdleConns(8)
	} else {
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(10)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	if err := s.Ping(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	return s, nil
}

// pgDSN turns PostgreSQL's JIT compiler off for idsync's sessions unless
// the URL sets it ("?jit=on"). Its cost estimates drive it: a sync's
// statements over tables that grew since the last ANALYZE looked costly
// and were compiled for ~170 ms each to run for 1 ms — with a product
// enabled, the first sync of 10k users took 8 s instead of 1.5 s.
// Unknown URL parameters reach the server as session settings.
func pgDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn // the driver reports the malformed URL
	}
	q := u.Query()
	if q.Has("jit") {
		return dsn
	}
	q.Set("jit", "off")
	u.RawQuery = q.Encode()
	return u.String()
}

// Migrate applies every pending migration. On PostgreSQL a session lock
// keeps two replicas from migrating at once.
func (s *Store) Migrate(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	var (
		fsys    fs.FS
		dialect goose.Dialect
		opts    []goose.ProviderOption
	)
	if s.dialect == DialectPostgres {
		fsys, err = fs.Sub(migrations.Postgres, "postgres")
		dialect = goose.DialectPostgres
		locker, lerr := lock.NewPostgresSessionLocker()
		if lerr != nil {
			return fmt.Errorf("store: migrate: %w", lerr)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	} else {
		fsys, err = fs.Sub(migrations.SQLite, "sqlite")
		dialect = goose.DialectSQLite3
	}
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	p, err := goose.NewProvider(dialect, sqlDB, fsys, opts...)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	for _, r := range results {
		s.log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// Close closes the database connections.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	if err := sqlDB.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", s.dialect, err)
	}
	return nil
}

// Dialect returns "postgres" or "sqlite".
func (s *Store) Dialect() string { return s.dialect }

// DB returns the gorm handle, for packages that own tables of their own
// (runs, products, leases). Inside Tx it is the transaction.
func (s *Store) DB() *gorm.DB { return s.db }

// SQL returns the database/sql handle under DB.
func (s *Store) SQL() (*sql.DB, error) { return s.db.DB() }

// Box returns the secret box that seals secrets at rest.
func (s *Store) Box() *secret.Box { return s.box }

// Logger returns the store's logger.
func (s *Store) Logger() *slog.Logger { return s.log }

// Tx runs fn with a Store whose every method runs inside one database
// transaction: all of fn's changes (and their audit entries) commit together,
// or none do when fn returns an error. Nested calls use savepoints.
func (s *Store) Tx(ctx context.Context, fn func(tx *Store) error) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		c := *s
		c.db = tx
		c.inTx = true
		return fn(&c)
	})
}

// tx runs fn in a transaction (a savepoint when s is already in one).
func (s *Store) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.db.WithContext(ctx).Transaction(fn)
}

// now is the time written to rows: UTC at the precision both databases keep.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// createPrivate creates the SQLite file with mode 0600 when it does not
// exist yet (SQLite gives its -wal and -shm files the same mode), and
// warns when an existing one is open to other users: it holds the
// audit log, the password hashes and the sealed secrets.
func createPrivate(path string, log *slog.Logger) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		return f.Close()
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("store: open: create %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("store: the SQLite file is accessible by other users; run chmod 600 on it",
			"file", path, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
	}
	return nil
}
