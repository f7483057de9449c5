// Package scimmytest starts a SCIM 2.0 service provider built on the npm
// packages scimmy and scimmy-routers (server.mjs) for the products tests.
//
// The packages are installed by `make test-deps` into a cached folder,
// $IDSYNC_SCIMMY_DIR or ~/.cache/idsync/scimmy (npm install of this
// folder's package.json). Without node the tests that use it skip; with
// node present and CI=true, a server that cannot start fails the test.
package scimmytest

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/testenv"
)

//go:embed server.mjs
var serverJS []byte

// Dir is the folder holding node_modules with scimmy and scimmy-routers.
func Dir() string {
	if d := os.Getenv("IDSYNC_SCIMMY_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "idsync-scimmy")
	}
	return filepath.Join(home, ".cache", "idsync", "scimmy")
}

// Server is a running scimmy provider.
type Server struct {
	URL   string // base URL, http://127.0.0.1:PORT/scim/v2
	Token string
	root  string
}

// Resource is a stored user or group as the provider returns it.
type Resource map[string]any

// Str returns a top-level string attribute, or a dotted sub-attribute.
func (r Resource) Str(path string) string {
	parts := strings.SplitN(path, ".", 2)
	v := r[parts[0]]
	if len(parts) == 2 {
		m, _ := v.(map[string]any)
		v = m[parts[1]]
	}
	s, _ := v.(string)
	return s
}

// Start runs the provider until the test ends.
func Start(t testing.TB, token string) *Server {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Missing(t, "scimmytest: node is not installed")
	}
	dir := Dir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "scimmy-routers", "package.json")); err != nil {
		testenv.Missing(t, "scimmytest: scimmy is not installed in %s (run make test-deps): %v", dir, err)
	}
	script := filepath.Join(dir, "idsync-scimmy-server.mjs")
	if err := os.WriteFile(script, serverJS, 0o644); err != nil {
		t.Fatalf("scimmytest: write server: %v", err)
	}
	cmd := exec.Command(node, script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SCIMMY_TOKEN="+token)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("scimmytest: start node: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = stdin.Close() // the server exits when its stdin ends
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "LISTENING "); ok {
				port <- p
			}
		}
	}()
	select {
	case p := <-port:
		s := &Server{Token: token, root: "http://127.0.0.1:" + p}
		s.URL = s.root + "/scim/v2"
		return s
	case <-exited:
		t.Fatalf("scimmytest: server exited: %s", stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("scimmytest: server did not start within 30 s: %s", stderr.String())
	}
	return nil
}

// State returns every stored user and group.
func (s *Server) State(t testing.TB) (users, groups []Resource) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.root+"/_state", nil)
	req.Header.Set("Authorization", "Bearer "+s.Token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scimmytest: state: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("scimmytest: state: %d %s", res.StatusCode, body)
	}
	var st struct {
		Users  []Resource `json:"users"`
		Groups []Resource `json:"groups"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("scimmytest: state: %v", err)
	}
	return st.Users, st.Groups
}

// String names the server in test logs.
func (s *Server) String() string { return fmt.Sprintf("scimmy at %s", s.URL) }
