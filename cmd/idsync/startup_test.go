package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// serveUntilLink runs `idsync serve` until it prints the setup link (or
// the sign-in line), then stops it. It returns the token ("" if none).
func serveUntilLink(t *testing.T, m *Main, out *syncBuffer) string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, []string{"serve"}) }()
	re := regexp.MustCompile(`/setup\?token=([0-9a-f]+)|Sign in at`)
	var match []string
	for deadline := time.Now().Add(60 * time.Second); match == nil && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		match = re.FindStringSubmatch(out.String())
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v", err)
		default:
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if match == nil {
		t.Fatalf("serve printed no link; stdout %q", out.String())
	}
	return match[1]
}

// TestStartupHygiene: the setup token goes to standard output once and
// never to the structured log, every start prints a new one, the SQLite
// file is private, and a key file others can read is a warning.
func TestStartupHygiene(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"IDSYNC_ADDR":       "127.0.0.1:0",
		"IDSYNC_DATA_DIR":   dir,
		"DATABASE_URL":      "sqlite:" + filepath.Join(dir, "db", "idsync.db"),
		"IDSYNC_LOG_FORMAT": "json",
	}
	m, out, errb := newTestMain(t, env)
	tok1 := serveUntilLink(t, m, out)
	if tok1 == "" {
		t.Fatal("no setup token printed")
	}
	if n := strings.Count(out.String(), tok1); n != 1 {
		t.Errorf("token printed %d times on stdout, want once", n)
	}
	if strings.Contains(errb.String(), tok1) {
		t.Error("the setup token is in the structured log")
	}
	if !strings.Contains(errb.String(), "printed on standard output") {
		t.Error("the log does not say where the setup link went")
	}
	for _, f := range []string{"db/idsync.db", "secret.key", "session.key"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s created with mode %04o, want 0600", f, mode)
		}
	}
	if strings.Contains(errb.String(), "accessible by other users") {
		t.Errorf("warning about private files: %s", errb.String())
	}

	// A key file others can read, and a database file too: warnings, and
	// a new token on the next start.
	if err := os.Chmod(filepath.Join(dir, "secret.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "db", "idsync.db"), 0o640); err != nil {
		t.Fatal(err)
	}
	m2, out2, errb2 := newTestMain(t, env)
	tok2 := serveUntilLink(t, m2, out2)
	if tok2 == "" || tok2 == tok1 {
		t.Errorf("second start token %q, want a new one (first %q)", tok2, tok1)
	}
	log := errb2.String()
	if !strings.Contains(log, "key file is accessible by other users") || !strings.Contains(log, "secret.key") || !strings.Contains(log, `"mode":"0644"`) {
		t.Errorf("no warning about the 0644 secret key; log: %.600s", log)
	}
	if strings.Contains(log, "session.key") {
		t.Error("warned about session.key, which is 0600")
	}
	if !strings.Contains(log, "SQLite file is accessible by other users") {
		t.Error("no warning about the 0640 database file")
	}
}
