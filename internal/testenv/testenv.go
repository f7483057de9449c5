// Package testenv decides what a test does when a server it needs (slapd,
// PostgreSQL, Chromium, initdb…) is missing: on a developer's machine it
// skips, with CI set (CI=true, as CI systems export) it fails, so a CI run
// can never pass by skipping what it was meant to test. Every helper that
// needs an installed dependency calls Missing instead of tb.Skip.
package testenv

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// CI reports whether the CI environment variable is set to a true value
// (anything but "", "0", "false", "no").
func CI() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("CI"))) {
	case "", "0", "false", "no":
		return false
	}
	return true
}

// Missing ends tb because a dependency is missing: it skips, or with CI
// set fails. The message should name the dependency and the package that
// installs it.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		tb.Fatalf("%s (CI is set: a missing dependency fails the test)", msg)
	}
	tb.Skipf("%s (skipped; with CI=true this fails)", msg)
}
