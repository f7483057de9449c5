package secret

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func newBox(t *testing.T, fill byte) *Box {
	t.Helper()
	b, err := NewBox(bytes.Repeat([]byte{fill}, KeySize))
	if err != nil {
		t.Fatalf("NewBox: %v", err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	b := newBox(t, 1)
	for _, plain := range []string{"s3cret", "pässwörd with spaces", strings.Repeat("x", 4096)} {
		sealed, err := b.Seal(plain)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		if !strings.HasPrefix(sealed, "v1:") {
			t.Errorf("sealed %q lacks the version prefix", sealed)
		}
		if strings.Contains(sealed, plain) {
			t.Errorf("sealed value contains the plaintext")
		}
		got, err := b.Open(sealed)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if got != plain {
			t.Errorf("Open = %q, want %q", got, plain)
		}
	}
}

func TestSealNonceIsRandom(t *testing.T) {
	b := newBox(t, 1)
	a1, _ := b.Seal("same")
	a2, _ := b.Seal("same")
	if a1 == a2 {
		t.Errorf("two seals of the same value are equal: %q", a1)
	}
}

func TestEmpty(t *testing.T) {
	b := newBox(t, 1)
	s, err := b.Seal("")
	if err != nil || s != "" {
		t.Errorf("Seal(\"\") = %q, %v; want \"\", nil", s, err)
	}
	p, err := b.Open("")
	if err != nil || p != "" {
		t.Errorf("Open(\"\") = %q, %v; want \"\", nil", p, err)
	}
}

func TestOpenRejects(t *testing.T) {
	b := newBox(t, 1)
	sealed, err := b.Seal("hunter2")
	if err != nil {
		t.Fatal(err)
	}
	// flip one character of the base64 body
	body := []byte(sealed)
	i := len(body) - 5
	if body[i] == 'A' {
		body[i] = 'B'
	} else {
		body[i] = 'A'
	}
	cases := map[string]struct {
		box   *Box
		value string
	}{
		"wrong key":      {newBox(t, 2), sealed},
		"tampered":       {b, string(body)},
		"no prefix":      {b, strings.TrimPrefix(sealed, "v1:")},
		"unknown prefix": {b, "v9:" + strings.TrimPrefix(sealed, "v1:")},
		"bad base64":     {b, "v1:!!!"},
		"too short":      {b, "v1:AAAA"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := c.box.Open(c.value)
			if !errors.Is(err, ErrOpen) {
				t.Errorf("Open error = %v, want ErrOpen", err)
			}
			if got != "" {
				t.Errorf("Open returned %q on failure", got)
			}
		})
	}
}

func TestNewBoxKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := NewBox(make([]byte, n)); err == nil {
			t.Errorf("NewBox with %d-byte key: want error", n)
		}
	}
	k, err := NewKey()
	if err != nil || len(k) != KeySize {
		t.Fatalf("NewKey = %d bytes, %v", len(k), err)
	}
	if _, err := NewBox(k); err != nil {
		t.Errorf("NewBox(NewKey()): %v", err)
	}
}
