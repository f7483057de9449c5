package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/idsync/idsync/internal/auth"
	"github.com/idsync/idsync/internal/config"
	"github.com/idsync/idsync/internal/model"
)

const adminUsage = `admin: want one of
  admin list
  admin create --username NAME --password-file FILE [--role admin|auditor]
  admin disable|enable|delete --username NAME
  admin role --username NAME --role admin|auditor
  admin reset-password --username NAME [--base-url https://console.example]`

// runAdmin is `idsync admin list | create | disable | enable | delete |
// role | reset-password`.
func (m *Main) runAdmin(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, adminUsage)
	}
	switch args[0] {
	case "create":
		return m.runAdminCreate(ctx, args)
	case "list":
		return m.runAdminList(ctx, args[1:])
	case "disable", "enable", "delete", "role", "reset-password":
		return m.runAdminChange(ctx, args[0], args[1:])
	}
	return fmt.Errorf("%w: %s", errUsage, adminUsage)
}

// runAdminCreate is `idsync admin create --username NAME --password-file
// FILE --role admin|auditor`. The password comes from a file ("-" =
// standard input) so it never shows in the process list or the shell
// history.
func (m *Main) runAdminCreate(ctx context.Context, args []string) error {
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

// runAdminList prints every console account.
func (m *Main) runAdminList(ctx context.Context, args []string) error {
	if err := m.setup(ctx, "admin list", args, nil); err != nil {
		return err
	}
	list, err := m.Store.ListAccounts(ctx, time.Now(), sessionIdle(m.Config))
	if err != nil {
		return fmt.Errorf("admin list: %w", err)
	}
	w := tabwriter.NewWriter(m.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "USERNAME\tROLE\tSTATUS\tSIGN-IN\tLAST SIGN-IN\tMFA\tSESSIONS")
	for _, a := range list {
		signIn, last, mfa := "local", "never", "off"
		if a.Directory() {
			signIn = fmt.Sprintf("directory (source %d)", a.AuthSourceID)
		}
		if !a.LastLoginAt.IsZero() {
			last = a.LastLoginAt.Format(time.RFC3339)
		}
		if a.MFAEnabled {
			mfa = "on"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", a.Username, a.Role, a.Status, signIn, last, mfa, a.OpenSessions)
	}
	return w.Flush()
}

func sessionIdle(c *config.Config) time.Duration {
	if c.SessionIdleTimeout > 0 {
		return c.SessionIdleTimeout
	}
	return 30 * time.Minute
}

// runAdminChange is disable | enable | delete | role | reset-password for
// one account named by --username. Every change is audited with the
// actor "cli"; a refusal (the last active admin, an unknown role) changes
// nothing.
func (m *Main) runAdminChange(ctx context.Context, verb string, args []string) error {
	name := "admin " + verb
	var username, role, baseURL string
	extra := func(fs *flag.FlagSet) {
		fs.StringVar(&username, "username", "", "account name")
		if verb == "role" {
			fs.StringVar(&role, "role", "", "admin | auditor (read-only)")
		}
		if verb == "reset-password" {
			fs.StringVar(&baseURL, "base-url", "", "the console's address as users reach it (default from --addr)")
		}
	}
	if err := m.loadConfig(name, args, extra); err != nil {
		return err
	}
	if username == "" {
		return fmt.Errorf("%w: %s: --username is required", errUsage, name)
	}
	if verb == "role" && !model.ValidRole(model.Role(role)) {
		return fmt.Errorf("%w: %s: --role must be admin or auditor", errUsage, name)
	}
	if err := m.openStore(ctx, name); err != nil {
		return err
	}
	actx := model.WithActor(ctx, "cli")
	a, err := m.Store.GetAdminByUsername(ctx, username)
	if err != nil {
		return cliErr(name, err)
	}
	switch verb {
	case "disable":
		_, err = m.Store.SetAdminStatus(actx, a.ID, model.AccountDisabled)
	case "enable":
		_, err = m.Store.SetAdminStatus(actx, a.ID, model.AccountActive)
	case "delete":
		_, err = m.Store.DeleteAdmin(actx, a.ID)
	case "role":
		_, err = m.Store.SetAdminRole(actx, a.ID, model.Role(role))
	case "reset-password":
		tok := auth.NewToken()
		ends := time.Now().Add(auth.ResetLinkLifetime)
		if _, err = m.Store.CreatePasswordReset(actx, a.ID, auth.TokenHash(tok), ends); err == nil {
			if baseURL == "" {
				scheme := "http"
				if m.Config.TLS() {
					scheme = "https"
				}
				baseURL = scheme + "://" + m.Config.Addr
			}
			fmt.Fprintf(m.Stdout, "one-time password-reset link for %q (valid until %s, shown only now):\n%s/reset-password/%s\n",
				a.Username, ends.UTC().Format(time.RFC3339), strings.TrimRight(baseURL, "/"), tok)
			return nil
		}
	}
	if err != nil {
		return cliErr(name, err)
	}
	fmt.Fprintf(m.Stdout, "%s: done for %q\n", name, a.Username)
	return nil
}

// cliErr shows a refusal's message without the code prefix.
func cliErr(name string, err error) error {
	switch code := model.ErrorCode(err); code {
	case model.ECONFLICT, model.EINVALID, model.ENOTFOUND, model.EFORBIDDEN:
		return fmt.Errorf("%s: %s", name, model.ErrorMessage(err))
	}
	return fmt.Errorf("%s: %w", name, err)
}
