package main

import (
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/model"
)

// TestDemoSourceRegisteredOnce: every start registers the demo directory's
// new port on the one demo source instead of adding another.
func TestDemoSourceRegisteredOnce(t *testing.T) {
	ctx := t.Context()
	var env func(string) string
	for i := 0; i < 2; i++ {
		m, _, _ := newTestMain(t, nil)
		if env != nil {
			m.Env = env
		}
		env = m.Env
		if err := m.setup(ctx, "test", nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := m.startDemo(ctx); err != nil {
			t.Fatal(err)
		}
		srcs, err := m.Store.ListSources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var demos []model.Source
		for _, s := range srcs {
			if s.Demo {
				demos = append(demos, s)
			}
		}
		if len(demos) != 1 {
			t.Fatalf("start %d: %d demo sources, want 1", i+1, len(demos))
		}
		full, err := m.Store.GetSource(ctx, demos[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(full.URLs) != 1 || full.BindPassword == "" {
			t.Fatalf("start %d: demo source %+v", i+1, full)
		}
		// The registered URL is the running demo directory: counting
		// through the directory client would need the sync engine; a bind
		// is enough to prove the port is current.
		if err := ldapBind(full.URLs[0], full.BindDN, full.BindPassword); err != nil {
			t.Errorf("start %d: demo source URL %s does not answer: %v", i+1, full.URLs[0], err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func ldapBind(url, dn, pw string) error {
	conn, err := ldap.DialURL(url)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Bind(dn, pw)
}
