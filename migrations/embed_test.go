package migrations

import (
	"embed"
	"io/fs"
	"regexp"
	"slices"
	"testing"
)

var versionFile = regexp.MustCompile(`^(\d{5})_[a-z0-9_]+\.sql$`)

func versions(t *testing.T, f embed.FS, dir string) []string {
	t.Helper()
	entries, err := fs.ReadDir(f, dir)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	var out []string
	for _, e := range entries {
		m := versionFile.FindStringSubmatch(e.Name())
		if m == nil {
			t.Errorf("%s/%s: name is not NNNNN_name.sql", dir, e.Name())
			continue
		}
		out = append(out, m[1])
	}
	return out
}

// Both dialects must hold the same version numbers, or a database would
// migrate to a schema the other one never has.
func TestDialectsHaveSameVersions(t *testing.T) {
	pg := versions(t, Postgres, "postgres")
	lite := versions(t, SQLite, "sqlite")
	if len(pg) == 0 {
		t.Fatal("no postgres migrations embedded")
	}
	if !slices.Equal(pg, lite) {
		t.Errorf("migration versions differ:\npostgres: %v\nsqlite:   %v", pg, lite)
	}
	if len(slices.Compact(slices.Clone(pg))) != len(pg) {
		t.Errorf("duplicate version numbers: %v", pg)
	}
}
