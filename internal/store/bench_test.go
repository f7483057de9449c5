package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store/storetest"
)

// benchSize is the number of users and of devices the benchmarks seed:
// IDSYNC_BENCH_USERS, default 100,000.
func benchSize(b *testing.B) int {
	if v := os.Getenv("IDSYNC_BENCH_USERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("IDSYNC_BENCH_USERS=%q: want a positive number", v)
		}
		return n
	}
	return 100_000
}

// BenchmarkLists times the list queries behind the users and devices pages
// (one page of 50 with attributes, plus the total) at 100k users and 100k
// devices, on each database.
func BenchmarkLists(b *testing.B) {
	n := benchSize(b)
	for _, dialect := range storetest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			s := storetest.Open(b, dialect)
			storetest.Seed(b, s, n, n)
			ctx := context.Background()
			middle := n / 50 / 2
			users := map[string]model.UserFilter{
				"users/first":                    {},
				"users/middle":                   {ListQuery: model.ListQuery{Page: middle}},
				"users/search":                   {ListQuery: model.ListQuery{Search: fmt.Sprintf("user%06d", n/2)[:9]}},
				"users/search_broad":             {ListQuery: model.ListQuery{Search: "weber"}},
				"users/sort_display_name_middle": {ListQuery: model.ListQuery{Sort: "display_name", Page: middle}},
			}
			for _, name := range []string{"users/first", "users/middle", "users/search", "users/search_broad", "users/sort_display_name_middle"} {
				f := users[name]
				b.Run(name, func(b *testing.B) {
					for b.Loop() {
						rows, total, err := s.ListUsers(ctx, f)
						if err != nil || len(rows) == 0 || total == 0 {
							b.Fatalf("ListUsers: %v (%d rows, total %d)", err, len(rows), total)
						}
					}
				})
			}
			devices := map[string]model.DeviceFilter{
				"devices/first":  {},
				"devices/middle": {ListQuery: model.ListQuery{Page: middle}},
				"devices/search": {ListQuery: model.ListQuery{Search: fmt.Sprintf("sn%08d", n/2)[:9]}},
			}
			for _, name := range []string{"devices/first", "devices/middle", "devices/search"} {
				f := devices[name]
				b.Run(name, func(b *testing.B) {
					for b.Loop() {
						rows, total, err := s.ListDevices(ctx, f)
						if err != nil || len(rows) == 0 || total == 0 {
							b.Fatalf("ListDevices: %v (%d rows, total %d)", err, len(rows), total)
						}
					}
				})
			}
			b.Run("LoadState", func(b *testing.B) {
				for b.Loop() {
					st, err := s.LoadState(ctx)
					if err != nil || len(st.Users) != n || len(st.Devices) != n {
						b.Fatalf("LoadState: %v", err)
					}
				}
			})
		})
	}
}

// BenchmarkSeed times storetest.Seed itself (users and devices, 100k each).
func BenchmarkSeed(b *testing.B) {
	n := benchSize(b)
	for _, dialect := range storetest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				s := storetest.Open(b, dialect)
				b.StartTimer()
				storetest.Seed(b, s, n, n)
			}
		})
	}
}
