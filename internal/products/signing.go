package products

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Webhook signature headers.
const (
	HeaderTimestamp = "X-Idsync-Timestamp"
	HeaderSignature = "X-Idsync-Signature"
)

// Sign returns the X-Idsync-Signature value for body sent at timestamp ts
// (Unix seconds as a decimal string): "sha256=" + hex(HMAC-SHA256(secret,
// ts + "." + body)). Binding the timestamp stops replays of old bodies.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a received webhook: the signature must match and the
// timestamp must be within tolerance of now. It returns why it refuses.
func Verify(secret []byte, ts, sig string, body []byte, now time.Time, tolerance time.Duration) error {
	if ts == "" || sig == "" {
		return errors.New("missing timestamp or signature header")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("timestamp is not Unix seconds")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("timestamp outside the allowed window")
	}
	if !strings.HasPrefix(sig, "sha256=") {
		return errors.New("signature is not sha256=")
	}
	if !hmac.Equal([]byte(Sign(secret, ts, body)), []byte(sig)) {
		return errors.New("signature mismatch")
	}
	return nil
}
