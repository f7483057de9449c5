// Package smtptest starts a real SMTP server for tests: Debian's
// python3-aiosmtpd on a free 127.0.0.1 port, stopped when the test ends.
// The server prints every message it receives; Messages returns them.
package smtptest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/testenv"
)

// Python is the interpreter with aiosmtpd (Debian's python3-aiosmtpd);
// IDSYNC_TEST_PYTHON overrides it.
func Python() string {
	if p := os.Getenv("IDSYNC_TEST_PYTHON"); p != "" {
		return p
	}
	return "/usr/bin/python3"
}

// Server is a running aiosmtpd.
type Server struct {
	Host string
	Port int
	mu   sync.Mutex
	out  bytes.Buffer
}

func (s *Server) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Write(p)
}

// Output returns everything the server printed so far: the received
// messages with their headers.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// WaitFor waits until the server's output contains want and fails tb
// after timeout.
func (s *Server) WaitFor(tb testing.TB, want string, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(s.Output(), want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("SMTP server never received %q; it printed:\n%s", want, s.Output())
}

// Start starts aiosmtpd. Without python3-aiosmtpd the test is skipped, or
// fails with CI set (testenv.Missing).
func Start(tb testing.TB) *Server {
	tb.Helper()
	if err := exec.Command(Python(), "-c", "import aiosmtpd").Run(); err != nil {
		testenv.Missing(tb, "python3-aiosmtpd not available (%s -c 'import aiosmtpd': %v); install Debian's python3-aiosmtpd", Python(), err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("free port: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &Server{Host: "127.0.0.1", Port: port}
	cmd := exec.Command(Python(), "-u", "-m", "aiosmtpd", "-n", "-l", fmt.Sprintf("127.0.0.1:%d", port))
	cmd.Stdout, cmd.Stderr = s, s
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start aiosmtpd: %v", err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			tb.Fatalf("aiosmtpd did not listen on port %d: %v\n%s", port, err, s.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
