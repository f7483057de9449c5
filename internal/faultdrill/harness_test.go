package faultdrill

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/directory/slapdtest"
	"github.com/idsync/idsync/internal/faultinject"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/products/webhooktest"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

// The drill directory: a few hundred users, several apply batches.
const (
	drillUsers   = 300
	drillTeams   = 6
	contractors  = 80 // users in ou=contractors, the OU a drill loses
	batchSize    = 40
	pageSize     = 100
	hookSecret   = "drill-webhook-secret"
	appName      = "idsync_drill" // application_name of the subprocesses' sessions
	contractorOU = "ou=contractors," + slapdtest.PeopleDN
	// deliveryLease is the subprocesses' --delivery-lease (default 2m).
	deliveryLease = 5 * time.Second
)

// idsyncBin is the binary every drill runs, built once by TestMain.
var idsyncBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "idsync-drill-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faultdrill:", err)
		os.Exit(1)
	}
	idsyncBin = filepath.Join(dir, "idsync")
	goBin := "go"
	build := exec.Command(goBin, "build", "-o", idsyncBin, "github.com/idsync/idsync/cmd/idsync")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "faultdrill: build idsync:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// contractorLDIF adds ou=contractors under ou=people with its users, all in
// cn=contractors (provisioned and mapped to a service group).
func contractorLDIF() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dn: %s\nobjectClass: organizationalUnit\nou: contractors\n\n", contractorOU)
	for i := 0; i < contractors; i++ {
		fmt.Fprintf(&b, "dn: uid=contractor%03d,%s\nobjectClass: inetOrgPerson\nuid: contractor%03d\ncn: Contractor %d\nsn: %d\nmail: contractor%03d@example.org\nl: Berlin\nou: Engineering\ntitle: Engineer\n\n",
			i, contractorOU, i, i, i, i)
	}
	fmt.Fprintf(&b, "dn: cn=contractors,%s\nobjectClass: groupOfNames\ncn: contractors\n", slapdtest.GroupsDN)
	for i := 0; i < contractors; i++ {
		fmt.Fprintf(&b, "member: uid=contractor%03d,%s\n", i, contractorOU)
	}
	return b.String()
}

// startDirectory starts the drills' slapd.
func startDirectory(t *testing.T) *slapdtest.Server {
	return slapdtest.Start(t, slapdtest.Options{Users: drillUsers, Teams: drillTeams, ExtraLDIF: contractorLDIF()})
}

// env is one drill's database, configured like an installation that
// provisions from the directory, with rule-placing service groups, rule
// profiles, devices and a webhook product.
type env struct {
	t       *testing.T
	dialect string
	dsn     string // the database idsync uses
	data    string // IDSYNC_DATA_DIR
	st      *store.Store
	hook    *webhooktest.Receiver
	fault   string // IDSYNC_FAULT_DIR
}

