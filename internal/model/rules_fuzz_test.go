package model

import (
	"strings"
	"testing"
)

// FuzzMatchRules checks the attribute rules' semantics on any input: a
// rule compares trimmed values case-insensitively, rules combine with AND
// (adding one never turns a non-match into a match), and no rules match
// nobody.
func FuzzMatchRules(f *testing.F) {
	f.Add("location", "Berlin", " berlin ", "cost_center", "CC-100", "cc-100")
	f.Add("location", "", "", "department", "Ünïcödé", "ÜNÏCÖDÉ")
	f.Add("title", "a\tb", "A\tB", "x", "\u00a0", "")
	f.Fuzz(func(t *testing.T, attr1, want1, have1, attr2, want2, have2 string) {
		attrs := Attributes{attr1: have1}
		if attr2 != attr1 {
			attrs[attr2] = have2
		}
		one := []Rule{{Attribute: attr1, Value: want1}}
		got := MatchRules(one, attrs)
		if exp := strings.EqualFold(strings.TrimSpace(have1), strings.TrimSpace(want1)); got != exp {
			t.Fatalf("MatchRules(%q = %q) on %q = %v, want %v", attr1, want1, have1, got, exp)
		}
		if MatchRules(nil, attrs) || MatchRules([]Rule{}, attrs) {
			t.Fatal("an empty rule set matched")
		}
		two := append(one, Rule{Attribute: attr2, Value: want2})
		if MatchRules(two, attrs) && !got {
			t.Fatalf("adding a rule turned a non-match into a match: %v on %v", two, attrs)
		}
		if MatchRules(two, attrs) != MatchRules([]Rule{two[1], two[0]}, attrs) {
			t.Fatalf("rule order changed the result: %v on %v", two, attrs)
		}
	})
}
