package syncer_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/directory/slapdtest"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
	"github.com/idsync/idsync/internal/syncer"
)

// BenchmarkApplyUnderEditing is the load generator of issue 15 item 6: 20
// admins use the data (nine reads, then one edit, with a pause between
// operations, like a console) — editing unassigned devices, a setting the
// plan ignores and the manual members of a profile without rules — while
// an operator does 10 Preview → Apply rounds, each after one directory
// change. Every apply must go through: edits the plan does not depend on
// never make a preview stale. It reports applied-of-10 and the mean
// preview and apply times.
//
//	go test -run '^$' -bench BenchmarkApplyUnderEditing -benchtime 1x ./internal/syncer/
//
// IDSYNC_BENCH_EDIT_USERS sets the directory size (default 10,000).
func BenchmarkApplyUnderEditing(b *testing.B) {
	users := 10_000
	if n, err := strconv.Atoi(os.Getenv("IDSYNC_BENCH_EDIT_USERS")); err == nil && n > 0 {
		users = n
	}
	for range b.N {
		benchEditing(b, users)
	}
}

func benchEditing(b *testing.B, users int) {
	b.StopTimer()
	srv := slapdtest.Start(b, slapdtest.Options{Users: users, Teams: max(users/20, 2)})
	st := storetest.Open(b, store.DialectPostgres)
	ctx := model.WithActor(context.Background(), "operator")
	src := srv.Source()
	src.ID = 0
	src.Timeout = 5 * time.Minute
	must(b, st.CreateSource(ctx, &src))
	set, err := st.GetSettings(ctx)
	must(b, err)
	set.ProvisioningEnabled = true
	set.DeleteThresholdCount = 0
	must(b, st.UpdateSettings(ctx, set))
	must(b, st.CreateProvisioningMapping(ctx, &model.ProvisioningMapping{SourceID: src.ID, GroupDN: "cn=all-staff," + slapdtest.GroupsDN,
		AccountType: model.AccountDeviceEnabled, Nested: true}))
	for i := 0; i < 4; i++ {
		g := &model.ServiceGroup{Name: fmt.Sprintf("SG %d", i)}
		must(b, st.CreateServiceGroup(ctx, g))
		must(b, st.CreateGroupMapping(ctx, &model.GroupMapping{SourceID: src.ID, GroupDN: slapdtest.TeamDN(i), ServiceGroupID: g.ID, Nested: true, Priority: i}))
	}
	must(b, st.CreateProfile(ctx, &model.Profile{Name: "Paris", Rules: []model.Rule{{Attribute: model.AttrLocation, Value: "Paris"}}, SyncEnabled: true}))
	picked := &model.Profile{Name: "Hand-picked"}
	must(b, st.CreateProfile(ctx, picked))
	var devices []int64
	for i := 0; i < 200; i++ {
		d := &model.Device{Name: fmt.Sprintf("spare %d", i), Serial: fmt.Sprintf("SP-%04d", i), Attributes: model.Attributes{model.AttrLocation: "Store room"}}
		must(b, st.CreateDevice(ctx, d))
		devices = append(devices, d.ID)
	}
	log := slog.New(slog.DiscardHandler)
	sy := syncer.New(st, directory.New(log), log)
	first, err := sy.RunOnce(ctx, src.ID, model.TriggerCLI)
	if err != nil || first.Status != model.RunSucceeded {
		b.Fatalf("first run: %v %+v", err, first)
	}
	all, _, err := st.ListUsers(ctx, model.UserFilter{ListQuery: model.ListQuery{PerPage: 200}})
	must(b, err)

	// 20 admins: nine reads, one edit, a pause of 20–80 ms between two.
	actx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var edits, editErrs atomic.Int64
	for a := 0; a < 20; a++ {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(a), 15))
			actor := model.WithActor(actx, fmt.Sprintf("admin%02d", a))
			for op := 0; actx.Err() == nil; op++ {
				var err error
				if op%10 != 9 {
					switch op % 3 {
					case 0:
						_, _, err = st.ListUsers(actor, model.UserFilter{ListQuery: model.ListQuery{PerPage: 50, Page: 1 + r.IntN(20)}})
					case 1:
						_, _, err = st.ListDevices(actor, model.DeviceFilter{ListQuery: model.ListQuery{PerPage: 50}})
					default:
						_, err = st.GetSettings(actor)
					}
					if err != nil && actx.Err() == nil {
						editErrs.Add(1)
					}
				} else {
					edits.Add(1)
					switch r.IntN(3) {
					case 0:
						var d *model.Device
						if d, err = st.GetDevice(actor, devices[r.IntN(len(devices))]); err == nil {
							d.Attributes[model.AttrLocation] = fmt.Sprintf("Shelf %d", r.IntN(100))
							err = st.UpdateDevice(actor, d)
						}
					case 1:
						var s model.Settings
						if s, err = st.GetSettings(actor); err == nil {
							s.RunRetentionDays = 30 + r.IntN(60)
							err = st.UpdateSettings(actor, s)
						}
					default:
						u := all[r.IntN(len(all))].ID
						if err = st.AddProfileMember(actor, picked.ID, u); model.ErrorCode(err) == model.ECONFLICT {
							err = st.RemoveProfileMember(actor, picked.ID, u)
						}
					}
					if err != nil && actx.Err() == nil {
						editErrs.Add(1)
					}
				}
				select {
				case <-actx.Done():
				case <-time.After(time.Duration(20+r.IntN(60)) * time.Millisecond):
				}
			}
		})
	}

	applied := 0
	var previewT, applyT time.Duration
	b.StartTimer()
	for round := 0; round < 10; round++ {
		modifyDir(b, srv, 6*round, "l", fmt.Sprintf("Office %d", round))
		t0 := time.Now()
		prev, err := sy.Preview(ctx, src.ID, model.TriggerAdmin)
		if err != nil {
			b.Fatalf("round %d: preview: %v", round, err)
		}
		t1 := time.Now()
		run, err := sy.Apply(ctx, prev.ID, false, model.TriggerAdmin)
		applyT += time.Since(t1)
		previewT += t1.Sub(t0)
		if err == nil && run.Status == model.RunSucceeded {
			applied++
		} else {
			b.Logf("round %d refused: %v", round, err)
		}
	}
	b.StopTimer()
	stop()
	wg.Wait()
	if applied != 10 {
		b.Errorf("%d of 10 console applies went through, want 10", applied)
	}
	b.ReportMetric(float64(applied), "applied-of-10")
	b.ReportMetric(previewT.Seconds()/10, "preview-s")
	b.ReportMetric(applyT.Seconds()/10, "apply-s")
	b.ReportMetric(float64(edits.Load()), "edits")
	b.ReportMetric(float64(editErrs.Load()), "edit-errors")
}

// modifyDir replaces attribute attr of generated user i in srv.
func modifyDir(tb testing.TB, srv *slapdtest.Server, i int, attr, value string) {
	tb.Helper()
	c, err := ldap.DialURL(srv.URL)
	if err != nil {
		tb.Fatalf("ldap dial: %v", err)
	}
	defer c.Close()
	if err := c.Bind(srv.BindDN, srv.Password); err != nil {
		tb.Fatalf("ldap bind: %v", err)
	}
	m := ldap.NewModifyRequest(slapdtest.UserDN(i), nil)
	m.Replace(attr, []string{value})
	if err := c.Modify(m); err != nil {
		tb.Fatalf("ldap modify: %v", err)
	}
}
