package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/idsync/idsync/internal/model"
)

// BackupSQLite writes a consistent copy of a SQLite database to path with
// VACUUM INTO, which reads in one transaction, so it is safe while idsync
// runs. The file is created with mode 0600 and must not exist. On
// PostgreSQL it returns EINVALID: use pg_dump there.
func (s *Store) BackupSQLite(ctx context.Context, path string) error {
	if s.dialect != DialectSQLite {
		return model.Errorf(model.EINVALID, "This database is PostgreSQL: back it up with pg_dump -Fc (see docs/SECURITY.md).")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return model.Errorf(model.EINVALID, "%s exists already; choose a new file name.", path)
	}
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := s.db.WithContext(ctx).Exec("VACUUM INTO ?", path).Error; err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("store: backup to %s: %w", path, err)
	}
	return nil
}
