package syncer_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/directory/slapdtest"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
	"github.com/idsync/idsync/internal/syncer"
)

// BenchmarkSync measures a full sync against a private slapd and PostgreSQL
// (issue 4, item 7): users spread over teams (5,000 nested groups at 100k),
// 20 group mappings, 10 profiles with rules, devices for half the users.
// Each size runs the sequence once (use -benchtime 1x): preview, first
// apply (creating everyone), no-change preview+apply, one-user refresh
// (mean of 20), and the process's peak resident memory.
//
//	go test -run '^$' -bench BenchmarkSync -benchtime 1x -timeout 60m ./internal/syncer/
//
// Sizes: 10k and 100k; IDSYNC_BENCH_300K=1 adds 300k. IDSYNC_BENCH_SIZES
// (e.g. "10000") replaces the list.
func BenchmarkSync(b *testing.B) {
	sizes := []int{10_000, 100_000}
	if os.Getenv("IDSYNC_BENCH_300K") != "" {
		sizes = append(sizes, 300_000)
	}
	if env := os.Getenv("IDSYNC_BENCH_SIZES"); env != "" {
		sizes = nil
		for _, f := range strings.Split(env, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
				sizes = append(sizes, n)
			}
		}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			for range b.N {
				benchSync(b, n)
			}
		})
	}
}

