package directory

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The disabled flag of a source is an expression over the user entry's
// attributes (docs/directory.md "Disabled accounts"):
//
//	expr  = and { "||" and }
//	and   = unary { "&&" unary }
//	unary = "!" unary | "(" expr ")" | pred
//	pred  = attr                      a value other than FALSE/0/no/off
//	      | attr "=" value            a value equals value (case-insensitive)
//	      | attr "!=" value           no value equals value
//	      | present(attr)             the attribute has a value
//	      | bit(attr, mask)           an integer value has a bit of mask set
//	      | past(attr [, format])     a date that is not in the future
//	      | locked(attr [, duration]) a password-policy lock in force
//	      | locked(attr, "policy DN") the duration is the policy's pwdLockoutDuration
//
// A value is a bare word or a "double-quoted" string (\" and \\ escape).
// Each attribute is multi-valued: a predicate holds when any value makes it
// hold ("!=" and "!" negate that).

// MaxDisabledExprLen bounds the expression a source may configure.
const MaxDisabledExprLen = 1000

// maxExprDepth bounds nesting so that a hostile expression cannot exhaust
// the stack.
const maxExprDepth = 32

type exprOp uint8

const (
	opOr exprOp = iota
	opAnd
	opNot
	opTruthy
	opEquals
	opPresent
	opBit
	opPast
	opLocked
)

// Date formats of past() and the lock time of locked().
const (
	fmtAuto        = "auto"
	fmtGeneralized = "generalized" // 20260101120000Z (LDAP GeneralizedTime)
	fmtDays        = "days"        // days since 1970-01-01 (shadowExpire)
	fmtFiletime    = "filetime"    // 100 ns since 1601-01-01 (AD accountExpires, lockoutTime)
	fmtUnix        = "unix"        // seconds since 1970-01-01
)

// PermanentLock is the pwdAccountLockedTime value OpenLDAP's ppolicy uses
// for an account locked by an administrator until unlocked.
const PermanentLock = "000001010000Z"

type exprNode struct {
	op     exprOp
	attr   int // index into DisabledExpr.Attrs
	value  string
	mask   int64
	format string
	dur    time.Duration
	hasDur bool
	policy string // locked(attr, "policy DN"): dur is read from its pwdLockoutDuration
	kids   []*exprNode
}

// DisabledExpr is a parsed disabled-flag expression.
type DisabledExpr struct {
	src   string
	root  *exprNode
	Attrs []string // attributes the expression reads, in first-use order
}

// String returns the expression as configured.
func (x *DisabledExpr) String() string { return x.src }

// ParseDisabled parses a disabled-flag expression; "" (never disabled)
// gives nil and no error. The bare legacy value "userAccountControl" means
// bit(userAccountControl, 2). Errors are messages fit for the source form.
func ParseDisabled(s string) (*DisabledExpr, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if len(s) > MaxDisabledExprLen {
		return nil, fmt.Errorf("is longer than %d characters", MaxDisabledExprLen)
	}
	p := &exprParser{in: s}
	x := &DisabledExpr{src: s}
	p.x = x
	n, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos < len(p.in) {
		return nil, p.errf("unexpected %q", p.rest())
	}
	if n.op == opTruthy && strings.EqualFold(x.Attrs[n.attr], "userAccountControl") {
		n.op, n.mask = opBit, 2
	}
	x.root = n
	return x, nil
}

type exprParser struct {
	in  string
	pos int
	x   *DisabledExpr
}

func (p *exprParser) errf(format string, a ...any) error {
	return fmt.Errorf("at character %d: %s", p.pos+1, fmt.Sprintf(format, a...))
}

func (p *exprParser) rest() string {
	r := p.in[p.pos:]
	if len(r) > 20 {
		r = r[:20] + "…"
	}
	return r
}

func (p *exprParser) space() {
	for p.pos < len(p.in) && (p.in[p.pos] == ' ' || p.in[p.pos] == '\t' || p.in[p.pos] == '\n' || p.in[p.pos] == '\r') {
		p.pos++
	}
}

