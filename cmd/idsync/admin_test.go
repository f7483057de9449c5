package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/model"
)

func TestAdminCommands(t *testing.T) {
	m, _, _ := newTestMain(t, nil)
	ctx := t.Context()
	env := m.Env
	run := func(args ...string) (string, error) {
		t.Helper()
		mm, out, _ := newTestMain(t, nil)
		mm.Env = env
		defer mm.Close()
		err := mm.Run(ctx, args)
		return out.String(), err
	}
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("a long enough password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"ann", "bob"} {
		if _, err := run("admin", "create", "--username", u, "--password-file", pwFile); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := run("admin", "role", "--username", "bob", "--role", "auditor"); err != nil {
		t.Fatal(err)
	}
	// Refusals: a clear message, nothing changes.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"admin", "disable", "--username", "ann"}, "last active administrator"},
		{[]string{"admin", "delete", "--username", "ann"}, "last active administrator"},
		{[]string{"admin", "role", "--username", "ann", "--role", "auditor"}, "last active administrator"},
		{[]string{"admin", "role", "--username", "ann", "--role", "owner"}, "--role must be admin or auditor"},
		{[]string{"admin", "enable", "--username", "nobody"}, "No such account"},
		{[]string{"admin", "frob"}, "want one of"},
	} {
		_, err := run(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
	out, err := run("admin", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []*regexp.Regexp{regexp.MustCompile(`ann\s+admin\s+active\s+local\s+never\s+off\s+0`), regexp.MustCompile(`bob\s+auditor\s+active`)} {
		if !want.MatchString(out) {
			t.Errorf("list output %q lacks %s", out, want)
		}
	}
	out, err = run("admin", "reset-password", "--username", "bob", "--base-url", "https://console.example.test/")
	if err != nil || !regexp.MustCompile(`https://console\.example\.test/reset-password/[A-Za-z0-9_-]{40,}\n`).MatchString(out) {
		t.Errorf("reset-password: %v %q", err, out)
	}
	if _, err := run("admin", "disable", "--username", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := run("admin", "delete", "--username", "bob"); err != nil {
		t.Fatal(err)
	}
	mm, _, _ := newTestMain(t, nil)
	mm.Env = env
	if err := mm.setup(ctx, "test", nil, nil); err != nil {
		t.Fatal(err)
	}
	list, err := mm.Store.ListAdmins(ctx)
	if err != nil || len(list) != 1 || list[0].Username != "ann" || list[0].Role != model.RoleAdmin {
		t.Errorf("accounts left: %+v %v", list, err)
	}
	es, _, _ := mm.Store.ListAudit(ctx, model.ListQuery{})
	if len(es) == 0 || es[0].Actor != "cli" || es[0].Action != "delete" {
		t.Errorf("last audit entry %+v, want a delete by cli", es)
	}
}
