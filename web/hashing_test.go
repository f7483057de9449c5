package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/auth"
	"github.com/idsync/idsync/internal/config"
	"github.com/idsync/idsync/internal/model"
)

// TestSignInWhileHashingIsBusy: when every hashing slot is taken and the
// wait runs out, the sign-in answers 503 with a clear message, and the
// refusal is not counted as a failed guess.
func TestSignInWhileHashingIsBusy(t *testing.T) {
	gate := auth.NewGate(1, 4, 50*time.Millisecond)
	e := newPlatEnv(t, func(_ *config.Config, d *Deps) { d.PasswordHashing = gate })
	e.createAdmin("ada", model.RoleAdmin)
	hold, held := make(chan struct{}), make(chan struct{})
	go func() { _ = gate.Do(context.Background(), func() { close(held); <-hold }) }()
	<-held
	c := e.client()
	tok := c.csrf()
	for range e.cfg.LoginMaxFailures + 2 {
		r := c.post("/login", url.Values{"_csrf": {tok}, "username": {"ada"}, "password": {platPassword}})
		if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "busy checking other sign-ins") || r.header.Get("Retry-After") == "" {
			t.Fatalf("sign-in with every slot taken: status %d, want 503 with a message and Retry-After", r.status)
		}
	}
	close(hold)
	c.login("ada") // not locked out by the busy refusals
}
