// Package pgtest starts a private PostgreSQL server for tests that must
// stop, restart or break the database: initdb into a temporary folder, a
// free 127.0.0.1 port, stopped when the test ends. It never touches the
// shared server on 5432 (use storetest for ordinary store tests).
//
// PostgreSQL refuses to run as root; when the test runs as root (`make
// test` does) the server runs as the system user "postgres", which the
// Debian packages create.
package pgtest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/idsync/idsync/internal/testenv"
)

// BinGlob is where the Debian packages install the server binaries.
const BinGlob = "/usr/lib/postgresql/*/bin"

// Server is a running private PostgreSQL.
type Server struct {
	Port int
	// DSN is the postgres database as superuser postgres (trust auth).
	DSN  string
	dir  string // data directory
	bin  string
	cred *syscall.Credential // nil: run as ourselves
	tb   testing.TB
}

// Start initialises and starts a server; tb's cleanup stops it and removes
// its files. A missing PostgreSQL installation skips tb (fails with CI set).
func Start(tb testing.TB) *Server {
	tb.Helper()
	bins, _ := filepath.Glob(BinGlob)
	sort.Strings(bins)
	var bin string
	for i := len(bins) - 1; i >= 0; i-- { // newest major version
		if _, err := os.Stat(filepath.Join(bins[i], "initdb")); err == nil {
			bin = bins[i]
			break
		}
	}
	if bin == "" {
		testenv.Missing(tb, "pgtest: no initdb under %s (Debian package postgresql)", BinGlob)
	}
	s := &Server{bin: bin, tb: tb}
	root, err := os.MkdirTemp("", "idsync-pgtest-")
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(root) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			testenv.Missing(tb, "pgtest: running as root and there is no postgres user to run the server as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(root, uid, gid); err != nil {
			tb.Fatalf("pgtest: %v", err)
		}
	}
	s.dir = filepath.Join(root, "data")
	if out, err := s.cmd("initdb", "-D", s.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-instructions", "--no-sync").CombinedOutput(); err != nil {
		tb.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	if s.Port, err = freePort(); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	conf := fmt.Sprintf("\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nfsync = off\nmax_connections = 60\nshared_buffers = 32MB\n", s.Port, s.dir)
	f, err := os.OpenFile(filepath.Join(s.dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	s.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
	tb.Cleanup(func() { _ = s.ctl("stop", "-m", "immediate") }) // an error: already stopped
	s.Start()
	return s
}

func (s *Server) cmd(name string, args ...string) *exec.Cmd {
	c := exec.Command(filepath.Join(s.bin, name), args...)
	c.Dir = os.TempDir()
	if s.cred != nil {
		c.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return c
}

func (s *Server) ctl(action string, args ...string) error {
	args = append([]string{action, "-D", s.dir, "-w", "-t", "60"}, args...)
	if action == "start" {
		args = append(args, "-l", filepath.Join(s.dir, "server.log"))
	}
	var out bytes.Buffer
	c := s.cmd("pg_ctl", args...)
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
		return fmt.Errorf("pg_ctl %s: %w\n%s\n%s", action, err, out.String(), log)
	}
	return nil
}

// Start starts the (stopped) server and waits until it accepts connections.
func (s *Server) Start() {
	s.tb.Helper()
	if err := s.ctl("start"); err != nil {
		s.tb.Fatalf("pgtest: %v", err)
	}
	s.waitReady()
}

// Stop stops the server at once (mode immediate: sessions are cut, like a
// crash; the next start recovers from the WAL).
func (s *Server) Stop() {
	s.tb.Helper()
	if err := s.ctl("stop", "-m", "immediate"); err != nil {
		s.tb.Fatalf("pgtest: %v", err)
	}
}

// Restart stops the server at once and starts it again.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	s.Start()
}

func (s *Server) waitReady() {
	s.tb.Helper()
	db, err := sql.Open("pgx", s.DSN)
	if err != nil {
		s.tb.Fatalf("pgtest: %v", err)
	}
	defer db.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("pgtest: server on port %d not ready: %v", s.Port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// NewDB creates an empty database on the server and returns its DSN.
func (s *Server) NewDB(name string) string {
	s.tb.Helper()
	db, err := sql.Open("pgx", s.DSN)
	if err != nil {
		s.tb.Fatalf("pgtest: %v", err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		s.tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, name)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
