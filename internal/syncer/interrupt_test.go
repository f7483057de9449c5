package syncer_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/idsync/idsync/internal/directory/slapdtest"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

// dumpState returns what a sync decides, as sorted lines that name users,
// groups and products by name (ids differ between two databases): users
// with their status, type and version, attribute values, service group and
// profile memberships with their origin, device values and the product
// outbox.
func dumpState(t *testing.T, st *store.Store) []string {
	t.Helper()
	queries := map[string]string{
		"user": `SELECT username, status, origin, account_type, external_id, dn, disabled_by_sync, version, email, display_name FROM users`,
		"attr": `SELECT u.username, a.key, v.value FROM user_attribute_values v JOIN users u ON u.id = v.user_id JOIN attribute_defs a ON a.id = v.attribute_id`,
		"sg":   `SELECT g.name, u.username, m.manual FROM service_group_members m JOIN users u ON u.id = m.user_id JOIN service_groups g ON g.id = m.service_group_id`,
		"prof": `SELECT p.name, u.username, m.manual FROM profile_members m JOIN users u ON u.id = m.user_id JOIN profiles p ON p.id = m.profile_id`,
		"dev":  `SELECT d.name, a.key, v.value FROM device_attribute_values v JOIN devices d ON d.id = v.device_id JOIN attribute_defs a ON a.id = v.attribute_id`,
		"out": `SELECT p.name, u.username, s.wanted_version, s.deleted FROM product_user_state s JOIN products p ON p.id = s.product_id
			LEFT JOIN users u ON u.id = s.user_id`,
	}
	var out []string
	for tag, q := range queries {
		rows, err := st.DB().Raw(q).Rows()
		if err != nil {
			t.Fatalf("dump %s: %v", tag, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("dump %s: %v", tag, err)
			}
			parts := []string{tag}
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				// SQLite gives booleans as integers.
				if n, ok := v.(int64); ok && (tag == "sg" || tag == "prof") && len(parts) == 3 {
					v = n != 0
				}
				parts = append(parts, fmt.Sprint(v))
			}
			out = append(out, strings.Join(parts, "|"))
		}
		rows.Close()
	}
	slices.Sort(out)
	return out
}

// withPlacements adds what happens only at creation to e's setup: a
// service group whose rules place new users who are in no mapped team, a
// profile with rules, and a webhook product for every user (its outbox is
// compared; nothing is delivered).
func withPlacements(t *testing.T, e *env) {
	t.Helper()
	rules := &model.ServiceGroup{Name: "Berlin office", Rules: []model.Rule{{Attribute: model.AttrLocation, Value: "Berlin"}}}
	if err := e.st.CreateServiceGroup(e.ctx, rules); err != nil {
		t.Fatal(err)
	}
	other := &model.ServiceGroup{Name: "Engineering", Rules: []model.Rule{{Attribute: model.AttrCorporateUnit, Value: "Engineering"}}}
	if err := e.st.CreateServiceGroup(e.ctx, other); err != nil {
		t.Fatal(err)
	}
	prof := &model.Profile{Name: "Paris", Rules: []model.Rule{{Attribute: model.AttrLocation, Value: "Paris"}}, SyncEnabled: true}
	if err := e.st.CreateProfile(e.ctx, prof); err != nil {
		t.Fatal(err)
	}
	p := &model.Product{Name: "Hook", Kind: model.ProductWebhook, BaseURL: "http://127.0.0.1:9/hook", Secret: "hook-secret", AllUsers: true, Enabled: true}
	if err := e.st.CreateProduct(e.ctx, p); err != nil {
		t.Fatal(err)
	}
}