// newEnv migrates and configures the database at dsn for a source at
// ldapURL (slapd or a proxy in front of it).
func newEnv(t *testing.T, dialect, dsn, ldapURL string) *env {
	t.Helper()
	ctx := model.WithActor(context.Background(), "drill")
	st, err := store.Open(ctx, dsn, store.Options{SecretKey: storetest.Key()})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	e := &env{t: t, dialect: dialect, dsn: dsn, data: t.TempDir(), st: st, fault: t.TempDir()}
	e.hook = webhooktest.New(t, hookSecret, true)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("setup: %s: %v", what, err)
		}
	}
	set, err := st.GetSettings(ctx)
	must("settings", err)
	set.ProvisioningEnabled = true
	set.DeprovisioningEnabled = true
	set.DeprovisionAction = model.DeprovisionDisable
	set.ServiceGroupMembership = model.MembershipMultiple
	set.AutoProfileSync = true
	must("settings", st.UpdateSettings(ctx, set))

	src := model.DefaultSource(model.SourceOpenLDAP)
	src.Name = "drill directory"
	src.URLs = []string{ldapURL}
	src.BindDN = "cn=admin," + slapdtest.BaseDN
	src.BindPassword = slapdtest.Password
	src.UserBaseDN = slapdtest.PeopleDN
	src.GroupBaseDN = slapdtest.GroupsDN
	src.PageSize = pageSize
	src.Timeout = 6 * time.Second
	src.Attributes.Disabled = "pwdAccountLockedTime"
	src.Attributes.Enterprise = map[string]string{
		model.AttrLocation: "l", model.AttrCorporateUnit: "ou", model.AttrCostCenter: "departmentNumber",
		model.AttrDepartment: "businessCategory", model.AttrTitle: "title",
	}
	must("source", st.CreateSource(ctx, &src))
	for _, g := range []string{"cn=all-staff," + slapdtest.GroupsDN, "cn=contractors," + slapdtest.GroupsDN} {
		must("provisioning mapping", st.CreateProvisioningMapping(ctx, &model.ProvisioningMapping{SourceID: src.ID, GroupDN: g,
			AccountType: model.AccountDeviceEnabled, Nested: true, Priority: 10}))
	}
	for i, m := range []struct{ name, dn string }{
		{"Team 0", slapdtest.TeamDN(0)}, {"Team 1", slapdtest.TeamDN(1)}, {"Contractors", "cn=contractors," + slapdtest.GroupsDN},
	} {
		g := &model.ServiceGroup{Name: m.name}
		must("service group", st.CreateServiceGroup(ctx, g))
		must("group mapping", st.CreateGroupMapping(ctx, &model.GroupMapping{SourceID: src.ID, GroupDN: m.dn, ServiceGroupID: g.ID, Nested: true, Priority: 10 + i}))
	}
	// Placed by rules when a user is created (only then).
	for _, g := range []*model.ServiceGroup{
		{Name: "Berlin office", Rules: []model.Rule{{Attribute: model.AttrLocation, Value: "Berlin"}}},
		{Name: "Managers", Rules: []model.Rule{{Attribute: model.AttrTitle, Value: "Manager"}}},
	} {
		must("rule service group", st.CreateServiceGroup(ctx, g))
	}
	for _, p := range []*model.Profile{
		{Name: "Engineers", Rules: []model.Rule{{Attribute: model.AttrTitle, Value: "Engineer"}}, SyncEnabled: true},
		{Name: "Sales", Rules: []model.Rule{{Attribute: model.AttrCorporateUnit, Value: "Sales"}}, SyncEnabled: true},
	} {
		must("profile", st.CreateProfile(ctx, p))
	}
	for i := 0; i < 10; i++ {
		must("device", st.CreateDevice(ctx, &model.Device{Name: fmt.Sprintf("laptop-%02d", i), Serial: fmt.Sprintf("SN%04d", i), Platform: "linux",
			Attributes: model.Attributes{model.AttrLocation: "Hamburg"}}))
	}
	must("product", st.CreateProduct(ctx, &model.Product{Name: "Hook", Kind: model.ProductWebhook, BaseURL: e.hook.URL, Secret: hookSecret,
		AllUsers: true, Enabled: true, MaxConcurrency: 4}))
	return e
}

// reopen replaces the drill's own store, whose pooled sessions a database
// restart ended.
func (e *env) reopen() {
	e.t.Helper()
	_ = e.st.Close()
	st, err := store.Open(context.Background(), e.dsn, store.Options{SecretKey: storetest.Key()})
	if err != nil {
		e.t.Fatalf("reopen store: %v", err)
	}
	e.st = st
	e.t.Cleanup(func() { _ = st.Close() })
}

// expireLease fast-forwards the apply lease of a SIGKILLed apply past its
// TTL (a minute, docs/sync.md), as if that minute had passed: the holder is
// dead, so this changes no outcome, only the wait.
func (e *env) expireLease() {
	e.t.Helper()
	if err := e.st.DB().Exec("UPDATE apply_lease SET expires_at_ms = 0 WHERE holder <> ''").Error; err != nil {
		e.t.Fatalf("expire the apply lease: %v", err)
	}
}

