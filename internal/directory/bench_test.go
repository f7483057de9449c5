package directory_test

import (
	"context"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/directory/slapdtest"
	"github.com/idsync/idsync/internal/testenv"
)

// BenchmarkRead reads 100,000 users and 5,000 groups from a private slapd
// into a Snapshot and, in the same run, dumps the same entries with
// `ldapsearch -E pr=1000/noprompt` to /dev/null. It reports both times,
// their ratio (target ≤ 1.5) and the Snapshot's heap (target < 300 MB).
func BenchmarkRead(b *testing.B) {
	ldapsearch, err := exec.LookPath("ldapsearch")
	if err != nil {
		testenv.Missing(b, "ldapsearch not installed (Debian package ldap-utils)")
	}
	const users, teams = 100_000, 4_541 // teams + 455 departments + 4 fixed groups = 5,000 groups
	srv := slapdtest.Start(b, slapdtest.Options{Users: users, Teams: teams})
	src := srv.Source()
	src.PageSize = 1000
	src.Timeout = 5 * time.Minute
	c := directory.New(nil)
	ctx := context.Background()

	userAttrs := []string{"entryUUID", "uid", "mail", "displayName", "pwdAccountLockedTime", "l", "ou", "departmentNumber", "businessCategory", "title"}
	dump := func() time.Duration {
		start := time.Now()
		for _, q := range []struct {
			base, filter string
			attrs        []string
		}{
			{src.UserBaseDN, src.UserFilter, userAttrs},
			{src.GroupBaseDN, src.GroupFilter, []string{"cn", "member"}},
		} {
			args := append([]string{"-x", "-LLL", "-o", "ldif-wrap=no", "-H", srv.URL, "-D", srv.BindDN, "-w", srv.Password,
				"-b", q.base, "-E", "pr=1000/noprompt", q.filter}, q.attrs...)
			cmd := exec.Command(ldapsearch, args...) // Stdout nil: /dev/null
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("ldapsearch: %v: %s", err, out)
			}
		}
		return time.Since(start)
	}
	// Warm slapd's caches for both contenders.
	dump()
	if _, err := c.Read(ctx, &src); err != nil {
		b.Fatal(err)
	}

	var searchTotal, readTotal time.Duration
	var heap uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		searchTotal += dump()

		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		snap, err := c.Read(ctx, &src)
		readTotal += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = after.HeapAlloc - before.HeapAlloc
		if len(snap.Users) != users || len(snap.Groups) != 5000 {
			b.Fatalf("snapshot has %d users, %d groups", len(snap.Users), len(snap.Groups))
		}
		runtime.KeepAlive(snap)
	}
	b.StopTimer()
	n := float64(b.N)
	ratio := readTotal.Seconds() / searchTotal.Seconds()
	b.ReportMetric(readTotal.Seconds()/n, "read-s")
	b.ReportMetric(searchTotal.Seconds()/n, "ldapsearch-s")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(float64(heap)/(1<<20), "snapshot-MB")
	if heap > 300<<20 {
		b.Errorf("snapshot heap %d MB, target < 300 MB", heap>>20)
	}
	if ratio > 1.5 {
		b.Logf("WARNING: Read took %.2f× ldapsearch, target ≤ 1.5×", ratio)
	}
	_ = directory.KindEmpty
}