func (p *exprParser) eat(tok string) bool {
	p.space()
	if strings.HasPrefix(p.in[p.pos:], tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

func (p *exprParser) expr(depth int) (*exprNode, error) {
	if depth > maxExprDepth {
		return nil, p.errf("nested too deeply")
	}
	left, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.eat("||") {
		right, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		left = join(opOr, left, right)
	}
	return left, nil
}

func (p *exprParser) and(depth int) (*exprNode, error) {
	left, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for p.eat("&&") {
		right, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		left = join(opAnd, left, right)
	}
	return left, nil
}

func join(op exprOp, l, r *exprNode) *exprNode {
	if l.op == op {
		l.kids = append(l.kids, r)
		return l
	}
	return &exprNode{op: op, kids: []*exprNode{l, r}}
}

func (p *exprParser) unary(depth int) (*exprNode, error) {
	if depth > maxExprDepth {
		return nil, p.errf("nested too deeply")
	}
	p.space()
	if p.pos < len(p.in) && p.in[p.pos] == '!' && !strings.HasPrefix(p.in[p.pos:], "!=") {
		p.pos++
		k, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return &exprNode{op: opNot, kids: []*exprNode{k}}, nil
	}
	if p.eat("(") {
		n, err := p.expr(depth + 1)
		if err != nil {
			return nil, err
		}
		if !p.eat(")") {
			return nil, p.errf("missing )")
		}
		return n, nil
	}
	return p.pred()
}

func isAttrChar(c byte, first bool) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		return true
	case '0' <= c && c <= '9':
		return true
	case c == '-' || c == '.' || c == '_' || c == ';':
		return !first
	}
	return false
}

func (p *exprParser) ident() (string, error) {
	p.space()
	start := p.pos
	for p.pos < len(p.in) && isAttrChar(p.in[p.pos], p.pos == start) {
		p.pos++
	}
	if p.pos == start {
		if p.pos >= len(p.in) {
			return "", p.errf("an attribute name is missing at the end")
		}
		return "", p.errf("expected an attribute name, found %q", p.rest())
	}
	if p.pos-start > 100 {
		return "", p.errf("attribute name too long")
	}
	return p.in[start:p.pos], nil
}

func (p *exprParser) attr(name string) int {
	for i, a := range p.x.Attrs {
		if strings.EqualFold(a, name) {
			return i
		}
	}
	p.x.Attrs = append(p.x.Attrs, name)
	return len(p.x.Attrs) - 1
}

func (p *exprParser) value() (string, error) {
	p.space()
	if p.pos < len(p.in) && p.in[p.pos] == '"' {
		p.pos++
		var b strings.Builder
		for p.pos < len(p.in) {
			c := p.in[p.pos]
			switch {
			case c == '\\' && p.pos+1 < len(p.in):
				b.WriteByte(p.in[p.pos+1])
				p.pos += 2
			case c == '"':
				p.pos++
				return b.String(), nil
			default:
				b.WriteByte(c)
				p.pos++
			}
		}
		return "", p.errf("unterminated quoted value")
	}
	start := p.pos
	for p.pos < len(p.in) && !strings.ContainsRune(" \t\r\n()!&|=\",", rune(p.in[p.pos])) {
		p.pos++
	}
	if p.pos == start {
		return "", p.errf("a value is missing")
	}
	return p.in[start:p.pos], nil
}

func (p *exprParser) pred() (*exprNode, error) {
	name, err := p.ident()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.eat("(") {
		return p.call(strings.ToLower(name))
	}
	if p.eat("!=") {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		return &exprNode{op: opNot, kids: []*exprNode{{op: opEquals, attr: p.attr(name), value: v}}}, nil
	}
	if p.eat("=") {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		return &exprNode{op: opEquals, attr: p.attr(name), value: v}, nil
	}
	return &exprNode{op: opTruthy, attr: p.attr(name)}, nil
}

