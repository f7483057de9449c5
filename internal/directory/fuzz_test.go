package directory

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/model"
)

// Fuzz targets (make fuzz-short runs each briefly, make fuzz longer); seeds
// in testdata/fuzz.

// FuzzParseDisabled: any text either parses or is refused with a message;
// a parsed expression parses again from its own text to the same
// attributes, and evaluating it on any values never panics.
func FuzzParseDisabled(f *testing.F) {
	for _, s := range []string{"", "userAccountControl", model.DefaultADDisabled, "locked(pwdAccountLockedTime, 900)",
		"employeeType=inactive || !(accountStatus != \"active\")", "past(shadowExpire, days) && bit(x, 0x10)", "((((a))))", "a=\"\\\"\""} {
		f.Add(s, "20260101000000Z")
	}
	f.Fuzz(func(t *testing.T, expr, value string) {
		x, err := ParseDisabled(expr)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if x == nil {
			if strings.TrimSpace(expr) != "" {
				t.Fatalf("%q: nil expression without an error", expr)
			}
			return
		}
		y, err := ParseDisabled(x.String())
		if err != nil || strings.Join(y.Attrs, ",") != strings.Join(x.Attrs, ",") {
			t.Fatalf("%q does not parse again the same: %v, %v", expr, y, err)
		}
		vals := make([][][]byte, len(x.Attrs))
		for i := range vals {
			vals[i] = [][]byte{[]byte(value)}
		}
		a := x.Eval(vals, time.Unix(1_800_000_000, 0))
		if b := x.Eval(vals, time.Unix(1_800_000_000, 0)); a != b {
			t.Fatal("Eval is not deterministic")
		}
		x.Eval(nil, time.Time{}) // missing attributes
	})
}

// FuzzMemberValue: StripUID only ever removes a trailing "#'<bits>'B",
// and the lookup key of a value with a UID is the key of its DN.
func FuzzMemberValue(f *testing.F) {
	for _, s := range []string{"uid=ann,ou=people,dc=x#'0101'B", "uid=a\\#'1'B", "cn=x", "#''B", "#'1'B", "CN=Müller\\, Hans,OU=Staff", "uid=a,dc=x#'1'B#'0'B", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		dn := StripUID(v)
		if !strings.HasPrefix(v, dn) {
			t.Fatalf("StripUID(%q) = %q, not a prefix", v, dn)
		}
		if rest := v[len(dn):]; rest != "" {
			bits := strings.TrimSuffix(strings.TrimPrefix(rest, "#'"), "'B")
			if !strings.HasPrefix(rest, "#'") || !strings.HasSuffix(rest, "'B") || strings.Trim(bits, "01") != "" || len(bits)+4 != len(rest) {
				t.Fatalf("StripUID(%q) removed %q", v, rest)
			}
			if memberKey(v) != normDN(dn) {
				t.Fatalf("memberKey(%q) = %q, of its DN %q", v, memberKey(v), normDN(dn))
			}
		}
		k := model.NormalizeDN(v)
		if model.NormalizeDN(k) != k {
			t.Fatalf("NormalizeDN not idempotent on %q: %q → %q", v, k, model.NormalizeDN(k))
		}
		if utf8.ValidString(v) && strings.ToLower(k) != k {
			t.Fatalf("NormalizeDN(%q) = %q is not lower case", v, k)
		}
		if _, err := ldap.ParseDN(dn); err == nil && normDN(dn) != model.NormalizeDN(dn) {
			t.Fatalf("normDN(%q) = %q, NormalizeDN %q", dn, normDN(dn), model.NormalizeDN(dn))
		}
	})
}

// FuzzFilterBuilding: a value put into a filter is escaped — the filter
// compiles, keeps its shape (no injected clause) and asserts exactly the
// value.
func FuzzFilterBuilding(f *testing.F) {
	for _, s := range []string{"ann", "*", ")(uid=*", "a\\2a", "\x00", "Müller, Hans", "(|(objectClass=*))", "uid=a,dc=x#'01'B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		fs := andFilter("(objectClass=groupOfNames)", orFilter(eqFilter("member", v), eqFilter("memberUid", v)))
		p, err := ldap.CompileFilter(fs)
		if err != nil {
			t.Fatalf("%q: %v", fs, err)
		}
		if p.Tag != ldap.FilterAnd || len(p.Children) != 2 || p.Children[1].Tag != ldap.FilterOr || len(p.Children[1].Children) != 2 {
			t.Fatalf("%q compiles to another shape", fs)
		}
		for _, c := range p.Children[1].Children {
			if c.Tag != ldap.FilterEqualityMatch || len(c.Children) != 2 || c.Children[1].Data.String() != v {
				t.Fatalf("%q: assertion %q, want %q", fs, c.Children[1].Data.String(), v)
			}
		}
	})
}
