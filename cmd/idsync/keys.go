package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/secret"
)

// runRotateSecretKey is `idsync rotate-secret-key`: it generates a new
// secret key, re-seals every stored secret with it in one transaction and
// puts the new key where the old one was read from (or in --new-key-file).
// Stop every idsync process first: a running server keeps the old key.
//
// The new key is written to FILE.new before the database changes, and
// renamed over FILE after the commit, so that no moment exists in which
// the database is sealed with a key that is on no disk.
func (m *Main) runRotateSecretKey(ctx context.Context, args []string) error {
	const name = "rotate-secret-key"
	var newFile string
	if err := m.setup(ctx, name, args, func(fs *flag.FlagSet) {
		fs.StringVar(&newFile, "new-key-file", "", "write the new key here (default: the current key file)")
	}); err != nil {
		return err
	}
	target := newFile
	if target == "" {
		target = m.Config.SecretKeyFile
	}
	if target == "" {
		return fmt.Errorf("%s: %w: the secret key was given inline (--secret-key / IDSYNC_SECRET_KEY); pass --new-key-file FILE to receive the new key", name, errUsage)
	}
	key, tmp, err := newKeyBeside(target)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	n, err := m.Store.RotateSecretKey(model.WithActor(ctx, "cli"), key)
	if err != nil {
		_ = os.Remove(tmp)
		if model.ErrorCode(err) == model.EINVALID {
			return fmt.Errorf("%s: %s Nothing was changed", name, model.ErrorMessage(err))
		}
		return fmt.Errorf("%s: nothing was changed: %w", name, err)
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("%s: the %d secrets are sealed with the new key, which is in %s, but it could not replace %s: %w; move it there by hand before starting idsync",
			name, n, tmp, target, err)
	}
	fmt.Fprintf(m.Stdout, "Re-sealed %d stored secrets with a new secret key, now in %s.\n", n, target)
	if newFile != "" && m.Config.SecretKeyFile != newFile {
		fmt.Fprintf(m.Stdout, "Start idsync with --secret-key-file %s (IDSYNC_SECRET_KEY_FILE) from now on.\n", newFile)
	}
	fmt.Fprintln(m.Stdout, "Start every idsync process again with the new key. Backups taken before now still need the old key.")
	return nil
}

// runRotateSessionKey is `idsync rotate-session-key`: a new session key in
// the session key file. Every session ends when idsync restarts with it.
func (m *Main) runRotateSessionKey(ctx context.Context, args []string) error {
	const name = "rotate-session-key"
	if err := m.loadConfig(name, args, nil); err != nil {
		return err
	}
	target := m.Config.SessionKeyFile
	if target == "" {
		return fmt.Errorf("%s: %w: the session key was given inline (--session-key / IDSYNC_SESSION_KEY); set a new 64-hex-character value there instead", name, errUsage)
	}
	_, tmp, err := newKeyBeside(target)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := os.Rename(tmp, target); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("%s: replace %s: %w", name, target, err)
	}
	fmt.Fprintf(m.Stdout, "Wrote a new session key to %s. Restart idsync: every session ends and everybody signs in again.\n", target)
	return nil
}

// newKeyBeside generates a key and writes it to target+".new", which it returns.
func newKeyBeside(target string) ([]byte, string, error) {
	key, err := secret.NewKey()
	if err != nil {
		return nil, "", err
	}
	tmp := target + ".new"
	return key, tmp, writeKeyFile(tmp, key)
}

// writeKeyFile creates path (mode 0600, which must not exist) holding key in hex.
func writeKeyFile(path string, key []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists, left by an earlier rotation that did not finish: check which key the database needs, then remove it", path)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := fmt.Fprintln(f, hex.EncodeToString(key)); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
