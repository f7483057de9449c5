package auth

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

var cheap = Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashPassword(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Errorf("hash %q is not PHC argon2id with the default parameters", h)
	}
	if err := CheckPassword(h, "correct horse battery"); err != nil {
		t.Errorf("right password: %v", err)
	}
	if err := CheckPassword(h, "correct horse batterY"); !errors.Is(err, ErrMismatch) {
		t.Errorf("wrong password: %v, want ErrMismatch", err)
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
}

func TestCheckPasswordMalformed(t *testing.T) {
	good, err := HashPasswordParams("pw-pw-pw-pw-pw", cheap)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	for name, h := range map[string]string{
		"empty":       "",
		"bcrypt":      "$2a$10$abcdefghijklmnopqrstuv",
		"argon2i":     strings.Replace(good, "argon2id", "argon2i", 1),
		"version":     strings.Replace(good, "v=19", "v=16", 1),
		"huge memory": "$argon2id$v=19$m=99999999,t=1,p=1$" + parts[4] + "$" + parts[5],
		"bad salt":    "$argon2id$v=19$m=1024,t=1,p=1$!!!$" + parts[5],
		"short key":   "$argon2id$v=19$m=1024,t=1,p=1$" + parts[4] + "$AAAA",
	} {
		err := CheckPassword(h, "pw-pw-pw-pw-pw")
		if err == nil || errors.Is(err, ErrMismatch) {
			t.Errorf("%s: err = %v, want a malformed-hash error", name, err)
		}
	}
	if err := CheckPassword(dummyHash, "anything"); !errors.Is(err, ErrMismatch) {
		t.Errorf("dummy hash must be well-formed: %v", err)
	}
	if err := CheckPassword(good, strings.Repeat("x", MaxPasswordLen+1)); !errors.Is(err, ErrMismatch) {
		t.Errorf("over-long password: %v", err)
	}
}

func TestValidateAccount(t *testing.T) {
	cases := []struct {
		user, pw, confirm string
		bad               []string
	}{
		{"alice", "long enough pw", "long enough pw", nil},
		{"a.b-c_d@x", "long enough pw", "long enough pw", nil},
		{"", "long enough pw", "long enough pw", []string{"username"}},
		{"-alice", "long enough pw", "long enough pw", []string{"username"}},
		{"al ice", "long enough pw", "long enough pw", []string{"username"}},
		{strings.Repeat("a", 65), "long enough pw", "long enough pw", []string{"username"}},
		{"alice", "short", "short", []string{"password"}},
		{"alice", "long enough pw", "long enough pX", []string{"password_confirm"}},
	}
	for _, tc := range cases {
		got := ValidateAccount(tc.user, tc.pw, tc.confirm)
		if len(got) != len(tc.bad) {
			t.Errorf("ValidateAccount(%q, %q): %v, want fields %v", tc.user, tc.pw, got, tc.bad)
			continue
		}
		for _, f := range tc.bad {
			if got[f] == "" {
				t.Errorf("ValidateAccount(%q): no message for %s", tc.user, f)
			}
		}
	}
}

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	l := NewLimiter(3, 10*time.Minute, clock)

	for i := 0; i < 3; i++ {
		if b, _ := l.Blocked("a"); b {
			t.Fatalf("blocked after %d failures", i)
		}
		l.Fail("a")
		advance(time.Minute)
	}
	b, retry := l.Blocked("a")
	if !b || retry != 7*time.Minute {
		t.Fatalf("after 3 failures: blocked=%v retry=%v, want true 7m", b, retry)
	}
	if b, _ := l.Blocked("b"); b {
		t.Error("other key blocked")
	}
	// Sliding: the first failure leaves the window after 10 minutes.
	advance(7 * time.Minute)
	if b, _ := l.Blocked("a"); b {
		t.Error("still blocked after the oldest failure expired")
	}
	l.Fail("a")
	if b, _ := l.Blocked("a"); !b {
		t.Error("not blocked again after a new failure")
	}
	l.Reset("a")
	if b, _ := l.Blocked("a"); b {
		t.Error("blocked after Reset")
	}
}

func TestLimiterConcurrent(t *testing.T) {
	l := NewLimiter(1000, time.Hour, nil)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				l.Fail("k")
				l.Blocked("k")
			}
		}()
	}
	wg.Wait()
	if b, _ := l.Blocked("k"); b {
		t.Error("800 failures of 1000 allowed reported blocked")
	}
	l.Fail("k")
	for i := 0; i < 199; i++ {
		l.Fail("k")
	}
	if b, _ := l.Blocked("k"); !b {
		t.Error("1000 failures not blocked")
	}
}

// BenchmarkCheckPassword is the CPU cost of one sign-in with the
// production argon2id parameters (64 MiB, t=3, p=2).
func BenchmarkCheckPassword(b *testing.B) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := CheckPassword(h, "correct horse battery"); err != nil {
			b.Fatal(err)
		}
	}
}
