// Package auth hashes console passwords with argon2id and limits sign-in
// attempts. It holds no state beyond what its constructors return.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultParams follow RFC 9106's second recommended option (64 MiB, t=3).
var defaultParams = Params{Memory: 64 * 1024, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 32}

// DefaultParams returns the parameters HashPassword uses.
func DefaultParams() Params { return defaultParams }

// MinPasswordLen is the shortest password accepted for a console account.
const MinPasswordLen = 12

// MaxPasswordLen bounds the work one sign-in attempt can cause.
const MaxPasswordLen = 256

// usernameRE is what a console account name may look like.
var usernameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ValidateAccount returns per-field messages (username, password,
// password_confirm) for a new console account, or nil when it is fine.
func ValidateAccount(username, password, confirm string) map[string]string {
	f := map[string]string{}
	if !usernameRE.MatchString(username) {
		f["username"] = "Use 1–64 letters, digits, dots, dashes, underscores or @, starting with a letter or digit."
	}
	if msg := CheckPasswordPolicy(password); msg != "" {
		f["password"] = msg
	} else if password != confirm {
		f["password_confirm"] = "The passwords do not match."
	}
	if len(f) == 0 {
		return nil
	}
	return f
}

// ErrMismatch is returned by CheckPassword for a wrong password.
var ErrMismatch = errors.New("auth: password does not match")

// CheckPasswordPolicy returns a user-facing reason when pw is not acceptable, or "".
func CheckPasswordPolicy(pw string) string {
	switch {
	case len([]rune(pw)) < MinPasswordLen:
		return fmt.Sprintf("Use at least %d characters.", MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return fmt.Sprintf("Use at most %d characters.", MaxPasswordLen)
	}
	return ""
}

// HashPassword returns pw hashed with argon2id in the PHC string format
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash). It fails only when the system
// random source does.
func HashPassword(pw string) (string, error) { return HashPasswordParams(pw, defaultParams) }

// HashPasswordParams is HashPassword with explicit parameters (tests use cheap ones).
func HashPasswordParams(pw string, p Params) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword compares pw with a hash made by HashPassword in constant
// time. It returns nil on a match, ErrMismatch on a wrong password and
// another error when hash is malformed.
func CheckPassword(hash, pw string) error {
	p, salt, key, err := decodeHash(hash)
	if err != nil {
		return err
	}
	if len(pw) > MaxPasswordLen {
		return ErrMismatch
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return ErrMismatch
	}
	return nil
}

// DummyCheck spends the same time as CheckPassword on a real hash, so that
// a sign-in for an unknown account is not faster than one with a wrong password.
func DummyCheck(pw string) {
	_ = CheckPassword(dummyHash, pw)
}

// dummyHash is a valid hash of a random string with the default parameters.
const dummyHash = "$argon2id$v=19$m=65536,t=3,p=2$c29tZXNhbHRzb21lc2FsdA$2V4cTlm1YQ6zJ9TvfnGyJfQvT3N2E9eH0sC1iQ9o3xA"

func decodeHash(hash string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("auth: not an argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, errors.New("auth: unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, fmt.Errorf("auth: bad argon2 parameters: %w", err)
	}
	if p.Memory == 0 || p.Memory > 1<<21 || p.Time == 0 || p.Time > 16 || p.Threads == 0 {
		return p, nil, nil, errors.New("auth: argon2 parameters out of range")
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, fmt.Errorf("auth: bad salt: %w", err)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 {
		return p, nil, nil, errors.New("auth: bad hash")
	}
	return p, salt, key, nil
}