func (p *exprParser) call(fn string) (*exprNode, error) {
	var args []string
	if !p.eat(")") {
		for {
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			args = append(args, v)
			if p.eat(")") {
				break
			}
			if !p.eat(",") {
				return nil, p.errf("expected , or ) in %s(…)", fn)
			}
		}
	}
	want := func(min, max int) error {
		if len(args) < min || len(args) > max {
			if min == max {
				return fmt.Errorf("%s(…) takes %d argument(s), not %d", fn, min, len(args))
			}
			return fmt.Errorf("%s(…) takes %d to %d arguments, not %d", fn, min, max, len(args))
		}
		for i := 0; i < len(args) && i < 1; i++ {
			if !validAttr(args[0]) {
				return fmt.Errorf("%s(…): %q is not an attribute name", fn, args[0])
			}
		}
		return nil
	}
	switch fn {
	case "present":
		if err := want(1, 1); err != nil {
			return nil, err
		}
		return &exprNode{op: opPresent, attr: p.attr(args[0])}, nil
	case "bit":
		if err := want(2, 2); err != nil {
			return nil, err
		}
		m, err := strconv.ParseInt(args[1], 0, 64)
		if err != nil || m <= 0 {
			return nil, fmt.Errorf("bit(…): mask %q is not a positive whole number", args[1])
		}
		return &exprNode{op: opBit, attr: p.attr(args[0]), mask: m}, nil
	case "past":
		if err := want(1, 2); err != nil {
			return nil, err
		}
		f := fmtAuto
		if len(args) == 2 {
			f = strings.ToLower(args[1])
			switch f {
			case fmtAuto, fmtGeneralized, fmtDays, fmtFiletime, fmtUnix:
			default:
				return nil, fmt.Errorf("past(…): format %q is not one of auto, generalized, days, filetime, unix", args[1])
			}
		}
		return &exprNode{op: opPast, attr: p.attr(args[0]), format: f}, nil
	case "locked":
		if err := want(1, 2); err != nil {
			return nil, err
		}
		n := &exprNode{op: opLocked, attr: p.attr(args[0])}
		if len(args) == 2 && strings.Contains(args[1], "=") {
			n.policy = strings.TrimSpace(args[1])
			return n, nil
		}
		if len(args) == 2 {
			d, err := parseDuration(args[1])
			if err != nil {
				return nil, fmt.Errorf("locked(…): %w", err)
			}
			n.dur, n.hasDur = d, true
		}
		return n, nil
	}
	return nil, fmt.Errorf("unknown function %s(…): use present, bit, past or locked", fn)
}

func validAttr(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAttrChar(s[i], i == 0) {
			return false
		}
	}
	return true
}

// parseDuration reads a lock duration: whole seconds (the unit of
// pwdLockoutDuration) or a Go duration such as 15m or 1h30m.
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > 100*365*24*3600 {
			return 0, fmt.Errorf("duration %q is out of range", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("duration %q is neither seconds nor a duration like 15m", s)
	}
	return d, nil
}

// Policies returns the password-policy DNs the expression reads
// pwdLockoutDuration from (locked(attr, "cn=…")).
func (x *DisabledExpr) Policies() []string {
	var out []string
	x.walk(func(n *exprNode) {
		if n.policy != "" && !slices.Contains(out, n.policy) {
			out = append(out, n.policy)
		}
	})
	return out
}

// SetPolicyDuration sets the lock duration of every locked(…) naming the
// policy dn (read from its pwdLockoutDuration; 0 = until reset).
func (x *DisabledExpr) SetPolicyDuration(dn string, d time.Duration) {
	x.walk(func(n *exprNode) {
		if n.policy == dn {
			n.dur, n.hasDur = d, true
		}
	})
}

func (x *DisabledExpr) walk(fn func(*exprNode)) {
	var rec func(*exprNode)
	rec = func(n *exprNode) {
		fn(n)
		for _, k := range n.kids {
			rec(k)
		}
	}
	if x != nil && x.root != nil {
		rec(x.root)
	}
}

// Eval reports whether the entry whose values of x.Attrs are vals (same
// order) is disabled at now.
func (x *DisabledExpr) Eval(vals [][][]byte, now time.Time) bool {
	if x == nil {
		return false
	}
	return x.root.eval(vals, now)
}

