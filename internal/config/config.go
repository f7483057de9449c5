// Package config reads idsync's settings from command-line flags and
// IDSYNC_* environment variables. Load returns a *Config; nothing is global.
package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// KeySize is the length in bytes of the secret and session keys.
const KeySize = 32

// Config is everything idsync is started with.
type Config struct {
	Addr         string // listen address of the console
	DatabaseURL  string // sqlite:PATH or postgres://…
	DataDir      string // where generated keys and the default database live
	SecretKey    []byte // encrypts secrets at rest (source bind passwords, product tokens)
	SessionKey   []byte // signs and encrypts session cookies
	Demo         bool   // start the embedded demo directory
	LogLevel     slog.Level
	LogFormat    string // text | json
	TLSCert      string
	TLSKey       string
	SecureCookie bool // Secure flag on cookies; on with TLS or --secure-cookies
	// AllowLoopbackProducts lets products deliver to 127.0.0.1/localhost
	// (tests and demos); off in production to avoid SSRF to local services.
	AllowLoopbackProducts bool
	TimeZone              *time.Location // the scheduler's zone; Local by default
	RunRetentionDays      int            // 0 = keep the Settings value
	ShutdownTimeout       time.Duration
	SessionMaxAge         time.Duration
	SessionIdleTimeout    time.Duration // a session unused this long ends
	// TrustedProxies are the peers whose X-Forwarded-For names the client.
	TrustedProxies   []*net.IPNet
	LoginMaxFailures int           // per account and per IP within LoginWindow
	ApplyBatchSize   int           // actions per apply transaction; 0 = the syncer's default
	DeliveryLease    time.Duration // how long a replica's claim on product deliveries lasts
	LoginWindow      time.Duration // sliding window of the login rate limit
	// PublicURL is the console's address as admins reach it, for links in
	// alerts; "" = links are relative.
	PublicURL string
	// SecretKeyFile and SessionKeyFile are the files the keys were read
	// from ("" when given in hex); the rotate commands write there.
	SecretKeyFile, SessionKeyFile string
	// KeyFiles are the key files read at start (secret, session, TLS);
	// WarnInsecureKeyFiles checks their modes.
	KeyFiles []string
}

// WarnInsecureKeyFiles logs a warning for every key file that users other
// than its owner may read or write: whoever reads the secret key can open
// every stored bind password and product token, and the session key
// signs sessions. It changes nothing; idsync still starts.
func (c *Config) WarnInsecureKeyFiles(log *slog.Logger) {
	for _, f := range c.KeyFiles {
		fi, err := os.Stat(f)
		if err != nil {
			continue
		}
		if mode := fi.Mode().Perm(); mode&0o077 != 0 {
			log.Warn("config: key file is accessible by other users; run chmod 600 on it",
				"file", f, "mode", fmt.Sprintf("%04o", mode))
		}
	}
}

// TLS reports whether the console serves HTTPS itself.
func (c *Config) TLS() bool { return c.TLSCert != "" && c.TLSKey != "" }

// Option names, shared by the flag set, the env variables and the README.
type option struct {
	name, env, def, usage string
}

// Options lists every flag with its environment variable and default, in
// the order the README documents them.
func Options() []Option {
	out := make([]Option, len(options))
	for i, o := range options {
		out[i] = Option{Flag: "--" + o.name, Env: o.env, Default: o.def, Usage: o.usage}
	}
	return out
}

// Option describes one setting for documentation.
type Option struct{ Flag, Env, Default, Usage string }

