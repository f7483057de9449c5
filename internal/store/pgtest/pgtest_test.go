package pgtest

import (
	"context"
	"database/sql"
	"testing"
)

// A private server serves, survives a restart with its data, and keeps
// refusing while stopped.
func TestStartRestartStop(t *testing.T) {
	s := Start(t)
	if s.Port == 5432 {
		t.Fatal("private server on the shared port")
	}
	dsn := s.NewDB("pgtest_probe")
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (v int); INSERT INTO t VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	var v int
	if err := db.QueryRowContext(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != 42 {
		// the pool's old connection is dead; database/sql retries on a new one
		if err := db.QueryRowContext(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != 42 {
			t.Fatalf("after restart: v=%d err=%v", v, err)
		}
	}
	s.Stop()
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("ping succeeded while the server is stopped")
	}
	s.Start()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("ping after start: %v", err)
	}
}
