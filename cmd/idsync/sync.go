package main

import (
	"context"
	"errors"
)

// runSync is `idsync sync`. Placeholder owned by the sync engineer, who
// replaces this file: parse flags with m.setup(ctx, "sync", args, extra),
// then preview (default) or apply.
func (m *Main) runSync(ctx context.Context, args []string) error {
	_, _ = ctx, args
	return errors.New("sync: not available in this build yet")
}
