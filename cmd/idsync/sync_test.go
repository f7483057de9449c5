package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/directory/slapdtest"
	"github.com/idsync/idsync/internal/model"
)

func TestSyncCommand(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{Users: 6, Teams: 1})
	m, _, _ := newTestMain(t, nil)
	ctx := t.Context()
	if err := m.Run(ctx, []string{"migrate"}); err != nil {
		t.Fatal(err)
	}
	actx := model.WithActor(ctx, "test")
	src := srv.Source()
	src.ID = 0
	if err := m.Store.CreateSource(actx, &src); err != nil {
		t.Fatal(err)
	}
	set, _ := m.Store.GetSettings(actx)
	set.ProvisioningEnabled = true
	if err := m.Store.UpdateSettings(actx, set); err != nil {
		t.Fatal(err)
	}
	if err := m.Store.CreateProvisioningMapping(actx, &model.ProvisioningMapping{SourceID: src.ID, GroupDN: "cn=all-staff," + slapdtest.GroupsDN,
		AccountType: model.AccountDeviceEnabled, Nested: true}); err != nil {
		t.Fatal(err)
	}
	m.Close()

	run := func(args ...string) (string, error) {
		t.Helper()
		mm, out, _ := newTestMain(t, nil)
		mm.Env = m.Env
		err := mm.Run(ctx, append([]string{"sync"}, args...))
		mm.Close()
		return out.String(), err
	}
	out, err := run("--check")
	if !errors.Is(err, errPlanNotEmpty) {
		t.Fatalf("sync --check with work to do: err %v, want errPlanNotEmpty\n%s", err, out)
	}
	if !strings.Contains(out, "create_user") || !strings.Contains(out, "nothing was changed") {
		t.Errorf("preview output:\n%s", out)
	}
	out, err = run("--apply")
	if err != nil || !strings.Contains(out, "succeeded") {
		t.Fatalf("sync --apply: %v\n%s", err, out)
	}
	out, err = run("--check")
	if err != nil {
		t.Errorf("sync --check after apply: %v\n%s", err, out)
	}
	if _, err := run("--source", "999"); err == nil {
		t.Error("unknown source accepted")
	}
}
