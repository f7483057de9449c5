// Package adtest runs a private Samba Active Directory domain controller
// for tests and benchmarks, loaded with a generated directory (see
// fixture.go).
//
// Samba cannot move its ports (389, 636, 3268), so one instance serves a
// whole test binary and test binaries take turns through a file lock in the
// temp dir. A package that uses Start must stop the instance when its tests
// end:
//
//	func TestMain(m *testing.M) { os.Exit(adtest.Main(m)) }
//
// The provisioned and loaded directory is cached under the temp dir, keyed
// by FixtureVersion, so only the first run on a machine provisions (about
// 10 s); later runs copy the cache and start in about a second. Each run
// works on its own copy, so changes a test makes vanish with the run.
//
// Without Samba (or without root, needed for port 389) Start skips the
// test; with CI=true it fails it.
package adtest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/testenv"
)

// Binaries of the Debian samba packages.
const (
	SambaPath     = "/usr/sbin/samba"
	SambaToolPath = "/usr/bin/samba-tool"
	LdbAddPath    = "/usr/bin/ldbadd"
	LdbModifyPath = "/usr/bin/ldbmodify"
	LdbSearchPath = "/usr/bin/ldbsearch"
)

// Server is the running domain controller.
type Server struct {
	URL       string // ldap://127.0.0.1
	LDAPSURL  string // ldaps://127.0.0.1 (certificate from CACert, SANs 127.0.0.1 and localhost)
	BaseDN    string
	AdminUPN  string // Administrator@example.test
	Password  string // AdminPassword
	ReaderUPN string // svc-idsync@example.test, ReaderPassword
	CACert    string // PEM of the test CA that signed the ldaps certificate
	Dir       string // this run's copy of the provisioned directory
	// Took says how long Start took: provisioning (first run only), copy
	// and start.
	Took time.Duration

	cmd  *exec.Cmd
	done chan struct{}
	lock *os.File
	log  *bytes.Buffer
}

var (
	mu      sync.Mutex
	current *Server
	failed  error
)

// Start returns the running server, starting it on first use in this test
// binary. It skips (or with CI=true fails) when Samba is not usable here.
func Start(tb testing.TB) *Server {
	tb.Helper()
	if reason := unusable(); reason != "" {
		testenv.Missing(tb, "adtest: %s", reason)
	}
	mu.Lock()
	defer mu.Unlock()
	if failed != nil {
		tb.Fatalf("adtest: %v", failed)
	}
	if current != nil {
		return current
	}
	s, err := start()
	if err != nil {
		failed = err
		tb.Fatalf("adtest: %v", err)
	}
	current = s
	return s
}

// Main runs the tests and stops the server if one was started.
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop stops the server (if running), removes this run's copy and releases
// the lock for other test binaries.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if current != nil {
		current.stop()
		current = nil
	}
}

func unusable() string {
	for _, p := range []string{SambaPath, SambaToolPath, LdbAddPath, LdbModifyPath, LdbSearchPath} {
		if _, err := os.Stat(p); err != nil {
			return p + " not installed (Debian packages samba samba-ad-dc samba-ad-provision samba-dsdb-modules python3-samba ldb-tools)"
		}
	}
	if os.Geteuid() != 0 {
		return "Samba's LDAP port 389 needs root"
	}
	return ""
}

func cacheDir() string {
	return filepath.Join(os.TempDir(), "idsync-adtest-cache", fmt.Sprintf("v%d", FixtureVersion))
}

func start() (*Server, error) {
	t0 := time.Now()
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "idsync-adtest.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	// Held until stop: other test binaries wait here for the fixed ports.
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("lock: %w", err)
	}
	s, err := startLocked(lock)
	if err != nil {
		_ = lock.Close()
		return nil, err
	}
	s.Took = time.Since(t0)
	return s, nil
}