func benchSync(b *testing.B, users int) {
	b.StopTimer()
	teams := users / 20 // 5,000 team groups at 100k users, plus departments
	srv := slapdtest.Start(b, slapdtest.Options{Users: users, Teams: teams})
	dialect := store.DialectPostgres
	if os.Getenv("IDSYNC_BENCH_DB") == "sqlite" {
		dialect = store.DialectSQLite
	}
	st := storetest.Open(b, dialect)
	ctx := model.WithActor(context.Background(), "bench")
	src := srv.Source()
	src.ID = 0
	src.Timeout = 5 * time.Minute
	if n, err := strconv.Atoi(os.Getenv("IDSYNC_BENCH_PAGESIZE")); err == nil {
		src.PageSize = n
	}
	must(b, st.CreateSource(ctx, &src))
	set, err := st.GetSettings(ctx)
	must(b, err)
	set.ProvisioningEnabled = true
	set.DeleteThresholdCount = 0
	must(b, st.UpdateSettings(ctx, set))
	must(b, st.CreateProvisioningMapping(ctx, &model.ProvisioningMapping{SourceID: src.ID, GroupDN: "cn=all-staff," + slapdtest.GroupsDN,
		AccountType: model.AccountDeviceEnabled, Nested: true}))
	for i := 0; i < 20; i++ {
		g := &model.ServiceGroup{Name: fmt.Sprintf("SG %02d", i)}
		must(b, st.CreateServiceGroup(ctx, g))
		dn := slapdtest.TeamDN(i)
		if i >= 10 {
			dn = slapdtest.DeptDN(i - 10) // departments nest ten teams each
		}
		must(b, st.CreateGroupMapping(ctx, &model.GroupMapping{SourceID: src.ID, GroupDN: dn, ServiceGroupID: g.ID, Nested: true, Priority: i}))
	}
	for i, loc := range []string{"Berlin", "Hamburg", "Munich", "Paris", "London", "New York", "Sales", "Engineering", "Operations", "Finance"} {
		attr := model.AttrLocation
		if i >= 6 {
			attr = model.AttrCorporateUnit
		}
		must(b, st.CreateProfile(ctx, &model.Profile{Name: "P " + loc, Rules: []model.Rule{{Attribute: attr, Value: loc}}, SyncEnabled: true}))
	}
	if os.Getenv("IDSYNC_BENCH_PRODUCTS") != "" {
		// Two enabled products: every user changed is queued for them in
		// the apply's transactions (nothing is delivered: no dispatcher runs).
		sgs, _, err := st.ListServiceGroups(ctx, model.ListQuery{PerPage: 5})
		must(b, err)
		ids := make([]int64, len(sgs))
		for i := range sgs {
			ids[i] = sgs[i].ID
		}
		must(b, st.CreateProduct(ctx, &model.Product{Name: "Hook", Kind: model.ProductWebhook, BaseURL: "http://127.0.0.1:9/hook",
			Secret: "bench-secret-0123456789", AllUsers: true, Enabled: true}))
		must(b, st.CreateProduct(ctx, &model.Product{Name: "SCIM", Kind: model.ProductSCIM, BaseURL: "http://127.0.0.1:9/scim/v2",
			Secret: "bench-token-0123456789", ServiceGroupIDs: ids, Enabled: true}))
	}
	log := slog.New(slog.DiscardHandler)
	sy := syncer.New(st, directory.New(log), log)

	b.StartTimer()
	t0 := time.Now()
	prev, err := sy.Preview(ctx, src.ID, model.TriggerCLI)
	must(b, err)
	previewD := time.Since(t0)
	t0 = time.Now()
	run, err := sy.Apply(ctx, prev.ID, true, model.TriggerCLI)
	must(b, err)
	applyD := time.Since(t0)
	b.StopTimer()
	benchLog := prev.Log + run.Log
	if run.Status != model.RunSucceeded {
		b.Fatalf("first apply: %s %s", run.Status, run.Error)
	}

	// Devices for half the users, assigned (seeded directly: not measured).
	must(b, st.DB().Exec(`INSERT INTO devices (name, serial, platform, search, user_id, created_at, updated_at)
		SELECT 'dev-' || id, 'SN' || id, 'ios', 'dev-' || id, id, ?, ? FROM users WHERE id % 2 = 0`, time.Now().UTC(), time.Now().UTC()).Error)

	b.StartTimer()
	t0 = time.Now()
	p2, err := sy.Preview(ctx, src.ID, model.TriggerCLI)
	must(b, err)
	r2, err := sy.Apply(ctx, p2.ID, false, model.TriggerCLI)
	must(b, err)
	noopD := time.Since(t0)
	b.StopTimer()
	if p2.Counts["actions"] != 0 || r2.Status != model.RunSucceeded {
		b.Fatalf("no-change run: %d actions, %s %s", p2.Counts["actions"], r2.Status, r2.Error)
	}

	us, _, err := st.ListUsers(ctx, model.UserFilter{ListQuery: model.ListQuery{PerPage: 20}})
	must(b, err)
	b.StartTimer()
	t0 = time.Now()
	for _, u := range us {
		r, err := sy.RefreshUser(ctx, u.ID)
		must(b, err)
		if r.Status != model.RunSucceeded {
			b.Fatalf("refresh: %s %s", r.Status, r.Error)
		}
	}
	refreshD := time.Since(t0) / time.Duration(len(us))
	b.StopTimer()
	// IDSYNC_BENCH_LOG=file writes the runs' logs (where the time went).
	if path := os.Getenv("IDSYNC_BENCH_LOG"); path != "" {
		benchLog += p2.Log + r2.Log
		if runs, _, err := st.ListRuns(ctx, model.RunFilter{Kind: model.RunRefresh, ListQuery: model.ListQuery{PerPage: 1}}); err == nil && len(runs) == 1 {
			if r, err := st.GetRun(ctx, runs[0].ID); err == nil {
				benchLog += r.Log
			}
		}
		if err := os.WriteFile(path, []byte(benchLog), 0o644); err != nil {
			b.Error(err)
		}
	}

	b.ReportMetric(previewD.Seconds(), "preview-s")
	b.ReportMetric(applyD.Seconds(), "first-apply-s")
	b.ReportMetric(noopD.Seconds(), "nochange-s")
	b.ReportMetric(float64(refreshD.Microseconds())/1000, "refresh-ms")
	b.ReportMetric(float64(prev.Counts["actions"]), "actions")
	b.ReportMetric(peakRSSMB(), "peak-rss-MB")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapSys)/(1<<20), "heap-sys-MB")
}

// peakRSSMB returns the process's peak resident set (VmHWM), in MiB; 0
// where /proc is not available.
func peakRSSMB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
