package store

import "testing"

func TestPgDSNTurnsJITOff(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u@h:5432/db":                   "postgres://u@h:5432/db?jit=off",
		"postgres://u@h/db?sslmode=disable":        "postgres://u@h/db?jit=off&sslmode=disable",
		"postgresql://u:p%40ss@h/db?jit=on":        "postgresql://u:p%40ss@h/db?jit=on",
		"postgres://u@h/db?sslmode=require&jit=on": "postgres://u@h/db?sslmode=require&jit=on",
	} {
		if got := pgDSN(in); got != want {
			t.Errorf("pgDSN(%q) = %q, want %q", in, got, want)
		}
	}
}
