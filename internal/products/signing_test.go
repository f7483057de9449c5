package products

import (
	"strconv"
	"testing"
	"time"
)

func TestSignKnownVector(t *testing.T) {
	// echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac k
	got := Sign([]byte("k"), "1700000000", []byte(`{"a":1}`))
	want := "sha256=1b6ad1bc9bf48c52ce01939866d5877c6cc4e87ddad27e16673cb8c4964394a3"
	if got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1700000000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{"type":"user.created"}`)
	sig := Sign([]byte("secret"), ts, body)
	tests := []struct {
		name      string
		secret    string
		ts, sig   string
		body      []byte
		now       time.Time
		wantError bool
	}{
		{"valid", "secret", ts, sig, body, now, false},
		{"wrong secret", "other", ts, sig, body, now, true},
		{"tampered body", "secret", ts, sig, []byte(`{"type":"user.deleted"}`), now, true},
		{"timestamp moved", "secret", strconv.FormatInt(now.Unix()+1, 10), sig, body, now, true},
		{"too old", "secret", ts, sig, body, now.Add(6 * time.Minute), true},
		{"from the future", "secret", ts, sig, body, now.Add(-6 * time.Minute), true},
		{"missing signature", "secret", ts, "", body, now, true},
		{"not a number", "secret", "yesterday", sig, body, now, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify([]byte(tt.secret), tt.ts, tt.sig, tt.body, tt.now, 5*time.Minute)
			if (err != nil) != tt.wantError {
				t.Fatalf("Verify = %v, want error %v", err, tt.wantError)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	base, max := time.Second, time.Minute
	for n := 1; n <= 12; n++ {
		full := base << (n - 1)
		if full > max || n > 7 {
			full = max
		}
		for range 50 {
			d := Backoff(n, base, max)
			if d < full/2 || d > full {
				t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", n, d, full/2, full)
			}
		}
	}
}

func TestLimiterRate(t *testing.T) {
	l := newLimiter(100)
	start := time.Now()
	var waited time.Duration
	for range 60 {
		waited += l.reserve(start) // all at the same instant
	}
	// burst 10, then 50 more tokens at 100/s: the last waits ~0.5 s.
	last := l.reserve(start)
	if last < 450*time.Millisecond || last > 560*time.Millisecond {
		t.Fatalf("61st reservation waits %v, want about 510ms", last)
	}
	if newLimiter(0) != nil {
		t.Fatal("rate 0 must mean unlimited (nil limiter)")
	}
}
