// Package storetest opens migrated throwaway stores for tests: a temporary
// SQLite file, or a PostgreSQL database created for one test and dropped
// after it.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for the admin connection

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
)

// EnvPostgres names the variable holding the PostgreSQL DSN tests create
// their databases from.
const EnvPostgres = "IDSYNC_TEST_POSTGRES"

// DefaultPostgres is the DSN used when EnvPostgres is unset: the local
// server `make test` starts.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Key is the secret key test stores seal secrets with.
func Key() []byte {
	return []byte("idsync-test-key-32-bytes-long!!!")
}

// Dialects lists the databases every store test runs on.
func Dialects() []string { return []string{store.DialectSQLite, store.DialectPostgres} }

// Each runs fn as subtests "sqlite" and "postgres", each on a fresh,
// migrated store that is closed (and, for PostgreSQL, dropped) afterwards.
func Each(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(d, func(t *testing.T) {
			fn(t, Open(t, d))
		})
	}
}

// Open returns a fresh migrated store of the dialect ("sqlite" or
// "postgres"), removed when tb ends. It fails tb when PostgreSQL cannot be
// reached.
func Open(tb testing.TB, dialect string) *store.Store {
	tb.Helper()
	ctx := context.Background()
	var dsn string
	switch dialect {
	case store.DialectSQLite:
		dsn = "sqlite:" + filepath.Join(tb.TempDir(), "idsync.db")
	case store.DialectPostgres:
		dsn = NewPostgresDB(tb)
	default:
		tb.Fatalf("storetest: unknown dialect %q", dialect)
	}
	s, err := store.Open(ctx, dsn, store.Options{SecretKey: Key()})
	if err != nil {
		tb.Fatalf("storetest: open %s: %v", dialect, err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		tb.Fatalf("storetest: migrate %s: %v", dialect, err)
	}
	return s
}

// PostgresBase returns the DSN throwaway databases are created from.
func PostgresBase() string {
	if v := os.Getenv(EnvPostgres); v != "" {
		return v
	}
	return DefaultPostgres
}

// NewPostgresDB creates an empty database idsync_t_<random> on the server
// named by IDSYNC_TEST_POSTGRES (PostgresBase), registers its drop (WITH
// (FORCE), so leftover connections do not block it) and returns its DSN.
// It is the one way tests get a PostgreSQL database; it fails tb when the
// server cannot be reached.
func NewPostgresDB(tb testing.TB) string {
	tb.Helper()
	base := PostgresBase()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	ctx := context.Background()
	if err := admin.PingContext(ctx); err != nil {
		_ = admin.Close()
		tb.Fatalf("storetest: PostgreSQL is not reachable at %s (set %s, or run `make test-deps` to start it): %v",
			redact(base), EnvPostgres, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "idsync_t_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		_ = admin.Close()
		tb.Fatalf("storetest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("storetest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("storetest: parse %s: %v", EnvPostgres, err)
	}
	u.Path = "/" + name
	return u.String()
}

// redact hides a password in a DSN for messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}

// Ctx returns a context whose audit actor is "test".
func Ctx() context.Context {
	return model.WithActor(context.Background(), "test")
}

// Must fails tb when err is not nil.
func Must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(fmt.Errorf("storetest: %w", err))
	}
}
