package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe to read while serve writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTestMain(t *testing.T, env map[string]string) (*Main, *syncBuffer, *syncBuffer) {
	t.Helper()
	dir := t.TempDir()
	e := map[string]string{
		"IDSYNC_DATA_DIR": dir,
		"DATABASE_URL":    "sqlite:" + filepath.Join(dir, "idsync.db"),
	}
	for k, v := range env {
		e[k] = v
	}
	out, errb := &syncBuffer{}, &syncBuffer{}
	m := &Main{Stdin: strings.NewReader(""), Stdout: out, Stderr: errb, Env: func(k string) string { return e[k] }}
	t.Cleanup(func() { _ = m.Close() })
	return m, out, errb
}

func TestUsage(t *testing.T) {
	m, _, _ := newTestMain(t, nil)
	for _, args := range [][]string{nil, {"frobnicate"}, {"admin"}, {"admin", "create", "--role", "root", "--password-file", "x"}} {
		if err := m.Run(t.Context(), args); err == nil {
			t.Errorf("Run(%q) succeeded, want a usage error", args)
		}
	}
}

func TestMigrateAndAdminCreate(t *testing.T) {
	m, out, _ := newTestMain(t, nil)
	ctx := t.Context()
	if err := m.Run(ctx, []string{"migrate"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "up to date") {
		t.Errorf("migrate output %q", out.String())
	}
	m.Close()

	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("a long enough password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Bad input creates nothing.
	for _, args := range [][]string{
		{"admin", "create", "--username", "bad name", "--password-file", pwFile},
		{"admin", "create", "--username", "ann", "--password-file", pwFile, "--role", "owner"},
		{"admin", "create", "--username", "ann", "--password-file", filepath.Join(t.TempDir(), "missing")},
	} {
		m2, _, _ := newTestMain(t, nil)
		m2.Env = m.Env
		if err := m2.Run(ctx, args); err == nil {
			t.Errorf("Run(%q) succeeded", args)
		}
		m2.Close()
	}
	m3, out3, _ := newTestMain(t, nil)
	m3.Env = m.Env
	if err := m3.Run(ctx, []string{"admin", "create", "--username", "ann", "--password-file", pwFile, "--role", "auditor"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out3.String(), `created auditor account "ann"`) {
		t.Errorf("output %q", out3.String())
	}
	a, err := m3.Store.GetAdminByUsername(ctx, "ann")
	if err != nil || a.Role != "auditor" {
		t.Fatalf("ann: %+v %v", a, err)
	}
	n, err := m3.Store.CountAdmins(ctx)
	if err != nil || n != 1 {
		t.Errorf("admins: %d %v, want 1 (bad input must create nothing)", n, err)
	}
	m3.Close()
	// A second account with the same name is refused.
	m4, _, _ := newTestMain(t, nil)
	m4.Env = m.Env
	if err := m4.Run(ctx, []string{"admin", "create", "--username", "ann", "--password-file", pwFile}); err == nil {
		t.Error("duplicate username accepted")
	}
}

// TestServe starts the real server on a free port, checks the printed
// setup link works, then cancels and expects a clean shutdown.
func TestServe(t *testing.T) {
	m, out, _ := newTestMain(t, map[string]string{"IDSYNC_ADDR": "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, []string{"serve"}) }()

	re := regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/setup\?token=([0-9a-f]+)`)
	var match []string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if match = re.FindStringSubmatch(out.String()); match != nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v", err)
		default:
		}
	}
	if match == nil {
		cancel()
		t.Fatalf("no setup link printed; stdout: %q", out.String())
	}
	base := match[1]
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/setup?token=" + match[2]: 200, "/setup?token=nope": 403} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, res.StatusCode, want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after cancel, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop after cancel")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still answering after shutdown")
	}
}

func TestBaseURL(t *testing.T) {
	for addr, want := range map[string]string{
		"0.0.0.0:8080":   "http://127.0.0.1:8080",
		"[::]:8080":      "http://127.0.0.1:8080",
		"127.0.0.1:9000": "http://127.0.0.1:9000",
		"[::1]:9000":     "http://[::1]:9000",
	} {
		if got := baseURL(addr, false); got != want {
			t.Errorf("baseURL(%q) = %q, want %q", addr, got, want)
		}
	}
	if got := baseURL("10.0.0.1:443", true); got != "https://10.0.0.1:443" {
		t.Errorf("tls: %q", got)
	}
}
