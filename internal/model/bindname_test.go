package model

import (
	"strings"
	"testing"
)

func TestValidateBindName(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string // "" valid, else a fragment of the message
	}{
		{"", ""},
		{"cn=reader,dc=example,dc=org", ""},
		{"CN=Müller\\, Jörg,OU=People,DC=example,DC=test", ""},
		{"Administrator@EXAMPLE.TEST", ""},
		{"reader@example.com", ""},
		{`EXAMPLE\Administrator`, ""},
		{"cn=reader,,dc=x=", "not a valid DN"},
		{"reader@", "no realm"},
		{"@example.com", "no user"},
		{"reader@exa mple.com", "DNS name"},
		{"reader@example..com", "DNS name"},
		{`EXAMPLE\`, "no user"},
		{`\reader`, "no domain"},
		{`EXAMPLE\a\b`, "not allowed"},
		{`VERYLONGDOMAINNAME1\reader`, "15 characters"},
		{"reader", "must be a DN"},
	} {
		err := ValidateBindName(tt.in)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: %v, want valid", tt.in, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q: %v, want an error with %q", tt.in, err, tt.want)
		}
	}
}