func (n *exprNode) eval(vals [][][]byte, now time.Time) bool {
	switch n.op {
	case opOr:
		for _, k := range n.kids {
			if k.eval(vals, now) {
				return true
			}
		}
		return false
	case opAnd:
		for _, k := range n.kids {
			if !k.eval(vals, now) {
				return false
			}
		}
		return true
	case opNot:
		return !n.kids[0].eval(vals, now)
	}
	var vs [][]byte
	if n.attr < len(vals) {
		vs = vals[n.attr]
	}
	if n.op == opPresent {
		return len(vs) > 0
	}
	for _, v := range vs {
		if n.holds(strings.TrimSpace(string(v)), now) {
			return true
		}
	}
	return false
}

func (n *exprNode) holds(v string, now time.Time) bool {
	switch n.op {
	case opTruthy:
		switch strings.ToLower(v) {
		case "", "false", "0", "no", "off":
			return false
		}
		return true
	case opEquals:
		return strings.EqualFold(v, n.value)
	case opBit:
		i, err := strconv.ParseInt(v, 10, 64)
		return err == nil && i&n.mask != 0
	case opPast:
		t, ok := parseWhen(v, n.format)
		return ok && !t.After(now)
	case opLocked:
		if v == PermanentLock {
			return true
		}
		t, ok := parseWhen(v, fmtAuto)
		if !ok {
			return false
		}
		if !n.hasDur {
			// Without a duration only a lock that never expires counts:
			// AD's lockoutTime (non-zero while locked) and ppolicy's
			// permanent marker.
			return isFiletime(v)
		}
		return n.dur == 0 || now.Before(t.Add(n.dur))
	}
	return false
}

var errNever = errors.New("never")

func isFiletime(v string) bool {
	if len(v) < 15 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// parseWhen reads a date in format. ok is false for a value that means
// "never" (0, -1, AD's 0x7FFFFFFFFFFFFFFF) or does not parse: neither
// disables anyone.
func parseWhen(v, format string) (time.Time, bool) {
	if format == fmtAuto {
		format = guessFormat(v)
	}
	var t time.Time
	var err error
	switch format {
	case fmtGeneralized:
		t, err = parseGeneralized(v)
	case fmtDays, fmtFiletime, fmtUnix:
		var n int64
		n, err = strconv.ParseInt(v, 10, 64)
		if err == nil && (n <= 0 || n == 1<<63-1) {
			err = errNever
		}
		if err == nil {
			switch format {
			case fmtDays:
				if n > 1e7 {
					err = errNever
				} else {
					t = time.Unix(n*86400, 0).UTC()
				}
			case fmtFiletime:
				// 100 ns intervals since 1601-01-01; 11644473600 s before 1970.
				t = time.Unix(n/1e7-11644473600, (n%1e7)*100).UTC()
			case fmtUnix:
				if n > 1e13 {
					err = errNever
				} else {
					t = time.Unix(n, 0).UTC()
				}
			}
		}
	default:
		err = errNever
	}
	return t, err == nil
}

// guessFormat tells the date formats apart: GeneralizedTime has a zone or
// a fraction; among integers 15 digits and more are a FILETIME, up to 6
// days (shadowExpire), the rest Unix seconds.
func guessFormat(v string) string {
	digits := true
	for i := 0; i < len(v); i++ {
		if (v[i] < '0' || v[i] > '9') && !(i == 0 && v[i] == '-') {
			digits = false
			break
		}
	}
	switch {
	case !digits:
		return fmtGeneralized
	case len(v) >= 15:
		return fmtFiletime
	case len(v) <= 6:
		return fmtDays
	}
	return fmtUnix
}

// parseGeneralized reads an LDAP GeneralizedTime: YYYYMMDDHH[MM[SS]][.f](Z|±HHMM).
func parseGeneralized(v string) (time.Time, error) {
	for _, layout := range []string{"20060102150405Z0700", "200601021504Z0700", "2006010215Z0700",
		"20060102150405.999999999Z0700", "20060102150405,999999999Z0700"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a GeneralizedTime: %q", v)
}
