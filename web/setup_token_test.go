package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/config"
)

func TestSetupTokenExpires(t *testing.T) {
	const tok = "0123456789abcdef0123456789abcdef"
	e := newPlatEnv(t, func(_ *config.Config, d *Deps) { d.SetupToken = tok })
	c := e.client()
	if r := c.get("/setup?token=" + tok); r.status != http.StatusOK {
		t.Fatalf("fresh token: status %d, want 200", r.status)
	}
	e.clock.Add(SetupTokenTTL - time.Second)
	if r := c.get("/setup?token=" + tok); r.status != http.StatusOK {
		t.Fatalf("token 59:59 old: status %d, want 200", r.status)
	}
	e.clock.Add(time.Second)
	r := c.get("/setup?token=" + tok)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "has expired") || !strings.Contains(r.body, "Restart idsync") {
		t.Fatalf("token one hour old: status %d, want 403 saying it expired; %.300s", r.status, r.body)
	}
	r = c.post("/setup", url.Values{"_csrf": {c.csrf()}, "token": {tok}, "username": {"ada"},
		"password": {platPassword}, "password_confirm": {platPassword}})
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "has expired") {
		t.Fatalf("POST with an expired token: status %d, want 403", r.status)
	}
	if n, err := e.st.CountAdmins(t.Context()); err != nil || n != 0 {
		t.Fatalf("an expired token created %d admins (%v)", n, err)
	}
}
