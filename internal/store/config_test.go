package store_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
	"github.com/idsync/idsync/internal/store/storetest"
)

func testSource(name string) *model.Source {
	src := model.DefaultSource(model.SourceOpenLDAP)
	src.Name = name
	src.URLs = []string{"ldap://127.0.0.1:3389"}
	src.BindDN = "cn=admin,dc=example,dc=com"
	src.BindPassword = "s3cret-bind-pw"
	src.UserBaseDN = "ou=people,dc=example,dc=com"
	src.GroupBaseDN = "ou=groups,dc=example,dc=com"
	return &src
}

func TestSourcesSecretAtRest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT()
		src := testSource("Corp LDAP")
		if err := s.CreateSource(ctx, src); err != nil {
			t.Fatal(err)
		}
		var raw string
		if err := s.DB().Raw("SELECT bind_password_sealed FROM sources WHERE id = ?", src.ID).Scan(&raw).Error; err != nil {
			t.Fatal(err)
		}
		if raw == "" || strings.Contains(raw, "s3cret") {
			t.Fatalf("stored password column = %q, want sealed", raw)
		}
		got, err := s.GetSource(ctx, src.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.BindPassword != "s3cret-bind-pw" || got.Attributes.Username != "uid" || got.Timeout != 30*time.Second || got.URLs[0] != src.URLs[0] {
			t.Errorf("GetSource = %+v", got)
		}
		list, _ := s.ListSources(ctx)
		if len(list) != 1 || list[0].BindPassword != "" {
			t.Errorf("ListSources leaks or misses: %+v", list)
		}
		// empty password keeps the stored one
		got.BindPassword = ""
		got.PageSize = 200
		if err := s.UpdateSource(ctx, got); err != nil {
			t.Fatal(err)
		}
		again, _ := s.GetSource(ctx, src.ID)
		if again.BindPassword != "s3cret-bind-pw" || again.PageSize != 200 {
			t.Errorf("after update: pw %q page %d", again.BindPassword, again.PageSize)
		}
		again.BindPassword = "new-pw"
		if err := s.UpdateSource(ctx, again); err != nil {
			t.Fatal(err)
		}
		again, _ = s.GetSource(ctx, src.ID)
		if again.BindPassword != "new-pw" {
			t.Errorf("password not replaced: %q", again.BindPassword)
		}
		es, _, _ := s.ListAudit(ctx, model.ListQuery{PerPage: 100})
		for _, e := range es {
			if strings.Contains(e.Before+e.After+e.Summary, "s3cret") || strings.Contains(e.Before+e.After, "new-pw") {
				t.Errorf("audit entry leaks the password: %+v", e)
			}
		}
		if err := s.RecordSourceTest(ctx, src.ID, time.Now(), "bind failed"); err != nil {
			t.Fatal(err)
		}
		again, _ = s.GetSource(ctx, src.ID)
		if again.LastTestError != "bind failed" || again.LastTestAt.IsZero() {
			t.Errorf("test result not stored: %+v", again)
		}
		// validation
		bad := testSource("")
		bad.URLs = []string{"http://x"}
		bad.UserFilter = "objectClass=person"
		err = s.CreateSource(ctx, bad)
		wantCode(t, err, model.EINVALID)
		for _, f := range []string{"name", "urls", "user_filter"} {
			wantField(t, err, f)
		}
		err = s.CreateSource(ctx, testSource("corp ldap"))
		wantCode(t, err, model.ECONFLICT)
		// a source users come from cannot go
		u := &model.User{Username: "dir", Origin: model.OriginDirectory, SourceID: src.ID, ExternalID: "e-1"}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		err = s.CreateUser(ctx, &model.User{Username: "dir2", Origin: model.OriginDirectory, SourceID: src.ID, ExternalID: "e-1"})
		wantField(t, err, "external_id")
		wantCode(t, s.DeleteSource(ctx, src.ID), model.ECONFLICT)
		if err := s.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteSource(ctx, src.ID); err != nil {
			t.Fatal(err)
		}
		_, err = s.GetSource(ctx, src.ID)
		wantCode(t, err, model.ENOTFOUND)
	})
}

