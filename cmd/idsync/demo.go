package main

import (
	"context"
	"fmt"

	"github.com/idsync/idsync/internal/demo"
)

// startDemo starts the embedded demo directory on a free loopback port and
// registers it as a source (or points the existing demo source at the new
// port). The directory stops on Close.
func (m *Main) startDemo(ctx context.Context) error {
	d, err := demo.Start(ctx, m.Logger)
	if err != nil {
		return fmt.Errorf("serve: demo: %w", err)
	}
	m.onClose(d.Close)
	return m.registerDemoSource(ctx, d.Source())
}
