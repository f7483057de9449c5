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

	// A held plan: the mapped group disappears from the directory, its
	// mapping has force on, so its synced members would be removed.
	m2, _, _ := newTestMain(t, nil)
	m2.Env = m.Env
	if err := m2.Run(ctx, []string{"migrate"}); err != nil {
		t.Fatal(err)
	}
	sg := &model.ServiceGroup{Name: "Team"}
	if err := m2.Store.CreateServiceGroup(actx, sg); err != nil {
		t.Fatal(err)
	}
	gm := &model.GroupMapping{SourceID: src.ID, GroupDN: slapdtest.TeamDN(0), ServiceGroupID: sg.ID, Force: true}
	if err := m2.Store.CreateGroupMapping(actx, gm); err != nil {
		t.Fatal(err)
	}
	m2.Close()
	if out, err := run("--apply"); err != nil {
		t.Fatalf("sync --apply of the mapping: %v\n%s", err, out)
	}
	m3, _, _ := newTestMain(t, nil)
	m3.Env = m.Env
	if err := m3.Run(ctx, []string{"migrate"}); err != nil {
		t.Fatal(err)
	}
	gm.GroupDN = "cn=gone," + slapdtest.GroupsDN
	if err := m3.Store.UpdateGroupMapping(actx, gm); err != nil {
		t.Fatal(err)
	}
	m3.Close()
	out, err = run("--apply")
	if exitCode(err) != exitHeld || !strings.Contains(out, "held") {
		t.Errorf("sync --apply of a held plan: exit %d (%v), want %d\n%s", exitCode(err), err, exitHeld, out)
	}
}

// Every outcome short of a complete apply has its own exit status.
func TestApplyExit(t *testing.T) {
	inProgress := model.Errorf(model.ECONFLICT, "A sync run is in progress. Try again when it has finished.")
	failed := model.Errorf(model.ECONFLICT, "Actions 1–7 failed and were rolled back")
	for _, tc := range []struct {
		name  string
		run   *model.Run
		err   error
		stale bool
		want  int
	}{
		{"complete", &model.Run{Status: model.RunSucceeded, Done: 9, Total: 9}, nil, false, 0},
		{"busy", nil, inProgress, false, exitBusy},
		{"refused before a run", nil, model.Errorf(model.EINVALID, "Run 3 is not a preview."), false, exitFailed},
		{"held", &model.Run{Status: model.RunHeld}, model.Errorf(model.ECONFLICT, "held"), false, exitHeld},
		{"stale", &model.Run{Status: model.RunFailed}, model.Errorf(model.ECONFLICT, "preview again"), true, exitStale},
		{"cancelled before a batch", &model.Run{Status: model.RunCancelled, Total: 9}, nil, false, exitCancelled},
		{"cancelled after a batch", &model.Run{Status: model.RunCancelled, Done: 3, Total: 9}, nil, false, exitPartial},
		{"failed before a batch", &model.Run{Status: model.RunFailed, Total: 9}, failed, false, exitFailed},
		{"failed after a batch", &model.Run{Status: model.RunFailed, Done: 7, Total: 9}, failed, false, exitPartial},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := applyExit(tc.run, tc.err, tc.stale); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
	codes := map[int]bool{0: true, 1: true, 2: true}
	for _, c := range []int{exitHeld, exitStale, exitCancelled, exitFailed, exitPartial, exitBusy} {
		if codes[c] {
			t.Errorf("exit status %d used twice", c)
		}
		codes[c] = true
	}
}