func TestAdmins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT()
		// two concurrent setups: exactly one wins
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.CreateFirstAdmin(ctx, &model.Admin{Username: "root" + string(rune('a'+i)), PasswordHash: "$argon2id$x", Role: model.RoleAdmin})
			}()
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch model.ErrorCode(err) {
			case "":
				wins++
			case model.ECONFLICT:
			default:
				t.Errorf("CreateFirstAdmin: %v", err)
			}
		}
		if n, _ := s.CountAdmins(ctx); wins != 1 || n != 1 {
			t.Fatalf("%d setups won, %d admins; want 1, 1", wins, n)
		}
		a := &model.Admin{Username: "Auditor1", PasswordHash: "$argon2id$y", Role: model.RoleAuditor}
		if err := s.CreateAdmin(ctx, a); err != nil {
			t.Fatal(err)
		}
		err := s.CreateAdmin(ctx, &model.Admin{Username: "auditor1", PasswordHash: "h", Role: model.RoleAdmin})
		wantCode(t, err, model.ECONFLICT)
		wantField(t, err, "username")
		wantField(t, s.CreateAdmin(ctx, &model.Admin{Username: "z", PasswordHash: "h", Role: "god"}), "role")
		got, err := s.GetAdminByUsername(ctx, "AUDITOR1")
		if err != nil || got.ID != a.ID || got.Role != model.RoleAuditor {
			t.Fatalf("by username: %v %+v", err, got)
		}
		_, err = s.GetAdminByUsername(ctx, "nobody")
		wantCode(t, err, model.ENOTFOUND)
		got.PasswordHash = ""
		got.Role = model.RoleAdmin
		if err := s.UpdateAdmin(ctx, got); err != nil {
			t.Fatal(err)
		}
		again, _ := s.GetAdmin(ctx, a.ID)
		if again.PasswordHash != "$argon2id$y" || again.Role != model.RoleAdmin {
			t.Errorf("after update %+v", again)
		}
		at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
		if err := s.TouchAdminLogin(ctx, a.ID, at); err != nil {
			t.Fatal(err)
		}
		again, _ = s.GetAdmin(ctx, a.ID)
		if !again.LastLoginAt.Equal(at) {
			t.Errorf("LastLoginAt = %v, want %v", again.LastLoginAt, at)
		}
		es, _, _ := s.ListAudit(ctx, model.ListQuery{PerPage: 100})
		for _, e := range es {
			if strings.Contains(e.Before+e.After, "argon2id") {
				t.Errorf("audit leaks a password hash: %+v", e)
			}
		}
	})
}

func TestSettings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT()
		st, _ := s.GetSettings(ctx)
		installed := st.InstalledAt
		st.RefreshIntervalHours = 0
		st.RefreshStartTime = "25:00"
		st.DeprovisionAction = "explode"
		err := s.UpdateSettings(ctx, st)
		wantCode(t, err, model.EINVALID)
		for _, f := range []string{"refresh_interval_hours", "refresh_start_time", "deprovision_action"} {
			wantField(t, err, f)
		}
		st, _ = s.GetSettings(ctx)
		if st.RefreshIntervalHours != 48 {
			t.Fatalf("invalid update saved: %+v", st)
		}
		st.RefreshIntervalHours = 24
		st.ProvisioningEnabled = true
		st.InstalledAt = time.Time{}
		if err := s.UpdateSettings(ctx, st); err != nil {
			t.Fatal(err)
		}
		got, _ := s.GetSettings(ctx)
		if got.RefreshIntervalHours != 24 || !got.ProvisioningEnabled || !got.InstalledAt.Equal(installed) {
			t.Errorf("after update %+v", got)
		}
		e := lastAudit(t, s)
		if e.ObjectType != "settings" || !strings.Contains(e.After, "refresh_interval_hours") || strings.Contains(e.After, "auto_profile_sync") {
			t.Errorf("settings audit should hold only the diff: %+v", e)
		}
	})
}

func TestMappings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT()
		src := testSource("Corp")
		if err := s.CreateSource(ctx, src); err != nil {
			t.Fatal(err)
		}
		g := &model.ServiceGroup{Name: "Staff"}
		if err := s.CreateServiceGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
		m := &model.GroupMapping{SourceID: src.ID, GroupDN: "cn=staff,ou=groups,dc=example,dc=com", ServiceGroupID: g.ID, Nested: true, Priority: 10}
		if err := s.CreateGroupMapping(ctx, m); err != nil {
			t.Fatal(err)
		}
		m2 := &model.GroupMapping{SourceID: src.ID, GroupDN: "cn=all, ou=groups, dc=example, dc=com", ServiceGroupID: g.ID, Force: true, Priority: 5}
		if err := s.CreateGroupMapping(ctx, m2); err != nil {
			t.Fatal(err)
		}
		err := s.CreateGroupMapping(ctx, &model.GroupMapping{SourceID: src.ID, GroupDN: "CN=Staff, OU=Groups,DC=example,DC=com", ServiceGroupID: g.ID})
		wantCode(t, err, model.ECONFLICT)
		wantField(t, err, "group_dn")
		err = s.CreateGroupMapping(ctx, &model.GroupMapping{SourceID: 999, GroupDN: "nodn", ServiceGroupID: 999})
		for _, f := range []string{"source_id", "group_dn", "service_group_id"} {
			wantField(t, err, f)
		}
		list, err := s.ListGroupMappings(ctx)
		if err != nil || len(list) != 2 || list[0].ID != m2.ID || list[0].ServiceGroupName != "Staff" || !list[0].Force {
			t.Fatalf("ListGroupMappings %v %+v", err, list)
		}
		m.Priority = 1
		if err := s.UpdateGroupMapping(ctx, m); err != nil {
			t.Fatal(err)
		}
		got, _ := s.GetGroupMapping(ctx, m.ID)
		if got.Priority != 1 {
			t.Errorf("priority %d", got.Priority)
		}
		if err := s.DeleteGroupMapping(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		_, err = s.GetGroupMapping(ctx, m.ID)
		wantCode(t, err, model.ENOTFOUND)

		p := &model.ProvisioningMapping{SourceID: src.ID, GroupDN: "cn=devs,dc=example,dc=com", AccountType: model.AccountDeviceEnabled}
		if err := s.CreateProvisioningMapping(ctx, p); err != nil {
			t.Fatal(err)
		}
		wantField(t, s.CreateProvisioningMapping(ctx, &model.ProvisioningMapping{SourceID: src.ID, GroupDN: "cn=x", AccountType: "root"}), "account_type")
		p.AccountType = model.AccountAdministrator
		if err := s.UpdateProvisioningMapping(ctx, p); err != nil {
			t.Fatal(err)
		}
		pl, _ := s.ListProvisioningMappings(ctx)
		if len(pl) != 1 || pl[0].AccountType != model.AccountAdministrator {
			t.Errorf("provisioning mappings %+v", pl)
		}
		// deleting the service group removes its mappings
		if err := s.DeleteServiceGroup(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
		if list, _ := s.ListGroupMappings(ctx); len(list) != 0 {
			t.Errorf("mappings left after group delete: %+v", list)
		}
		if err := s.DeleteProvisioningMapping(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.DeleteProvisioningMapping(ctx, p.ID), model.ENOTFOUND)
	})
}