func startLocked(lock *os.File) (*Server, error) {
	cache := cacheDir()
	if _, err := os.Stat(filepath.Join(cache, "ready")); err != nil {
		if err := provision(cache); err != nil {
			return nil, err
		}
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:389", time.Second); err == nil {
		_ = c.Close()
		return nil, errors.New("127.0.0.1:389 is already in use (a Samba or slapd left over from another run?)")
	}
	dir, err := os.MkdirTemp("", "idsync-adtest-run-")
	if err != nil {
		return nil, err
	}
	if out, err := exec.Command("cp", "-a", filepath.Join(cache, "tree")+"/.", dir).CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("copy the cached directory: %w: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "smb.conf"), []byte(smbConf(dir)), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	ca, err := os.ReadFile(filepath.Join(dir, "tls", "ca.pem"))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{URL: "ldap://127.0.0.1", LDAPSURL: "ldaps://127.0.0.1", BaseDN: BaseDN, AdminUPN: "Administrator@" + DNSName,
		Password: AdminPassword, ReaderUPN: ReaderSAM + "@" + DNSName, CACert: string(ca), Dir: dir, lock: lock, done: make(chan struct{}), log: &bytes.Buffer{}}
	cmd := exec.Command(SambaPath, "-s", filepath.Join(dir, "etc", "smb.conf"), "--foreground", "--no-process-group", "--debug-stdout")
	cmd.Stdout, cmd.Stderr = &syncWriter{b: s.log}, &syncWriter{b: s.log}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start samba: %w", err)
	}
	s.cmd = cmd
	go func() { _ = cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := s.ping(); err == nil {
			break
		} else if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("samba did not answer LDAP within 60 s: %w\n%s", err, s.logText())
		}
		select {
		case <-s.done:
			log := s.logText()
			s.stop()
			return nil, fmt.Errorf("samba exited: %s", log)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return s, nil
}

type syncWriter struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() > 1<<20 {
		return len(p), nil
	}
	return w.b.Write(p)
}

func (s *Server) logText() string {
	if w, ok := s.cmd.Stdout.(*syncWriter); ok {
		w.mu.Lock()
		defer w.mu.Unlock()
	}
	return s.log.String()
}

func (s *Server) ping() error {
	c, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetTimeout(5 * time.Second)
	return c.Bind(s.AdminUPN, s.Password)
}

func (s *Server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
	}
	_ = os.RemoveAll(s.Dir)
	if s.lock != nil {
		_ = s.lock.Close() // releases the flock
	}
}

