package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"
)

// ResetLinkLifetime is how long a one-time password-reset link works.
const ResetLinkLifetime = 24 * time.Hour

// NewToken returns a random URL-safe token of 256 bits.
func NewToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// TokenHash is what the database keeps of a one-time token (a reset link,
// a recovery code): tokens are random, so a fast hash is enough, and a
// copy of the database yields no usable token.
func TokenHash(tok string) string {
	h := sha256.Sum256([]byte("idsync token " + tok))
	return hex.EncodeToString(h[:])
}
