package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/idsync/idsync/internal/model"
)

// runBackup is `idsync backup --output FILE`: a consistent copy of the
// SQLite database, safe while the server runs. PostgreSQL is backed up
// with pg_dump. Neither copy is usable without the secret key, which it
// does not contain.
func (m *Main) runBackup(ctx context.Context, args []string) error {
	var out string
	if err := m.setup(ctx, "backup", args, func(fs *flag.FlagSet) {
		fs.StringVar(&out, "output", "", "file to write the SQLite copy to (must not exist)")
	}); err != nil {
		return err
	}
	if out == "" {
		return fmt.Errorf("backup: %w: --output FILE is required", errUsage)
	}
	if err := m.Store.BackupSQLite(ctx, out); err != nil {
		if model.ErrorCode(err) == model.EINVALID {
			return fmt.Errorf("backup: %s", model.ErrorMessage(err))
		}
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(m.Stdout, "Wrote a copy of the database to %s. Keep the secret key (%s) with it, but not in the same place: the copy's stored secrets need it.\n",
		out, keyWhere(m.Config.SecretKeyFile))
	return nil
}

func keyWhere(file string) string {
	if file == "" {
		return "given inline"
	}
	return file
}