// Admin returns an LDAP connection bound as Administrator, closed when the
// test ends, for tests that change the directory.
func (s *Server) Admin(tb testing.TB) *ldap.Conn {
	tb.Helper()
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		tb.Fatalf("adtest: dial: %v", err)
	}
	c.SetTimeout(30 * time.Second)
	if err := c.Bind(s.AdminUPN, s.Password); err != nil {
		c.Close()
		tb.Fatalf("adtest: bind: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// Source returns a model.Source for this server with Active Directory
// defaults, bound as the reader account, users under OU=People and
// groups under OU=Groups.
func (s *Server) Source() model.Source {
	src := model.DefaultSource(model.SourceActiveDirectory)
	src.ID = 1
	src.Name = "adtest"
	src.URLs = []string{s.URL}
	src.BindDN = s.ReaderUPN
	src.BindPassword = ReaderPassword
	src.UserBaseDN = PeopleDN
	src.GroupBaseDN = GroupsDN
	src.Timeout = 60 * time.Second
	return src
}

// smbConf is the minimal configuration: LDAP only, on 127.0.0.1, every
// path inside dir.
func smbConf(dir string) string {
	return fmt.Sprintf(`[global]
	netbios name = DC1
	realm = %[2]s
	workgroup = %[3]s
	server role = active directory domain controller
	server services = ldap
	interfaces = 127.0.0.1
	bind interfaces only = yes
	idmap_ldb:use rfc2307 = yes
	private dir = %[1]s/private
	state directory = %[1]s/state
	cache directory = %[1]s/cache
	lock directory = %[1]s/lock
	pid directory = %[1]s/pid
	ncalrpc dir = %[1]s/ncalrpc
	binddns dir = %[1]s/bind-dns
	log file = %[1]s/log/samba.log
	logging = stdout
	log level = 0
	ldap server require strong auth = no
	tls enabled = yes
	tls keyfile = %[1]s/tls/key.pem
	tls certfile = %[1]s/tls/cert.pem
	tls cafile = %[1]s/tls/ca.pem
`, dir, Realm, Domain)
}

// provision creates the cached directory: samba-tool provision, the
// generated entries loaded offline with ldbadd, the reader's password and
// a test CA with an ldaps certificate.
func provision(cache string) error {
	_ = os.RemoveAll(cache)
	tmp := cache + ".tmp"
	_ = os.RemoveAll(tmp)
	tree := filepath.Join(tmp, "tree")
	for _, d := range []string{"etc", "lock", "pid", "ncalrpc", "log", "cache", "tls", "state", "private"} {
		if err := os.MkdirAll(filepath.Join(tree, d), 0o700); err != nil {
			return err
		}
	}
	if err := writeCerts(filepath.Join(tree, "tls")); err != nil {
		return err
	}
	run := func(name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		out, err := cmd.CombinedOutput()
		if err == nil && bytes.Contains(out, []byte(" failed after processing")) {
			err = errors.New("stopped at an error")
		}
		if err != nil {
			return "", fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args[:min(len(args), 3)], " "), err, tail(out)) //nolint:errorlint // %v: the tool's output follows
		}
		return string(out), nil
	}
	conf := filepath.Join(tree, "etc", "smb.conf")
	if _, err := run(SambaToolPath, "domain", "provision", "--use-rfc2307", "--dns-backend=NONE", "--targetdir="+tree,
		"--realm="+Realm, "--domain="+Domain, "--server-role=dc", "--host-name=dc1", "--adminpass="+AdminPassword,
		"--option=interfaces = 127.0.0.1", "--option=bind interfaces only = yes", "--option=server services = ldap"); err != nil {
		return err
	}
	// Replace provision's smb.conf (it logs to /var/log/samba) with ours.
	if err := os.WriteFile(conf, []byte(smbConf(tree)), 0o600); err != nil {
		return err
	}
	var add, mod bytes.Buffer
	if err := writeLDIF(&add, &mod); err != nil {
		return err
	}
	sam := filepath.Join(tree, "private", "sam.ldb")
	for _, step := range []struct {
		bin  string
		name string
		data []byte
	}{{LdbAddPath, "add.ldif", add.Bytes()}, {LdbModifyPath, "mod.ldif", mod.Bytes()}} {
		p := filepath.Join(tmp, step.name)
		if err := os.WriteFile(p, step.data, 0o600); err != nil {
			return err
		}
		if _, err := run(step.bin, "-H", sam, p); err != nil {
			return err
		}
	}
	out, err := run(LdbSearchPath, "-H", sam, "-b", PrimaryDN, "-s", "base", "(objectClass=group)", "objectSid")
	if err != nil {
		return err
	}
	m := regexp.MustCompile(`objectSid: (S-1-5-21-[0-9-]+)-([0-9]+)`).FindStringSubmatch(out)
	if m == nil {
		return fmt.Errorf("no objectSid for %s in: %s", PrimaryDN, out)
	}
	var pg bytes.Buffer
	for i := 0; i < Users; i++ {
		if PrimaryUser(i) {
			fmt.Fprintf(&pg, "dn: %s\nchangetype: modify\nadd: member\nmember: %s\n-\n\n", PrimaryDN, UserN(i).DN)
			fmt.Fprintf(&pg, "dn: %s\nchangetype: modify\nreplace: primaryGroupID\nprimaryGroupID: %s\n-\n\n", UserN(i).DN, m[2])
		}
	}
	var pgb bytes.Buffer
	// The DNs carry non-ASCII letters: write them base64 like the rest.
	if err := rewriteDNs(&pgb, pg.String()); err != nil {
		return err
	}
	p := filepath.Join(tmp, "primary.ldif")
	if err := os.WriteFile(p, pgb.Bytes(), 0o600); err != nil {
		return err
	}
	if _, err := run(LdbModifyPath, "-H", sam, p); err != nil {
		return err
	}
	if _, err := run(SambaToolPath, "user", "setpassword", ReaderSAM, "--newpassword="+ReaderPassword, "-H", sam, "--configfile="+conf); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "ready"), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(cache), 0o700); err != nil {
		return err
	}
	return os.Rename(tmp, cache)
}

// rewriteDNs re-encodes "dn:" and "member:" lines through line().
func rewriteDNs(w *bytes.Buffer, ldif string) error {
	bw := bufio.NewWriter(w)
	for _, l := range strings.Split(ldif, "\n") {
		if k, v, ok := strings.Cut(l, ": "); ok && (k == "dn" || k == "member") {
			line(bw, k, v)
			continue
		}
		bw.WriteString(l + "\n")
	}
	return bw.Flush()
}

func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// writeCerts writes a test CA and a server certificate for 127.0.0.1,
// localhost and dc1.example.test into dir (ca.pem, cert.pem, key.pem).
func writeCerts(dir string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "adtest CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "dc1." + DNSName}, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		DNSNames: []string{"localhost", "dc1." + DNSName}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"ca.pem":   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		"cert.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}