func TestLoadStateAndTx(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT()
		u1 := mustUser(t, s, "ivy", model.Attributes{model.AttrLocation: "Oslo"})
		u2 := mustUser(t, s, "jack", model.Attributes{model.AttrTitle: "CTO", model.AttrCostCenter: "CC-9"})
		g := &model.ServiceGroup{Name: "G"}
		p := &model.Profile{Name: "P", Rules: []model.Rule{{Attribute: model.AttrLocation, Value: "Oslo"}}, SyncEnabled: true}
		storetest.Must(t, s.CreateServiceGroup(ctx, g))
		storetest.Must(t, s.CreateProfile(ctx, p))
		storetest.Must(t, s.AddServiceGroupMember(ctx, g.ID, u2.ID))
		storetest.Must(t, s.AddSyncedProfileMember(ctx, p.ID, u1.ID))
		d := &model.Device{Name: "d", UserID: u1.ID, Attributes: model.Attributes{model.AttrLocation: "Oslo"}}
		storetest.Must(t, s.CreateDevice(ctx, d))

		st, err := s.LoadState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Users) != 2 || st.Users[0].Username != "ivy" || st.Users[1].Attributes[model.AttrCostCenter] != "CC-9" || st.Users[0].Attributes[model.AttrLocation] != "Oslo" {
			t.Errorf("users %+v", st.Users)
		}
		if len(st.Devices) != 1 || st.Devices[0].UserID != u1.ID || st.Devices[0].Attributes[model.AttrLocation] != "Oslo" {
			t.Errorf("devices %+v", st.Devices)
		}
		if len(st.ServiceGroups) != 1 || len(st.ServiceGroupMembers) != 1 || st.ServiceGroupMembers[0] != (model.Membership{GroupID: g.ID, UserID: u2.ID, Manual: true}) {
			t.Errorf("service groups %+v %+v", st.ServiceGroups, st.ServiceGroupMembers)
		}
		if len(st.Profiles) != 1 || !st.Profiles[0].SyncEnabled || len(st.Profiles[0].Rules) != 1 || st.ProfileMembers[0] != (model.Membership{GroupID: p.ID, UserID: u1.ID}) {
			t.Errorf("profiles %+v %+v", st.Profiles, st.ProfileMembers)
		}
		if len(st.AttributeDefs) != 7 || st.Settings.RefreshIntervalHours != 48 {
			t.Errorf("defs %d, settings %+v", len(st.AttributeDefs), st.Settings)
		}

		// Tx: all or nothing
		err = s.Tx(ctx, func(tx *store.Store) error {
			if err := tx.CreateUser(ctx, &model.User{Username: "kim"}); err != nil {
				return err
			}
			return tx.CreateUser(ctx, &model.User{Username: "IVY"}) // conflict
		})
		wantCode(t, err, model.ECONFLICT)
		if n := count(t, s, "users"); n != 2 {
			t.Errorf("Tx half-applied: %d users", n)
		}
		err = s.Tx(ctx, func(tx *store.Store) error {
			if err := tx.CreateUser(ctx, &model.User{Username: "kim"}); err != nil {
				return err
			}
			st, err := tx.LoadState(ctx)
			if err != nil {
				return err
			}
			if len(st.Users) != 3 {
				t.Errorf("LoadState in Tx sees %d users, want 3", len(st.Users))
			}
			return nil
		})
		if err != nil || count(t, s, "users") != 3 {
			t.Errorf("Tx commit: %v", err)
		}
	})
}

// idsync's PostgreSQL sessions run without the JIT compiler (see pgDSN).
func TestPostgresSessionsHaveJITOff(t *testing.T) {
	st := storetest.Open(t, store.DialectPostgres)
	var jit string
	if err := st.DB().Raw("SHOW jit").Scan(&jit).Error; err != nil {
		t.Fatal(err)
	}
	if jit != "off" {
		t.Errorf("jit = %q, want off", jit)
	}
}