// terminateOwnSessions ends the drill's idsync sessions (application_name
// appName) in this drill's database only, and returns how many.
func (e *env) terminateOwnSessions() int64 {
	e.t.Helper()
	res := e.st.DB().Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND application_name = ? AND pid <> pg_backend_pid()`, appName)
	if res.Error != nil {
		e.t.Fatalf("terminate the drill's sessions: %v", res.Error)
	}
	return res.RowsAffected
}

// procEnv is the environment of an idsync subprocess: this process's,
// without idsync's own variables, plus the drill's.
func (e *env) procEnv(faults string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "IDSYNC_") || strings.HasPrefix(kv, "DATABASE_URL=") {
			continue
		}
		out = append(out, kv)
	}
	dsn := e.dsn
	if e.dialect == store.DialectPostgres {
		u, err := url.Parse(dsn)
		if err != nil {
			e.t.Fatalf("parse dsn: %v", err)
		}
		q := u.Query()
		q.Set("application_name", appName)
		u.RawQuery = q.Encode()
		dsn = u.String()
	}
	out = append(out,
		"DATABASE_URL="+dsn,
		"IDSYNC_DATA_DIR="+e.data,
		"IDSYNC_SECRET_KEY="+hex.EncodeToString(storetest.Key()),
		fmt.Sprintf("IDSYNC_APPLY_BATCH_SIZE=%d", batchSize),
		"IDSYNC_ALLOW_LOOPBACK_PRODUCTS=true",
		// A killed serve's delivery claims are retried after the lease.
		"IDSYNC_DELIVERY_LEASE="+deliveryLease.String(),
		"IDSYNC_LOG_LEVEL=warn",
		faultinject.DirEnv+"="+e.fault,
	)
	if faults != "" {
		out = append(out, faultinject.Env+"="+faults)
	}
	return out
}

// result is how an idsync subprocess ended.
type result struct {
	out    string
	err    error
	signal syscall.Signal // the signal that ended it, 0 if it exited
	code   int
}

func (r result) String() string {
	if r.signal != 0 {
		return fmt.Sprintf("killed by %v\n%s", r.signal, r.out)
	}
	return fmt.Sprintf("exit %d\n%s", r.code, r.out)
}

func ended(out string, err error) result {
	r := result{out: out, err: err}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.signal = ws.Signal()
		} else {
			r.code = ee.ExitCode()
		}
	} else if err != nil {
		r.code = -1
	}
	return r
}

// syncApply runs `idsync sync --apply` to its end (at most 3 minutes).
func (e *env) syncApply(faults string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, idsyncBin, "sync", "--apply")
	cmd.Env = e.procEnv(faults)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		e.t.Fatalf("idsync sync --apply did not end within 3 minutes:\n%s", out.String())
	}
	return ended(out.String(), err)
}

// applyClean runs `idsync sync --apply` and fails the drill unless it
// succeeds.
func (e *env) applyClean() result {
	e.t.Helper()
	r := e.syncApply("")
	if r.err != nil || !strings.Contains(r.out, "succeeded") {
		e.t.Fatalf("idsync sync --apply: %v", r)
	}
	return r
}

// server is a running `idsync serve`.
type server struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	res  result
}

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

// serve starts `idsync serve` on a free loopback port and, without faults,
// waits until it answers; it is stopped (SIGTERM, then SIGKILL) when the
// drill ends, if still running.
func (e *env) serve(faults string) *server {
	e.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	cmd := exec.Command(idsyncBin, "serve")
	cmd.Env = append(e.procEnv(faults), "IDSYNC_ADDR="+addr)
	s := &server{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("start idsync serve: %v", err)
	}
	go func() {
		err := cmd.Wait()
		s.res = ended(s.out.String(), err)
		close(s.done)
	}()
	e.t.Cleanup(func() { s.stop() })
	if faults != "" {
		return s // it may stop at its fault before it answers
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			return s
		}
		select {
		case <-s.done:
			e.t.Fatalf("idsync serve exited at start: %v", s.res)
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("idsync serve did not answer on %s: %s", addr, s.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends the server gracefully and returns how it ended.
func (s *server) stop() result {
	select {
	case <-s.done:
		return s.res
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	return s.res
}

// wait waits for the server to exit by itself.
func (s *server) wait(t *testing.T, within time.Duration) result {
	t.Helper()
	select {
	case <-s.done:
		return s.res
	case <-time.After(within):
		t.Fatalf("idsync serve still running after %s:\n%s", within, s.out.String())
		return result{}
	}
}

// pending counts the product deliveries not done yet.
func (e *env) pending() (pending, total int64) {
	e.t.Helper()
	db := e.st.DB()
	if err := db.Raw("SELECT count(*) FROM product_user_state WHERE wanted_version > delivered_version").Scan(&pending).Error; err != nil {
		e.t.Fatalf("count pending: %v", err)
	}
	if err := db.Raw("SELECT count(*) FROM product_user_state").Scan(&total).Error; err != nil {
		e.t.Fatalf("count outbox: %v", err)
	}
	return pending, total
}

// waitDelivered waits until the outbox has rows and none is pending.
func (e *env) waitDelivered(s *server, within time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		p, n := e.pending()
		if n > 0 && p == 0 {
			return
		}
		select {
		case <-s.done:
			e.t.Fatalf("idsync serve exited with %d of %d deliveries pending: %v", p, n, s.res)
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d of %d deliveries still pending after %s:\n%s", p, n, within, s.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitPaused waits until the subprocess blocks at point (pause action).
func (e *env) waitPaused(point string, done <-chan struct{}) {
	e.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(e.fault, point+".paused")); err == nil {
			return
		}
		select {
		case <-done:
			e.t.Fatalf("the process ended before reaching %s", point)
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the process did not reach %s", point)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// resume lets a paused subprocess go on.
func (e *env) resume(point string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.fault, point+".resume"), nil, 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// dumpQueries are the contents a drill compares, each row keyed by names
// (ids differ between databases), so two databases that reached the same
// state dump the same lines.
var dumpQueries = []struct{ name, sql string }{
	{"user", `SELECT username, email, display_name, status, origin, account_type, external_id, dn, disabled_by_sync FROM users`},
	{"user-attr", `SELECT u.username, d.key, v.value FROM user_attribute_values v JOIN users u ON u.id = v.user_id JOIN attribute_defs d ON d.id = v.attribute_id`},
	{"group-member", `SELECT g.name, u.username, m.manual FROM service_group_members m JOIN service_groups g ON g.id = m.service_group_id JOIN users u ON u.id = m.user_id`},
	{"profile-member", `SELECT p.name, u.username, m.manual FROM profile_members m JOIN profiles p ON p.id = m.profile_id JOIN users u ON u.id = m.user_id`},
	{"profile", `SELECT name, description, sync_enabled FROM profiles`},
	{"device", `SELECT d.name, d.serial, d.platform, COALESCE(u.username, '') FROM devices d LEFT JOIN users u ON u.id = d.user_id`},
	{"device-attr", `SELECT d.name, a.key, v.value FROM device_attribute_values v JOIN devices d ON d.id = v.device_id JOIN attribute_defs a ON a.id = v.attribute_id`},
	// The outbox: which pairs exist, whether delivery is pending, and
	// whether what was delivered is the user's current version.
	{"outbox", `SELECT p.name, s.username, s.assigned, s.deleted,
  CASE WHEN s.wanted_version > s.delivered_version THEN 'pending' ELSE 'done' END,
  CASE WHEN s.delivered_version = COALESCE(u.version, -1) THEN 'current' ELSE 'behind' END,
  CASE WHEN s.last_error <> '' AND s.wanted_version > s.delivered_version THEN 'error' ELSE '' END
FROM product_user_state s JOIN products p ON p.id = s.product_id LEFT JOIN users u ON u.id = s.user_id`},
}

// dump returns the database's contents canonically: one sorted line per row.
func dump(t *testing.T, st *store.Store) []string {
	t.Helper()
	var lines []string
	for _, q := range dumpQueries {
		rows, err := st.DB().Raw(q.sql).Rows()
		if err != nil {
			t.Fatalf("dump %s: %v", q.name, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				_ = rows.Close()
				t.Fatalf("dump %s: %v", q.name, err)
			}
			parts := []string{q.name}
			for _, v := range vals {
				parts = append(parts, canon(v))
			}
			lines = append(lines, strings.Join(parts, " | "))
		}
		err = rows.Err()
		_ = rows.Close()
		if err != nil {
			t.Fatalf("dump %s: %v", q.name, err)
		}
	}
	sort.Strings(lines)
	return lines
}

// canon prints a scanned value the same way on both databases.
func canon(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return string(x)
	case bool:
		if x {
			return "1"
		}
		return "0"
	default:
		return fmt.Sprint(x)
	}
}

// compare fails t when got differs from want, listing the differing rows.
// Rows the clean run has and got lacks come first: a removal the clean run
// would not make.
func compare(t *testing.T, what string, want, got []string) {
	t.Helper()
	w := map[string]int{}
	for _, l := range want {
		w[l]++
	}
	for _, l := range got {
		w[l]--
	}
	var missing, extra []string
	for l, n := range w {
		for ; n > 0; n-- {
			missing = append(missing, l)
		}
		for ; n < 0; n++ {
			extra = append(extra, l)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return
	}
	sort.Strings(missing)
	sort.Strings(extra)
	var b strings.Builder
	fmt.Fprintf(&b, "%s: the database differs from the clean run's: %d rows missing, %d rows extra", what, len(missing), len(extra))
	show := func(sign string, ls []string) {
		for i, l := range ls {
			if i == 15 {
				fmt.Fprintf(&b, "\n  %s … %d more", sign, len(ls)-i)
				break
			}
			fmt.Fprintf(&b, "\n  %s %s", sign, l)
		}
	}
	show("-", missing)
	show("+", extra)
	t.Error(b.String())
}

// reference is what one clean, uninterrupted run reaches: after
// `sync --apply`, and after `serve` delivered everything.
type reference struct {
	applied, delivered []string
}

// cleanRun makes the reference of dialect on a fresh database.
func cleanRun(t *testing.T, dialect, dsn, ldapURL string) reference {
	t.Helper()
	e := newEnv(t, dialect, dsn, ldapURL)
	e.applyClean()
	var ref reference
	ref.applied = dump(t, e.st)
	s := e.serve("")
	e.waitDelivered(s, 2*time.Minute)
	if r := s.stop(); r.err != nil {
		t.Fatalf("serve: %v", r)
	}
	ref.delivered = dump(t, e.st)
	if len(ref.applied) < drillUsers {
		t.Fatalf("clean run: only %d rows", len(ref.applied))
	}
	// The clean run itself converges: a second apply changes nothing.
	r := e.applyClean()
	if !strings.Contains(r.out, "— 0 actions") {
		t.Errorf("second clean apply was not empty:\n%s", r.out)
	}
	compare(t, "clean run, second apply", ref.delivered, dump(t, e.st))
	return ref
}

// freshDSN is a new empty database of dialect on the shared test server
// (IDSYNC_TEST_POSTGRES) or in a temporary SQLite file.
func freshDSN(t *testing.T, dialect string) string {
	if dialect == store.DialectSQLite {
		return "sqlite:" + filepath.Join(t.TempDir(), "idsync.db")
	}
	return storetest.NewPostgresDB(t)
}
