package config

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	dir := t.TempDir()
	c, err := Load([]string{"--data-dir", dir}, envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.DatabaseURL != "sqlite:var/idsync.db" || c.Demo || c.LogFormat != "text" ||
		c.LogLevel != slog.LevelInfo || c.SecureCookie || c.SessionMaxAge != 12*time.Hour || c.LoginMaxFailures != 5 ||
		c.LoginWindow != 15*time.Minute || c.TimeZone != time.Local {
		t.Errorf("defaults: %+v", c)
	}
	if len(c.SecretKey) != KeySize || len(c.SessionKey) != KeySize {
		t.Fatalf("key sizes %d %d", len(c.SecretKey), len(c.SessionKey))
	}
	if bytes.Equal(c.SecretKey, c.SessionKey) {
		t.Error("secret and session keys are equal")
	}
	for _, f := range []string{"secret.key", "session.key"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	// A second start reuses the keys.
	c2, err := Load([]string{"--data-dir", dir}, envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.SecretKey, c2.SecretKey) || !bytes.Equal(c.SessionKey, c2.SessionKey) {
		t.Error("keys changed between starts")
	}
}

func TestLoadEnvAndFlags(t *testing.T) {
	dir := t.TempDir()
	key := strings.Repeat("ab", KeySize)
	env := envMap(map[string]string{
		"IDSYNC_ADDR":         "0.0.0.0:9000",
		"DATABASE_URL":        "postgres://u:pw@db/idsync",
		"IDSYNC_DATA_DIR":     dir,
		"IDSYNC_DEMO":         "true",
		"IDSYNC_LOG_FORMAT":   "json",
		"IDSYNC_LOG_LEVEL":    "debug",
		"IDSYNC_SECRET_KEY":   key,
		"IDSYNC_TIMEZONE":     "Europe/Berlin",
		"IDSYNC_LOGIN_WINDOW": "5m",
	})
	c, err := Load([]string{"--addr", "127.0.0.1:7000", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--allow-loopback-products"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:7000" {
		t.Errorf("flag must win over env: Addr %q", c.Addr)
	}
	if c.DatabaseURL != "postgres://u:pw@db/idsync" || !c.Demo || c.LogFormat != "json" || c.LogLevel != slog.LevelDebug ||
		c.TimeZone.String() != "Europe/Berlin" || c.LoginWindow != 5*time.Minute {
		t.Errorf("env not applied: %+v", c)
	}
	if !bytes.Equal(c.SecretKey, bytes.Repeat([]byte{0xab}, KeySize)) {
		t.Error("hex secret key not used")
	}
	if _, err := os.Stat(filepath.Join(dir, "secret.key")); !os.IsNotExist(err) {
		t.Error("secret.key written although the key was given")
	}
	if !c.AllowLoopbackProducts {
		t.Error("bare boolean flag --allow-loopback-products not set")
	}
	d, err := Load([]string{"--demo", "--addr", "127.0.0.1:7001", "--demo=false"}, env)
	if err != nil {
		t.Fatalf("bare --demo before another flag: %v", err)
	}
	if d.Demo || d.Addr != "127.0.0.1:7001" {
		t.Errorf("--demo=false after --demo: Demo=%v Addr=%q", d.Demo, d.Addr)
	}
	if !c.TLS() || !c.SecureCookie {
		t.Error("TLS must imply secure cookies")
	}
}

func TestLoadKeyFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "custom.key")
	if err := os.WriteFile(f, []byte(strings.Repeat("0f", KeySize)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load([]string{"--data-dir", dir, "--session-key-file", f}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.SessionKey, bytes.Repeat([]byte{0x0f}, KeySize)) {
		t.Error("session key file not read")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad db", []string{"--database-url", "mysql://x"}, nil, "DATABASE_URL"},
		{"db password redacted", nil, map[string]string{"DATABASE_URL": "mysql://u:secretpw@h/db"}, "DATABASE_URL"},
		{"bad bool", []string{"--demo=maybe"}, nil, "--demo"},
		{"bad bool env", nil, map[string]string{"IDSYNC_SECURE_COOKIES": "sure"}, "--secure-cookies"},
		{"bad level", []string{"--log-level", "loud"}, nil, "--log-level"},
		{"bad format", []string{"--log-format", "xml"}, nil, "--log-format"},
		{"tls half", []string{"--tls-cert", "c.pem"}, nil, "--tls-key"},
		{"bad tz", []string{"--timezone", "Mars/Base"}, nil, "--timezone"},
		{"bad duration", []string{"--login-window", "soon"}, nil, "--login-window"},
		{"bad int", []string{"--run-retention-days", "-3"}, nil, "--run-retention-days"},
		{"bad key", []string{"--secret-key", "abcd"}, nil, "--secret-key"},
		{"unknown flag", []string{"--nope"}, nil, "nope"},
		{"bad proxy", []string{"--trusted-proxies", "10.0.0.0/8,proxy.local"}, nil, "--trusted-proxies"},
		{"bad idle", []string{"--session-idle-timeout", "0s"}, nil, "--session-idle-timeout"},
		{"stray arg", []string{"extra"}, nil, "extra"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--data-dir", dir}, tc.args...)
			_, err := Load(args, envMap(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want mention of %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secretpw") {
				t.Errorf("error leaks the database password: %v", err)
			}
		})
	}
}

func TestOptionsDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, o := range Options() {
		if !strings.HasPrefix(o.Flag, "--") || o.Env == "" || o.Usage == "" || seen[o.Env] {
			t.Errorf("bad option %+v", o)
		}
		seen[o.Env] = true
	}
	if !seen["DATABASE_URL"] || !seen["IDSYNC_ADDR"] {
		t.Error("DATABASE_URL / IDSYNC_ADDR missing")
	}
}

func TestTrustedProxies(t *testing.T) {
	c, err := Load([]string{"--data-dir", t.TempDir(), "--trusted-proxies", " 127.0.0.1, 10.1.0.0/16,::1 "}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range c.TrustedProxies {
		got = append(got, n.String())
	}
	if want := "127.0.0.1/32 10.1.0.0/16 ::1/128"; strings.Join(got, " ") != want {
		t.Errorf("TrustedProxies = %v, want %s", got, want)
	}
	if c.SessionIdleTimeout.Minutes() != 30 {
		t.Errorf("default idle timeout %v, want 30m", c.SessionIdleTimeout)
	}
}
