package web

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/idsync/idsync/internal/config"
	"github.com/idsync/idsync/internal/model"
)

var loginErrRE = regexp.MustCompile(`data-testid="login-error">[^<]*`)

// TestSignInParallelGuesses sends 40 sign-ins for one account from one
// client at once, the last with the right password: the attempts count
// before the password is checked, so at most the limit's wrong guesses
// are checked at all; the others are told to wait.
func TestSignInParallelGuesses(t *testing.T) {
	e := newPlatEnv(t, nil)
	e.createAdmin("ada", model.RoleAdmin)
	c := e.client()
	tok := c.csrf()
	const n = 40
	statuses := make([]int, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			pw := "wrong password " + string(rune('a'+i%26))
			if i == n-1 {
				pw = platPassword
			}
			form := url.Values{"_csrf": {tok}, "username": {"ada"}, "password": {pw}}
			req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(c.cookie(SessionCookie))
			start.Wait()
			res, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			statuses[i] = res.StatusCode
			if res.StatusCode != http.StatusTooManyRequests && res.StatusCode != http.StatusUnauthorized && res.StatusCode != http.StatusSeeOther {
				t.Logf("attempt %d: %d %s", i, res.StatusCode, loginErrRE.FindString(string(b)))
			}
		}()
	}
	start.Done()
	done.Wait()
	wrong, right, throttled := 0, 0, 0
	for _, s := range statuses {
		switch s {
		case http.StatusUnauthorized:
			wrong++
		case http.StatusSeeOther:
			right++
		case http.StatusTooManyRequests:
			throttled++
		default:
			t.Errorf("unexpected status %d", s)
		}
	}
	// A right password frees its place (it is no failure), so at most
	// max wrong guesses are checked, plus the right one if it was admitted.
	if wrong > e.cfg.LoginMaxFailures || right > 1 || wrong+right+throttled != n {
		t.Errorf("%d wrong and %d right of %d parallel sign-ins had their password checked (%d throttled), want at most %d wrong",
			wrong, right, n, throttled, e.cfg.LoginMaxFailures)
	}
	if throttled < n-e.cfg.LoginMaxFailures-1 {
		t.Errorf("only %d throttled", throttled)
	}
}

// TestSignInDelayBelongsToTheClient: a stranger's failures delay only the
// stranger; the owner, from another client behind the trusted proxy, signs
// in. An untrusted peer's X-Forwarded-For is ignored.
func TestSignInDelayBelongsToTheClient(t *testing.T) {
	_, lo, _ := net.ParseCIDR("127.0.0.1/32")
	for _, trusted := range []bool{true, false} {
		t.Run(map[bool]string{true: "trusted-proxy", false: "no-proxy"}[trusted], func(t *testing.T) {
			e := newPlatEnv(t, func(c *config.Config, _ *Deps) {
				if trusted {
					c.TrustedProxies = []*net.IPNet{lo}
				}
			})
			e.createAdmin("ada", model.RoleAdmin)
			stranger, owner := e.client(), e.client()
			try := func(c *platClient, from, pw string) platResp {
				return c.do(http.MethodPost, "/login", url.Values{"_csrf": {c.csrf()}, "username": {"ada"}, "password": {pw}},
					map[string]string{"X-Forwarded-For": from})
			}
			for range e.cfg.LoginMaxFailures {
				if r := try(stranger, "127.0.0.2", "not the password"); r.status != http.StatusUnauthorized {
					t.Fatalf("stranger's failure: %d", r.status)
				}
			}
			r := try(stranger, "127.0.0.2", platPassword)
			if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Try again in 30 seconds") {
				t.Errorf("stranger with the right password after the failures: %d, want 429 (a 30 s wait)", r.status)
			}
			r = try(owner, "127.0.0.3", platPassword)
			if trusted && r.status != http.StatusSeeOther {
				t.Errorf("owner from another client: %d, want 303 (signed in)", r.status)
			}
			if !trusted && r.status != http.StatusTooManyRequests {
				t.Errorf("without trusted proxies a forged X-Forwarded-For changed the client: %d, want 429", r.status)
			}
			// The wait ends; the next failure doubles it.
			e.clock.Add(31e9)
			if r := try(stranger, "127.0.0.2", "not the password"); r.status != http.StatusUnauthorized {
				t.Fatalf("after the wait: %d, want 401", r.status)
			}
			if r := try(stranger, "127.0.0.2", platPassword); !strings.Contains(r.body, "Try again in 1 minute") {
				t.Errorf("second wait: %d, want 1 minute", r.status)
			}
		})
	}
}