var options = []option{
	{"addr", "IDSYNC_ADDR", "127.0.0.1:8080", "listen address of the console"},
	{"database-url", "DATABASE_URL", "sqlite:var/idsync.db", "database: sqlite:PATH or postgres://…"},
	{"data-dir", "IDSYNC_DATA_DIR", "var", "directory for generated keys (and the default SQLite file)"},
	{"secret-key", "IDSYNC_SECRET_KEY", "", "64 hex chars encrypting secrets at rest; default: read or create DATA_DIR/secret.key"},
	{"secret-key-file", "IDSYNC_SECRET_KEY_FILE", "", "file holding the secret key (default DATA_DIR/secret.key, created 0600 when absent)"},
	{"session-key", "IDSYNC_SESSION_KEY", "", "64 hex chars protecting session cookies; default: read or create DATA_DIR/session.key"},
	{"session-key-file", "IDSYNC_SESSION_KEY_FILE", "", "file holding the session key (default DATA_DIR/session.key, created 0600 when absent)"},
	{"demo", "IDSYNC_DEMO", "false", "start the embedded demo directory and register it as a source"},
	{"log-level", "IDSYNC_LOG_LEVEL", "info", "debug | info | warn | error"},
	{"log-format", "IDSYNC_LOG_FORMAT", "text", "text | json"},
	{"tls-cert", "IDSYNC_TLS_CERT", "", "PEM certificate: serve HTTPS (with --tls-key)"},
	{"tls-key", "IDSYNC_TLS_KEY", "", "PEM private key for --tls-cert"},
	{"secure-cookies", "IDSYNC_SECURE_COOKIES", "false", "mark cookies Secure (automatic with TLS; set it behind a TLS proxy)"},
	{"allow-loopback-products", "IDSYNC_ALLOW_LOOPBACK_PRODUCTS", "false", "allow product endpoints on loopback addresses"},
	{"timezone", "IDSYNC_TIMEZONE", "", "IANA time zone of the refresh schedule; default the server's"},
	{"run-retention-days", "IDSYNC_RUN_RETENTION_DAYS", "0", "override the run retention setting (0 = use the setting)"},
	{"shutdown-timeout", "IDSYNC_SHUTDOWN_TIMEOUT", "15s", "how long a graceful shutdown waits for requests"},
	{"session-max-age", "IDSYNC_SESSION_MAX_AGE", "12h", "how long a sign-in lasts at most"},
	{"session-idle-timeout", "IDSYNC_SESSION_IDLE_TIMEOUT", "30m", "a sign-in unused this long ends"},
	{"trusted-proxies", "IDSYNC_TRUSTED_PROXIES", "", "CIDR,… of reverse proxies whose X-Forwarded-For names the client"},
	{"login-max-failures", "IDSYNC_LOGIN_MAX_FAILURES", "5", "failed sign-ins allowed per account and per IP within the window"},
	{"login-window", "IDSYNC_LOGIN_WINDOW", "15m", "sliding window of the sign-in rate limit"},
	{"public-url", "IDSYNC_PUBLIC_URL", "", "the console's address as admins reach it (links in alert messages), e.g. https://idsync.example.com"},
	{"apply-batch-size", "IDSYNC_APPLY_BATCH_SIZE", "0", "actions one apply transaction executes (0 = 1000)"},
	{"delivery-lease", "IDSYNC_DELIVERY_LEASE", "2m", "how long a replica's claim on product deliveries lasts; a stopped replica's claims are retried after it"},
}

// Load parses args (without the program and subcommand names) over the
// environment read through env, then reads or creates the key files.
// It returns an error naming the bad flag or variable; it never exits.
func Load(args []string, env func(string) string) (*Config, error) {
	return LoadFlags(args, env, io.Discard, nil)
}

// LoadFlags is Load for a subcommand: extra, when not nil, adds the
// subcommand's own flags to the set before parsing; usage and parse errors
// go to out.
func LoadFlags(args []string, env func(string) string, out io.Writer, extra func(fs *flag.FlagSet)) (*Config, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	fs := flag.NewFlagSet("idsync", flag.ContinueOnError)
	fs.SetOutput(out)
	vals := make(map[string]*string, len(options))
	for _, o := range options {
		def := o.def
		if v := env(o.env); v != "" {
			def = v
		}
		v := &flagValue{s: def, isBool: o.def == "true" || o.def == "false"}
		fs.Var(v, o.name, o.usage+" (env "+o.env+")")
		vals[o.name] = &v.s
	}
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("config: unexpected argument %q", fs.Arg(0))
	}
	get := func(name string) string { return strings.TrimSpace(*vals[name]) }

	c := &Config{
		Addr:        get("addr"),
		DatabaseURL: get("database-url"),
		DataDir:     get("data-dir"),
		TLSCert:     get("tls-cert"),
		TLSKey:      get("tls-key"),
		LogFormat:   strings.ToLower(get("log-format")),
	}
	var err error
	bools := map[string]*bool{"demo": &c.Demo, "secure-cookies": &c.SecureCookie, "allow-loopback-products": &c.AllowLoopbackProducts}
	for name, dst := range bools {
		if *dst, err = strconv.ParseBool(get(name)); err != nil {
			return nil, fmt.Errorf("config: --%s: %q is not true or false", name, get(name))
		}
	}
	durs := map[string]*time.Duration{"shutdown-timeout": &c.ShutdownTimeout, "session-max-age": &c.SessionMaxAge, "session-idle-timeout": &c.SessionIdleTimeout, "login-window": &c.LoginWindow, "delivery-lease": &c.DeliveryLease}
	for name, dst := range durs {
		if *dst, err = time.ParseDuration(get(name)); err != nil || *dst <= 0 {
			return nil, fmt.Errorf("config: --%s: %q is not a positive duration like 15m", name, get(name))
		}
	}
	ints := map[string]*int{"run-retention-days": &c.RunRetentionDays, "login-max-failures": &c.LoginMaxFailures, "apply-batch-size": &c.ApplyBatchSize}
	for name, dst := range ints {
		if *dst, err = strconv.Atoi(get(name)); err != nil || *dst < 0 {
			return nil, fmt.Errorf("config: --%s: %q is not a whole number ≥ 0", name, get(name))
		}
	}
	if c.LoginMaxFailures == 0 {
		return nil, errors.New("config: --login-max-failures must be at least 1")
	}
	if err := c.LogLevel.UnmarshalText([]byte(get("log-level"))); err != nil {
		return nil, fmt.Errorf("config: --log-level: %q is not debug, info, warn or error", get("log-level"))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return nil, fmt.Errorf("config: --log-format: %q is not text or json", c.LogFormat)
	}
	if c.Addr == "" {
		return nil, errors.New("config: --addr must not be empty")
	}
	if c.DataDir == "" {
		return nil, errors.New("config: --data-dir must not be empty")
	}
	if !strings.HasPrefix(c.DatabaseURL, "sqlite:") && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return nil, fmt.Errorf("config: DATABASE_URL must start with sqlite: or postgres:// (got %q)", redactURL(c.DatabaseURL))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return nil, errors.New("config: --tls-cert and --tls-key go together")
	}
	if c.TLS() {
		c.SecureCookie = true
	}
	if c.TrustedProxies, err = parseCIDRs(get("trusted-proxies")); err != nil {
		return nil, err
	}
	if c.PublicURL = strings.TrimRight(get("public-url"), "/"); c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("config: --public-url: %q is not an http:// or https:// URL", c.PublicURL)
		}
	}
	c.TimeZone = time.Local
	if tz := get("timezone"); tz != "" {
		if c.TimeZone, err = time.LoadLocation(tz); err != nil {
			return nil, fmt.Errorf("config: --timezone: %q is not an IANA time zone", tz)
		}
	}
	if c.SecretKey, err = loadKey("secret", get("secret-key"), get("secret-key-file"), filepath.Join(c.DataDir, "secret.key")); err != nil {
		return nil, err
	}
	if c.SessionKey, err = loadKey("session", get("session-key"), get("session-key-file"), filepath.Join(c.DataDir, "session.key")); err != nil {
		return nil, err
	}
	for _, k := range []struct {
		hexKey, file, def string
		dst               *string
	}{
		{get("secret-key"), get("secret-key-file"), filepath.Join(c.DataDir, "secret.key"), &c.SecretKeyFile},
		{get("session-key"), get("session-key-file"), filepath.Join(c.DataDir, "session.key"), &c.SessionKeyFile},
	} {
		switch {
		case k.hexKey != "":
		case k.file != "":
			*k.dst = k.file
		default:
			*k.dst = k.def
		}
		if *k.dst != "" {
			c.KeyFiles = append(c.KeyFiles, *k.dst)
		}
	}
	if c.TLSKey != "" {
		c.KeyFiles = append(c.KeyFiles, c.TLSKey)
	}
	return c, nil
}

