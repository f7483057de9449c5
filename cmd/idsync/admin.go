package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/idsync/idsync/internal/auth"
	"github.com/idsync/idsync/internal/model"
)

// runAdmin is `idsync admin create --username NAME --password-file FILE --role admin|auditor`.
// The password comes from a file ("-" = standard input) so it never shows
// in the process list or the shell history.
func (m *Main) runAdmin(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return fmt.Errorf("%w: admin: want \"admin create --username NAME --password-file FILE --role admin|auditor\"", errUsage)
	}
	var username, passwordFile, role string
	extra := func(fs *flag.FlagSet) {
		fs.StringVar(&username, "username", "", "account name")
		fs.StringVar(&passwordFile, "password-file", "", "file holding the password (- = standard input)")
		fs.StringVar(&role, "role", "admin", "admin | auditor (read-only)")
	}
	// Validate before touching the database: bad input changes nothing.
	if err := m.loadConfig("admin create", args[1:], extra); err != nil {
		return err
	}
	if passwordFile == "" {
		return fmt.Errorf("%w: admin create: --password-file is required", errUsage)
	}
	var raw []byte
	var err error
	if passwordFile == "-" {
		raw, err = readAllLimited(m.Stdin)
	} else {
		raw, err = os.ReadFile(passwordFile) // #nosec: the operator names the file
	}
	if err != nil {
		return fmt.Errorf("admin create: read password: %w", err)
	}
	password := strings.TrimRight(string(raw), "\r\n")
	if r := model.Role(role); r != model.RoleAdmin && r != model.RoleAuditor {
		return fmt.Errorf("%w: admin create: --role must be admin or auditor", errUsage)
	}
	if fields := auth.ValidateAccount(username, password, password); fields != nil {
		msgs := []string{}
		for _, k := range []string{"username", "password"} {
			if fields[k] != "" {
				msgs = append(msgs, k+": "+fields[k])
			}
		}
		return fmt.Errorf("%w: admin create: %s", errUsage, strings.Join(msgs, " "))
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return fmt.Errorf("admin create: %w", err)
	}
	if err := m.openStore(ctx, "admin create"); err != nil {
		return err
	}
	a := &model.Admin{Username: username, PasswordHash: hash, Role: model.Role(role)}
	if err := m.Store.CreateAdmin(model.WithActor(ctx, "cli"), a); err != nil {
		if code := model.ErrorCode(err); code == model.ECONFLICT || code == model.EINVALID {
			return fmt.Errorf("admin create: %s", strings.TrimPrefix(err.Error(), code+": "))
		}
		return fmt.Errorf("admin create: %w", err)
	}
	fmt.Fprintf(m.Stdout, "created %s account %q\n", a.Role, a.Username)
	return nil
}

// readAllLimited reads a password from r, refusing anything absurdly long.
func readAllLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return nil, err
	}
	return b, nil
}
