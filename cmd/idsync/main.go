// Command idsync is the idsync server and its command-line tools:
//
//	idsync serve            run the console (and the background workers)
//	idsync migrate          apply database migrations and exit
//	idsync admin create     create a console account (automated installs)
//	idsync sync             preview or apply a sync from the command line
//	idsync rotate-secret-key   re-seal stored secrets with a new key
//	idsync rotate-session-key  new session key (ends every session)
//
// Every flag also reads an IDSYNC_* environment variable (DATABASE_URL for
// the database); run `idsync serve -h` for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/idsync/idsync/internal/config"
	"github.com/idsync/idsync/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	m := NewMain()
	err := m.Run(ctx, os.Args[1:])
	stop()
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "idsync:", err)
		}
		if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(exitCode(err))
	}
}

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

// Main is the program: tests build one with NewMain, point its streams and
// environment elsewhere, and call Run with arguments.
type Main struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Env    func(string) string

	// Set by the command that runs; Close releases them.
	Config *config.Config
	Logger *slog.Logger
	Store  *store.Store

	closers []func() error
}

// NewMain returns a Main wired to the process's streams and environment.
func NewMain() *Main {
	return &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Env: os.Getenv}
}

const usage = `usage: idsync <command> [flags]

commands:
  serve          run the web console (default address 127.0.0.1:8080)
  migrate        apply database migrations and exit
  admin list     list the console accounts (role, status, MFA, sessions)
  admin create   create a console account:
                   --username NAME --password-file FILE --role admin|auditor
  admin disable | enable | delete --username NAME
  admin role     --username NAME --role admin|auditor
  admin reset-password --username NAME   print a one-time link (24 h)
  sync           preview a sync of a directory source (--apply to apply it)
  backup         copy the SQLite database (--output FILE); PostgreSQL: pg_dump
  rotate-secret-key   re-seal every stored secret with a new secret key
                   (stop idsync first; --new-key-file FILE)
  rotate-session-key  write a new session key (everybody signs in again)

Run "idsync <command> -h" for the flags; each flag also reads an IDSYNC_*
environment variable, the database DATABASE_URL.
`

// Run executes the command named by args[0]. It returns when the command
// is done or, for serve, when ctx is cancelled and shutdown completed.
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return m.runServe(ctx, rest)
	case "migrate":
		return m.runMigrate(ctx, rest)
	case "admin":
		return m.runAdmin(ctx, rest)
	case "sync":
		return m.runSync(ctx, rest) // cmd/idsync/sync.go
	case "backup":
		return m.runBackup(ctx, rest) // cmd/idsync/backup.go
	case "rotate-secret-key":
		return m.runRotateSecretKey(ctx, rest) // cmd/idsync/keys.go
	case "rotate-session-key":
		return m.runRotateSessionKey(ctx, rest)
	case "help", "-h", "--help":
		fmt.Fprint(m.Stdout, usage)
		return nil
	default:
		fmt.Fprint(m.Stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
}

// Close releases what the command opened, last opened first.
func (m *Main) Close() error {
	var errs []error
	for i := len(m.closers) - 1; i >= 0; i-- {
		errs = append(errs, m.closers[i]())
	}
	m.closers = nil
	return errors.Join(errs...)
}

// onClose registers fn to run on Close.
func (m *Main) onClose(fn func() error) { m.closers = append(m.closers, fn) }

// loadConfig parses the shared configuration flags (plus the command's
// own, through extra) and builds the logger.
func (m *Main) loadConfig(name string, args []string, extra func(fs *flag.FlagSet)) error {
	cfg, err := config.LoadFlags(args, m.Env, m.Stderr, extra)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return flag.ErrHelp
		}
		return fmt.Errorf("%s: %w", name, errors.Join(errUsage, err))
	}
	m.Config = cfg
	m.Logger = cfg.NewLogger(m.Stderr)
	cfg.WarnInsecureKeyFiles(m.Logger)
	return nil
}

// openStore opens the configured database and applies pending migrations.
func (m *Main) openStore(ctx context.Context, name string) error {
	st, err := store.Open(ctx, m.Config.DatabaseURL, store.Options{SecretKey: m.Config.SecretKey, Logger: m.Logger})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	m.Store = st
	m.onClose(st.Close)
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// setup is loadConfig followed by openStore.
func (m *Main) setup(ctx context.Context, name string, args []string, extra func(fs *flag.FlagSet)) error {
	if err := m.loadConfig(name, args, extra); err != nil {
		return err
	}
	return m.openStore(ctx, name)
}

// runMigrate is `idsync migrate`.
func (m *Main) runMigrate(ctx context.Context, args []string) error {
	if err := m.setup(ctx, "migrate", args, nil); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "database (%s) is up to date\n", m.Store.Dialect())
	return nil
}