// flagValue holds a flag's text; boolean flags may be given bare
// (--demo) and are checked with strconv.ParseBool after parsing, so that
// the flag and its environment variable give the same error message.
type flagValue struct {
	s      string
	isBool bool
}

func (v *flagValue) String() string     { return v.s }
func (v *flagValue) Set(s string) error { v.s = s; return nil }
func (v *flagValue) IsBoolFlag() bool   { return v.isBool }

// loadKey returns the key given in hex, else the one in file (or def),
// creating that file with a fresh random key (mode 0600) when it is absent.
func loadKey(what, hexKey, file, def string) ([]byte, error) {
	if hexKey != "" {
		k, err := decodeKey(hexKey)
		if err != nil {
			return nil, fmt.Errorf("config: --%s-key: %w", what, err)
		}
		return k, nil
	}
	if file == "" {
		file = def
	}
	b, err := os.ReadFile(file)
	if err == nil {
		k, err := decodeKey(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("config: %s key file %s: %w", what, file, err)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("config: read %s key: %w", what, err)
	}
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("config: generate %s key: %w", what, err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, fmt.Errorf("config: create %s key dir: %w", what, err)
	}
	// O_EXCL: two processes starting at once must not overwrite each other's key.
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return loadKey(what, "", file, def)
	}
	if err != nil {
		return nil, fmt.Errorf("config: create %s key: %w", what, err)
	}
	if _, err := f.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
		_ = f.Close() // the write failed; that error is the one to report
		return nil, fmt.Errorf("config: write %s key: %w", what, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("config: write %s key: %w", what, err)
	}
	return k, nil
}

func decodeKey(s string) ([]byte, error) {
	k, err := hex.DecodeString(s)
	if err != nil || len(k) != KeySize {
		return nil, fmt.Errorf("want %d hex characters (%d random bytes)", 2*KeySize, KeySize)
	}
	return k, nil
}

// redactURL hides a password in a URL-like string for error messages.
func redactURL(s string) string {
	if at := strings.LastIndex(s, "@"); at > 0 {
		if i := strings.Index(s, "://"); i >= 0 && i < at {
			return s[:i+3] + "…@" + s[at+1:]
		}
	}
	return s
}

// NewLogger returns the slog logger described by c, writing to w.
func (c *Config) NewLogger(w io.Writer) *slog.Logger {
	o := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// parseCIDRs reads "CIDR,…" (a bare address means just that address).
func parseCIDRs(list string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			ip := net.ParseIP(f)
			if ip == nil {
				return nil, fmt.Errorf("config: --trusted-proxies: %q is not an address or CIDR", f)
			}
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(f)
		if err != nil {
			return nil, fmt.Errorf("config: --trusted-proxies: %q is not an address or CIDR", f)
		}
		out = append(out, n)
	}
	return out, nil
}
