package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP (RFC 6238): 6 digits, 30-second steps, SHA-1 — what every
// authenticator app understands. A code of the step before or after the
// current one is accepted too (clock drift); the caller records the
// accepted step so the same code never works twice.

const totpPeriod = 30

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Skew: 0, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// TOTPEnrolment is a new secret with what the enrolment page shows.
type TOTPEnrolment struct {
	Secret string // base32, for typing into an app
	URL    string // otpauth://
	PNG    []byte // the QR code of URL
}

// NewTOTP makes a secret for account (issuer "idsync") and its QR code.
// It fails only when the random source or the image encoder does.
func NewTOTP(account string) (*TOTPEnrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "idsync", AccountName: account, Period: totpPeriod,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, fmt.Errorf("auth: new totp: %w", err)
	}
	return totpEnrolment(key)
}

// TOTPFromSecret rebuilds the enrolment of a pending secret (the page is
// reloaded before the code is confirmed).
func TOTPFromSecret(account, secret string) (*TOTPEnrolment, error) {
	key, err := otp.NewKeyFromURL(fmt.Sprintf("otpauth://totp/idsync:%s?secret=%s&issuer=idsync&period=30&digits=6&algorithm=SHA1",
		strings.ReplaceAll(account, " ", "%20"), secret))
	if err != nil {
		return nil, fmt.Errorf("auth: totp from secret: %w", err)
	}
	return totpEnrolment(key)
}

func totpEnrolment(key *otp.Key) (*TOTPEnrolment, error) {
	img, err := key.Image(240, 240)
	if err != nil {
		return nil, fmt.Errorf("auth: totp qr: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("auth: totp qr: %w", err)
	}
	return &TOTPEnrolment{Secret: key.Secret(), URL: key.URL(), PNG: buf.Bytes()}, nil
}

// CheckTOTP returns the time step whose code code is, within one step of
// at, or ok=false. Spaces in code are ignored.
func CheckTOTP(secret, code string, at time.Time) (step int64, ok bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return 0, false
	}
	cur := at.Unix() / totpPeriod
	for _, s := range []int64{cur - 1, cur, cur + 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*totpPeriod, 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}

// TOTPCode returns the code of at (tests act as the authenticator app).
func TOTPCode(secret string, at time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, at, totpOpts)
}

// RecoveryCodeCount is how many recovery codes an enrolment gives.
const RecoveryCodeCount = 10

// NewRecoveryCodes returns RecoveryCodeCount random codes like
// "k7q2m-x9d4p" (50 bits each).
func NewRecoveryCodes() []string {
	enc := base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").WithPadding(base32.NoPadding)
	out := make([]string, RecoveryCodeCount)
	for i := range out {
		b := make([]byte, 7)
		_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
		s := enc.EncodeToString(b)[:10]
		out[i] = s[:5] + "-" + s[5:]
	}
	return out
}

// NormalizeRecoveryCode lower-cases code and drops spaces and dashes, so
// it hashes the same however it is typed; "" when it cannot be one.
func NormalizeRecoveryCode(code string) string {
	c := strings.ToLower(strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(code)))
	if len(c) != 10 {
		return ""
	}
	return c
}