// An apply stopped between any two batches, followed by another apply,
// reaches exactly the state of one clean run: rule placements and initial
// profiles are written with the create, so none is lost (issue 15 item 1).
func TestInterruptedFirstApplyConverges(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			srv := slapdtest.Start(t, slapdtest.Options{Users: 40, Teams: 4})
			clean := setup(t, srv, storetest.Open(t, d))
			withPlacements(t, clean)
			clean.sy.SetBatchSize(4)
			clean.apply(clean.preview(), false)
			want := dumpState(t, clean.st)
			if !slices.ContainsFunc(want, func(l string) bool { return strings.HasPrefix(l, "sg|Berlin office|") }) ||
				!slices.ContainsFunc(want, func(l string) bool { return strings.HasPrefix(l, "prof|Paris|") }) {
				t.Fatalf("the clean run placed nobody by rules: %v", want)
			}

			// Stop after each possible batch in turn, on a fresh database.
			total := clean.preview().Counts["actions"]
			if total != 0 {
				t.Fatalf("after the clean run: %d actions left", total)
			}
			for _, stopAt := range []int{1, 2, 3, 5, 8} {
				t.Run(fmt.Sprintf("stop after batch %d", stopAt), func(t *testing.T) {
					e := setup(t, srv, storetest.Open(t, d))
					withPlacements(t, e)
					e.sy.SetBatchSize(4)
					ctx, cancel := context.WithCancel(e.ctx)
					defer cancel()
					e.sy.SetAfterBatch(func(_ int64, done int) {
						if done >= stopAt*4 {
							cancel()
						}
					})
					prev := e.preview()
					run, err := e.sy.Apply(ctx, prev.ID, false, model.TriggerAdmin)
					if err != nil || run.Status != model.RunCancelled || run.Done != stopAt*4 {
						t.Fatalf("interrupted apply: %v, %s after %d of %d", err, run.Status, run.Done, run.Total)
					}
					e.sy.SetAfterBatch(nil)
					e.apply(e.preview(), false)
					if got := dumpState(t, e.st); !slices.Equal(got, want) {
						t.Errorf("after an interrupted apply and another one, the data differs from a clean run:\n%s", diffLines(want, got))
					}
					if p := e.preview(); p.Counts["actions"] != 0 {
						t.Errorf("%d actions left", p.Counts["actions"])
					}
				})
			}
		})
	}
}

// diffLines lists lines only in want (-) and only in got (+).
func diffLines(want, got []string) string {
	var b strings.Builder
	for _, l := range want {
		if !slices.Contains(got, l) {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range got {
		if !slices.Contains(want, l) {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}

// One apply at a time holds when the lock's connections die and when a
// run loses its lease: a second run is refused while the first is live,
// takes over only once the first stopped renewing, and the first then
// stops before committing another batch, saying why. Nobody is changed
// twice, and the end state is the clean run's (issue 15 item 2).
func TestLostLeaseStopsTheRun(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			srv := slapdtest.Start(t, slapdtest.Options{Users: 40, Teams: 4})
			clean := setup(t, srv, storetest.Open(t, d))
			withPlacements(t, clean)
			clean.apply(clean.preview(), false)
			want := dumpState(t, clean.st)

			e := setup(t, srv, storetest.Open(t, d))
			withPlacements(t, e)
			e.sy.SetBatchSize(4)
			paused, resume := make(chan struct{}), make(chan struct{})
			var first atomic.Bool
			e.sy.SetAfterBatch(func(_ int64, done int) {
				if done == 8 && first.CompareAndSwap(false, true) {
					close(paused)
					<-resume
				}
			})
			prev := e.preview()
			a, err := e.sy.StartApply(e.ctx, prev.ID, false, model.TriggerAdmin)
			if err != nil {
				t.Fatalf("start apply: %v", err)
			}
			<-paused
			if d == store.DialectPostgres {
				// End every other session of this test's own database: the
				// pool's connections die under the running apply.
				var n int
				if err := e.st.DB().Raw(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
					WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n).Error; err != nil {
					t.Fatalf("terminate: %v", err)
				}
			}
			if _, err := e.sy.RunOnce(e.ctx, e.src.ID, model.TriggerAdmin); model.ErrorCode(err) != model.ECONFLICT {
				t.Fatalf("second run while the first is live: got %v, want ECONFLICT in progress", err)
			}
			// The first run stops renewing long enough for its lease to
			// expire (a hung process, a database it cannot reach).
			if err := e.st.DB().Exec("UPDATE apply_lease SET expires_at_ms = 1").Error; err != nil {
				t.Fatal(err)
			}
			b, err := e.sy.RunOnce(e.ctx, e.src.ID, model.TriggerAdmin)
			if err != nil || b.Status != model.RunSucceeded {
				t.Fatalf("run after the lease expired: %v %+v", err, b)
			}
			close(resume)
			e.sy.Wait()
			got, err := e.st.GetRun(e.ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != model.RunFailed || got.Done != 8 || !strings.Contains(got.Error, "lost the apply lock") {
				t.Errorf("the run that lost its lease: %s after %d: %q", got.Status, got.Done, got.Error)
			}
			var twice int64
			e.st.DB().Raw(`SELECT count(*) FROM (SELECT object_id FROM audit_log WHERE actor = 'sync' AND object_type = 'user'
				GROUP BY object_id HAVING count(*) > 1) x`).Scan(&twice)
			if twice != 0 {
				t.Errorf("%d users were changed by both runs", twice)
			}
			if st := dumpState(t, e.st); !slices.Equal(st, want) {
				t.Errorf("end state differs from a clean run:\n%s", diffLines(want, st))
			}
		})
	}
}
