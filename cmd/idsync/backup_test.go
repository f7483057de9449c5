package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/directory/slapdtest"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
	"github.com/idsync/idsync/internal/testenv"
)

// TestBackupRestore backs up a working installation (an admin, a source
// on a real slapd, a synced state), restores it into a fresh database —
// pg_dump/pg_restore on PostgreSQL, `idsync backup` (VACUUM INTO) on
// SQLite — and then signs in to the restored console and previews: the
// preview finds nothing to do, so the restored state is the synced one.
func TestBackupRestore(t *testing.T) {
	ldapSrv := slapdtest.Start(t, slapdtest.Options{Users: 8, Teams: 2})
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			origin := t.TempDir()
			env := map[string]string{"IDSYNC_DATA_DIR": origin}
			if dialect == store.DialectPostgres {
				env["DATABASE_URL"] = storetest.NewPostgresDB(t)
			} else {
				env["DATABASE_URL"] = "sqlite:" + filepath.Join(origin, "idsync.db")
			}
			run := func(env map[string]string, args ...string) string {
				t.Helper()
				m, out, _ := newTestMain(t, env)
				err := m.Run(t.Context(), args)
				m.Close()
				if err != nil {
					t.Fatalf("idsync %s: %v\n%s", strings.Join(args, " "), err, out.String())
				}
				return out.String()
			}
			run(env, "migrate")
			pw := filepath.Join(t.TempDir(), "pw")
			if err := os.WriteFile(pw, []byte("a long enough password\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			run(env, "admin", "create", "--username", "ops", "--password-file", pw, "--role", "admin")
			m, _, _ := newTestMain(t, env)
			if err := m.Run(t.Context(), []string{"migrate"}); err != nil {
				t.Fatal(err)
			}
			actx := model.WithActor(t.Context(), "test")
			src := ldapSrv.Source()
			src.ID = 0
			if err := m.Store.CreateSource(actx, &src); err != nil {
				t.Fatal(err)
			}
			set, _ := m.Store.GetSettings(actx)
			set.ProvisioningEnabled = true
			if err := m.Store.UpdateSettings(actx, set); err != nil {
				t.Fatal(err)
			}
			if err := m.Store.CreateProvisioningMapping(actx, &model.ProvisioningMapping{SourceID: src.ID, GroupDN: "cn=all-staff," + slapdtest.GroupsDN,
				AccountType: model.AccountDeviceEnabled, Nested: true}); err != nil {
				t.Fatal(err)
			}
			m.Close()
			if out := run(env, "sync", "--apply"); !strings.Contains(out, "succeeded") {
				t.Fatalf("sync --apply:\n%s", out)
			}

			// Back up, then restore into a fresh place with the same keys.
			restored := t.TempDir()
			renv := map[string]string{"IDSYNC_DATA_DIR": restored}
			dump := filepath.Join(t.TempDir(), "idsync.backup")
			if dialect == store.DialectPostgres {
				for _, tool := range []string{"pg_dump", "pg_restore"} {
					if _, err := exec.LookPath(tool); err != nil {
						testenv.Missing(t, "%s not installed (Debian package postgresql-client)", tool)
					}
				}
				pgTool(t, "pg_dump", "--format=custom", "--file="+dump, env["DATABASE_URL"])
				renv["DATABASE_URL"] = storetest.NewPostgresDB(t)
				pgTool(t, "pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--dbname="+renv["DATABASE_URL"], dump)
			} else {
				out := run(env, "backup", "--output", dump)
				if !strings.Contains(out, "Keep the secret key") {
					t.Errorf("backup output %q", out)
				}
				if fi, err := os.Stat(dump); err != nil || fi.Mode().Perm() != 0o600 {
					t.Fatalf("backup file: %v %v, want mode 0600", fi, err)
				}
				copyFile(t, dump, filepath.Join(restored, "idsync.db"))
				renv["DATABASE_URL"] = "sqlite:" + filepath.Join(restored, "idsync.db")
			}
			for _, k := range []string{"secret.key", "session.key"} {
				copyFile(t, filepath.Join(origin, k), filepath.Join(restored, k))
			}

			// The restored console: sign in, see the dashboard.
			renv["IDSYNC_ADDR"] = "127.0.0.1:0"
			signInRestored(t, renv, "ops", "a long enough password")
			// The restored state is the synced one: the preview has nothing to do.
			delete(renv, "IDSYNC_ADDR")
			if out := run(renv, "sync", "--check"); !strings.Contains(out, "— 0 actions,") {
				t.Errorf("preview on the restored database:\n%s", out)
			}
		})
	}
}

func pgTool(t *testing.T, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// signInRestored serves the restored installation and signs in through
// the sign-in form.
func signInRestored(t *testing.T, env map[string]string, user, password string) {
	t.Helper()
	m, out, _ := newTestMain(t, env)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, []string{"serve"}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	re := regexp.MustCompile(`Sign in at (http://127\.0\.0\.1:\d+)/login`)
	var match []string
	for deadline := time.Now().Add(60 * time.Second); match == nil && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		match = re.FindStringSubmatch(out.String())
	}
	if match == nil {
		t.Fatalf("the restored server printed no sign-in line (an admin should exist); stdout %q", out.String())
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (int, string) {
		res, err := hc.Get(match[1] + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	_, body := get("/login")
	tok := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if tok == nil {
		t.Fatal("no CSRF token on the restored sign-in page")
	}
	res, err := hc.PostForm(match[1]+"/login", url.Values{"_csrf": {tok[1]}, "username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in on the restored console: status %d, want 303", res.StatusCode)
	}
	if code, body := get("/"); code != http.StatusOK || !strings.Contains(body, `data-testid="whoami"`) {
		t.Fatalf("dashboard on the restored console: status %d", code)
	}
}
