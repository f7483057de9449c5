package faultinject

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	f, err := parse("apply.before-batch=kill@2, products.during-delivery=pause")
	if err != nil {
		t.Fatal(err)
	}
	if g := f[ApplyBeforeBatch]; g == nil || g.action != "kill" || g.at != 2 {
		t.Errorf("before-batch = %+v", g)
	}
	if g := f[ProductsDuringDelivery]; g == nil || g.action != "pause" || g.at != 1 {
		t.Errorf("during-delivery = %+v", g)
	}
	for _, bad := range []string{"apply.before-batch", "nowhere=kill", "apply.before-batch=explode", "apply.before-batch=kill@0", "apply.before-batch=kill@x"} {
		if _, err := parse(bad); err == nil {
			t.Errorf("parse(%q) accepted", bad)
		}
	}
}

// Unset, Hit does nothing.
func TestDisabled(t *testing.T) {
	if enabled {
		t.Skip("IDSYNC_FAULTS is set in this process")
	}
	for range 3 {
		Hit(ApplyBeforeBatch)
	}
}

// child runs this test binary as a process that hits point three times,
// printing "hit N" after each.
func child(t *testing.T, faults string, extra ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$")
	cmd.Env = append(os.Environ(), "FAULTINJECT_CHILD=1", Env+"="+faults)
	cmd.Env = append(cmd.Env, extra...)
	return cmd
}

func TestChild(t *testing.T) {
	if os.Getenv("FAULTINJECT_CHILD") != "1" {
		return
	}
	for i := 1; i <= 3; i++ {
		Hit(ApplyBeforeCommit)
		os.Stdout.WriteString("hit " + string(rune('0'+i)) + "\n")
	}
}

func TestKillAtNthHit(t *testing.T) {
	out, err := child(t, ApplyBeforeCommit+"=kill@2").Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ProcessState.String() != "signal: killed" {
		t.Fatalf("err = %v, want killed", err)
	}
	if string(out) != "hit 1\n" {
		t.Errorf("output %q, want only the first hit", out)
	}
}

func TestPauseUntilResume(t *testing.T) {
	dir := t.TempDir()
	cmd := child(t, ApplyBeforeCommit+"=pause@3", DirEnv+"="+dir)
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	paused := filepath.Join(dir, ApplyBeforeCommit+".paused")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(paused); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("child never paused")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if cmd.ProcessState != nil {
		t.Fatal("child exited while paused")
	}
	if err := os.WriteFile(filepath.Join(dir, ApplyBeforeCommit+".resume"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	if !strings.Contains(out.String(), "hit 2\nhit 3\n") {
		t.Errorf("output %q", out.String())
	}
}

func TestMalformedExits(t *testing.T) {
	out, err := child(t, "apply.before-batch=explode").CombinedOutput()
	if err == nil || !strings.Contains(string(out), Env) {
		t.Errorf("err %v, output %s", err, out)
	}
}
