package model

import (
	"slices"
	"strings"
)

// A stored secret (a source's bind password, a product's token) was typed
// for one host and one account. When an edit points it elsewhere, the
// secret must be typed again: otherwise anyone who can edit the object
// could send the stored secret to a host they control.

// SourceSecretReusable reports whether next may keep old's stored bind
// password: the server URLs and the bind name are unchanged.
func SourceSecretReusable(old, next *Source) bool {
	return slices.EqualFunc(old.URLs, next.URLs, func(a, b string) bool { return strings.TrimSpace(a) == strings.TrimSpace(b) }) &&
		strings.TrimSpace(old.BindDN) == strings.TrimSpace(next.BindDN)
}

// ProductSecretReusable reports whether next may keep old's stored
// secret: the base URL is unchanged.
func ProductSecretReusable(old, next *Product) bool {
	return strings.TrimSpace(old.BaseURL) == strings.TrimSpace(next.BaseURL)
}

// Messages for the secret fields when an edit needs the secret again.
// (gosec's G101 takes their names for hard-coded credentials.)
//
//nolint:gosec // G101: user-facing messages, not credentials
const (
	MsgBindPasswordAgain  = "The server URLs or the bind name changed: enter the bind password again (the stored one is only sent to the server it was entered for)."
	MsgProductSecretAgain = "The URL changed: enter the secret again (the stored one is only sent to the URL it was entered for)."
)
