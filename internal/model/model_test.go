package model

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestNormalizeDN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"CN=Admins,OU=Groups,DC=Example,DC=com", "cn=admins,ou=groups,dc=example,dc=com"},
		{" cn = Admins , ou=Groups ", "cn=admins,ou=groups"},
		{`cn=Smith\, John,dc=x`, `cn=smith\, john,dc=x`},
		{"cn=a+uid=b , dc=x", "cn=a+uid=b,dc=x"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := NormalizeDN(tt.in); got != tt.want {
			t.Errorf("NormalizeDN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestIndexMembers(t *testing.T) {
	// top ⊃ mid ⊃ leaf ⊃ top (a cycle); users u1 in top, u2 in mid, u3 in leaf.
	snap := &Snapshot{Groups: []DirGroup{
		{DN: "cn=top,dc=x", Users: []string{"u1"}, Groups: []string{"CN=Mid,DC=x"}},
		{DN: "cn=mid,dc=x", Users: []string{"u2"}, Groups: []string{"cn=leaf,dc=x"}},
		{DN: "cn=leaf,dc=x", Users: []string{"u3", "u1"}, Groups: []string{"cn=top,dc=x", "cn=gone,dc=x"}},
	}}
	ix := NewIndex(snap)

	t.Run("nested with a cycle", func(t *testing.T) {
		got, ok := ix.Members("CN=Top,DC=x", true)
		if !ok {
			t.Fatal("group not found")
		}
		want := map[string][]string{
			"u1": {"cn=top,dc=x"},
			"u2": {"cn=top,dc=x", "cn=mid,dc=x"},
			"u3": {"cn=top,dc=x", "cn=mid,dc=x", "cn=leaf,dc=x"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Members = %v, want %v", got, want)
		}
	})
	t.Run("direct only", func(t *testing.T) {
		got, _ := ix.Members("cn=mid,dc=x", false)
		want := map[string][]string{"u2": {"cn=mid,dc=x"}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Members = %v, want %v", got, want)
		}
	})
	t.Run("missing group", func(t *testing.T) {
		if _, ok := ix.Members("cn=nope,dc=x", true); ok {
			t.Error("ok = true for a group not in the snapshot")
		}
	})
}

func TestMatchRules(t *testing.T) {
	attrs := Attributes{AttrLocation: " Berlin ", AttrCostCenter: "CC-100"}
	tests := []struct {
		name  string
		rules []Rule
		want  bool
	}{
		{"no rules match nobody", nil, false},
		{"one rule, case and blanks ignored", []Rule{{AttrLocation, "berlin"}}, true},
		{"AND of two", []Rule{{AttrLocation, "Berlin"}, {AttrCostCenter, "CC-100"}}, true},
		{"AND fails on one", []Rule{{AttrLocation, "Berlin"}, {AttrCostCenter, "CC-200"}}, false},
		{"missing attribute", []Rule{{AttrTitle, "Engineer"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MatchRules(tt.rules, attrs); got != tt.want {
				t.Errorf("MatchRules = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestErrorHelpers(t *testing.T) {
	inner := Errorf(ENOTFOUND, "user %d not found", 7)
	wrapped := fmt.Errorf("store: find user 7: %w", inner)
	if got := ErrorCode(wrapped); got != ENOTFOUND {
		t.Errorf("ErrorCode = %q, want %q", got, ENOTFOUND)
	}
	if got := ErrorMessage(wrapped); got != "user 7 not found" {
		t.Errorf("ErrorMessage = %q", got)
	}
	plain := errors.New("pq: password authentication failed for user secret")
	if got := ErrorCode(plain); got != EINTERNAL {
		t.Errorf("ErrorCode(plain) = %q, want %q", got, EINTERNAL)
	}
	if got := ErrorMessage(plain); got == plain.Error() {
		t.Error("ErrorMessage leaks an internal error's text")
	}
	if ErrorCode(nil) != "" || ErrorMessage(nil) != "" {
		t.Error("nil error has a code or message")
	}
	if Invalid(nil) != nil {
		t.Error("Invalid(nil) is not nil")
	}
	err := Invalid(map[string]string{"username": "is required"})
	if ErrorCode(err) != EINVALID || ErrorFields(err)["username"] != "is required" {
		t.Errorf("Invalid = %v", err)
	}
}

func TestListQueryNormalize(t *testing.T) {
	q := ListQuery{Page: 0, PerPage: 10000}.Normalize()
	if q.Page != 1 || q.PerPage != 500 {
		t.Errorf("Normalize = %+v", q)
	}
	if off := (ListQuery{Page: 3, PerPage: 20}).Offset(); off != 40 {
		t.Errorf("Offset = %d, want 40", off)
	}
}
