package storetest_test

import (
	"context"
	"testing"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

func TestSeed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		storetest.Seed(t, s, 1500, 700)
		users, total, err := s.ListUsers(ctx, model.UserFilter{ListQuery: model.ListQuery{PerPage: 1, Page: 1001}})
		if err != nil || total != 1500 || users[0].Username != "user001000" || len(users[0].Attributes) != 5 {
			t.Fatalf("users: %v total %d %+v", err, total, users)
		}
		devs, total, err := s.ListDevices(ctx, model.DeviceFilter{ListQuery: model.ListQuery{Search: "sn00000699"}})
		if err != nil || total != 1 || devs[0].UserID == 0 || len(devs[0].Attributes) != 3 {
			t.Fatalf("devices: %v total %d %+v", err, total, devs)
		}
		// the sequences moved on: a normal create still works
		if err := s.CreateUser(ctx, &model.User{Username: "after-seed"}); err != nil {
			t.Fatalf("create after seed: %v", err)
		}
		st, err := s.LoadState(ctx)
		if err != nil || len(st.Users) != 1501 || len(st.Devices) != 700 {
			t.Fatalf("LoadState: %v", err)
		}
	})
}
