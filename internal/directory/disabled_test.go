package directory

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func evalOn(t *testing.T, expr string, now time.Time, attrs map[string][]string) bool {
	t.Helper()
	x, err := ParseDisabled(expr)
	if err != nil {
		t.Fatalf("ParseDisabled(%q): %v", expr, err)
	}
	vals := make([][][]byte, len(x.Attrs))
	for i, a := range x.Attrs {
		for k, vs := range attrs {
			if strings.EqualFold(k, a) {
				for _, v := range vs {
					vals[i] = append(vals[i], []byte(v))
				}
			}
		}
	}
	return x.Eval(vals, now)
}

func TestDisabledExpressions(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	// FILETIME of now ± one day.
	ft := func(t time.Time) string {
		return itoa64((t.Unix() + 11644473600) * 1e7)
	}
	day := 24 * time.Hour
	for _, tc := range []struct {
		expr  string
		attrs map[string][]string
		want  bool
	}{
		// legacy forms
		{"userAccountControl", map[string][]string{"userAccountControl": {"512"}}, false},
		{"userAccountControl", map[string][]string{"userAccountControl": {"514"}}, true},
		{"UserAccountControl", map[string][]string{"userAccountControl": {"66050"}}, true},
		{"userAccountControl", map[string][]string{"userAccountControl": {"junk"}}, false},
		{"nsAccountLock", map[string][]string{"nsAccountLock": {"TRUE"}}, true},
		{"nsAccountLock", map[string][]string{"nsAccountLock": {"false"}}, false},
		{"x", map[string][]string{"x": {" no "}}, false},
		{"x", nil, false},
		// present, equals
		{"present(x)", map[string][]string{"x": {"0"}}, true},
		{"present(x)", nil, false},
		{"employeeType=inactive", map[string][]string{"employeeType": {"staff", "Inactive"}}, true},
		{"employeeType=inactive", map[string][]string{"employeeType": {"staff"}}, false},
		{`accountStatus != "active"`, map[string][]string{"accountStatus": {"active"}}, false},
		{`accountStatus != "active"`, map[string][]string{"accountStatus": {"inactive"}}, true},
		{`description="left the company"`, map[string][]string{"description": {"Left the company"}}, true},
		// bit
		{"bit(userAccountControl, 2)", map[string][]string{"userAccountControl": {"514"}}, true},
		{"bit(userAccountControl, 0x10)", map[string][]string{"userAccountControl": {"514"}}, false},
		// past: AD accountExpires (FILETIME), 0 and max mean never
		{"past(accountExpires)", map[string][]string{"accountExpires": {ft(now.Add(-day))}}, true},
		{"past(accountExpires)", map[string][]string{"accountExpires": {ft(now.Add(day))}}, false},
		{"past(accountExpires)", map[string][]string{"accountExpires": {"0"}}, false},
		{"past(accountExpires)", map[string][]string{"accountExpires": {"9223372036854775807"}}, false},
		// past: shadowExpire days, GeneralizedTime, unix
		{"past(shadowExpire)", map[string][]string{"shadowExpire": {itoa64(now.Unix()/86400 - 1)}}, true},
		{"past(shadowExpire)", map[string][]string{"shadowExpire": {itoa64(now.Unix()/86400 + 1)}}, false},
		{"past(shadowExpire)", map[string][]string{"shadowExpire": {"-1"}}, false},
		{"past(x)", map[string][]string{"x": {"20260531120000Z"}}, true},
		{"past(x)", map[string][]string{"x": {"20260602120000Z"}}, false},
		{"past(x, unix)", map[string][]string{"x": {itoa64(now.Unix() - 5)}}, true},
		{"past(x, days)", map[string][]string{"x": {"garbage"}}, false},
		// ppolicy locks: permanent marker; timed lock only within the duration
		{"locked(pwdAccountLockedTime)", map[string][]string{"pwdAccountLockedTime": {PermanentLock}}, true},
		{"locked(pwdAccountLockedTime)", map[string][]string{"pwdAccountLockedTime": {"20260601115500Z"}}, false},
		{"locked(pwdAccountLockedTime, 900)", map[string][]string{"pwdAccountLockedTime": {"20260601115500Z"}}, true},
		{"locked(pwdAccountLockedTime, 900)", map[string][]string{"pwdAccountLockedTime": {"20260601114000Z"}}, false},
		{"locked(pwdAccountLockedTime, 15m)", map[string][]string{"pwdAccountLockedTime": {"20260601115500Z"}}, true},
		{"locked(pwdAccountLockedTime, 0)", map[string][]string{"pwdAccountLockedTime": {"20200101000000Z"}}, true},
		{"locked(pwdAccountLockedTime, 900)", nil, false},
		// AD lockoutTime: non-zero while locked, 0 when unlocked
		{"locked(lockoutTime)", map[string][]string{"lockoutTime": {ft(now.Add(-time.Hour))}}, true},
		{"locked(lockoutTime)", map[string][]string{"lockoutTime": {"0"}}, false},
		{"locked(lockoutTime, 30m)", map[string][]string{"lockoutTime": {ft(now.Add(-time.Hour))}}, false},
		// combinations
		{"bit(userAccountControl, 2) || past(accountExpires)", map[string][]string{"userAccountControl": {"512"}, "accountExpires": {ft(now.Add(-day))}}, true},
		{"bit(userAccountControl, 2) || past(accountExpires)", map[string][]string{"userAccountControl": {"512"}, "accountExpires": {"0"}}, false},
		{"present(a) && !(b=x || b=y)", map[string][]string{"a": {"1"}, "b": {"z"}}, true},
		{"present(a) && !(b=x || b=y)", map[string][]string{"a": {"1"}, "b": {"y"}}, false},
		{"!present(a)", nil, true},
	} {
		if got := evalOn(t, tc.expr, now, tc.attrs); got != tc.want {
			t.Errorf("%q on %v = %v, want %v", tc.expr, tc.attrs, got, tc.want)
		}
	}
}

func TestDisabledExpressionErrors(t *testing.T) {
	for _, expr := range []string{
		"(", "a &&", "a ||| b", "bit(a)", "bit(a, x)", "bit(a, -1)", "past(a, weekly)", "locked(a, soon)",
		"frob(a)", "a = ", `a = "open`, "a b", "present()", "present((a))", "=x", strings.Repeat("(", 40) + "a" + strings.Repeat(")", 40),
		strings.Repeat("a", MaxDisabledExprLen+1),
	} {
		if x, err := ParseDisabled(expr); err == nil {
			t.Errorf("ParseDisabled(%q) = %v, want an error", expr, x.Attrs)
		}
	}
	if x, err := ParseDisabled("  "); x != nil || err != nil {
		t.Errorf("blank = %v, %v; want nil, nil", x, err)
	}
	x, err := ParseDisabled("bit(userAccountControl, 2) || past(accountExpires) || locked(lockoutTime)")
	if err != nil || strings.Join(x.Attrs, ",") != "userAccountControl,accountExpires,lockoutTime" {
		t.Fatalf("attrs = %v, %v", x, err)
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
