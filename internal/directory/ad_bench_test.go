package directory_test

import (
	"context"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/directory/adtest"
)

// BenchmarkADRead reads the test AD (1,000 users under OU=People, 95
// groups under OU=Groups, nesting outside it, a group of 1,600 members)
// into a Snapshot and, in the same run, dumps the same entries and
// attributes with `ldapsearch -E pr=1000/noprompt`. Target: read ≤ 1.5×
// ldapsearch.
func BenchmarkADRead(b *testing.B) {
	ldapsearch, err := exec.LookPath("ldapsearch")
	if err != nil {
		b.Skip("ldapsearch not installed (Debian package ldap-utils)")
	}
	s := adtest.Start(b)
	src := s.Source()
	c := directory.New(nil)
	ctx := context.Background()
	userAttrs := []string{"objectGUID", "sAMAccountName", "mail", "displayName", "userAccountControl", "accountExpires", "primaryGroupID", "objectSid",
		"l", "company", "extensionAttribute1", "department", "title"}
	dump := func() time.Duration {
		start := time.Now()
		for _, q := range []struct {
			base, filter string
			attrs        []string
		}{
			{src.UserBaseDN, src.UserFilter, userAttrs},
			{src.GroupBaseDN, src.GroupFilter, []string{"cn", "member", "objectGUID", "objectSid"}},
		} {
			args := append([]string{"-x", "-LLL", "-o", "ldif-wrap=no", "-H", s.URL, "-D", src.BindDN, "-w", src.BindPassword,
				"-b", q.base, "-E", "pr=1000/noprompt", q.filter}, q.attrs...)
			if out, err := exec.Command(ldapsearch, args...).CombinedOutput(); err != nil {
				b.Fatalf("ldapsearch: %v: %s", err, out)
			}
		}
		return time.Since(start)
	}
	dump()
	if _, err := c.Read(ctx, &src); err != nil {
		b.Fatal(err)
	}
	var searchTotal, readTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		searchTotal += dump()
		start := time.Now()
		snap, err := c.Read(ctx, &src)
		if err != nil {
			b.Fatal(err)
		}
		readTotal += time.Since(start)
		if len(snap.Users) != adtest.Users {
			b.Fatalf("%d users", len(snap.Users))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(searchTotal.Milliseconds())/float64(b.N), "ldapsearch-ms")
	b.ReportMetric(float64(readTotal.Milliseconds())/float64(b.N), "read-ms")
	b.ReportMetric(float64(readTotal)/float64(searchTotal), "ratio")
}

// BenchmarkADRefresh refreshes 200 users of the test AD one by one
// (ReadUser: tokenGroups) and reports the 50th and 95th percentile.
// Target: p95 < 50 ms.
func BenchmarkADRefresh(b *testing.B) {
	s := adtest.Start(b)
	src := s.Source()
	c := directory.New(nil)
	ctx := context.Background()
	snap, err := c.Read(ctx, &src)
	if err != nil {
		b.Fatal(err)
	}
	var times []time.Duration
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for i := 0; i < 200; i++ {
			u := snap.Users[(i*37)%len(snap.Users)]
			start := time.Now()
			if _, err := c.ReadUser(ctx, &src, u.ExternalID); err != nil {
				b.Fatal(err)
			}
			times = append(times, time.Since(start))
		}
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(times[len(times)*95/100].Microseconds())/1000, "p95-ms")
}
