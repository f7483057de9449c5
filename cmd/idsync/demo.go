package main

import "context"

// startDemo starts the embedded demo directory and registers it as a
// source (see registerDemoSource).
//
// TODO(web platform): call demo.Start(ctx, m.Logger) from internal/demo once
// that package has landed:
//
//	d, err := demo.Start(ctx, m.Logger)
//	if err != nil { return fmt.Errorf("serve: demo: %w", err) }
//	m.onClose(func() error { d.Close(); return nil })
//	return m.registerDemoSource(ctx, d.Source())
func (m *Main) startDemo(ctx context.Context) error {
	m.Logger.Warn("serve: --demo: the embedded demo directory is not built into this binary yet")
	_ = ctx
	return nil
}
