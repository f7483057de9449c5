package store

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/idsync/idsync/internal/model"
)

// Field limits shared by every form.
const (
	maxName  = 255
	maxText  = 2000
	maxValue = 255
)

// fields collects per-field validation messages; the first message for a
// field wins.
type fields map[string]string

func (f fields) add(field, format string, args ...any) {
	if _, ok := f[field]; !ok {
		f[field] = fmt.Sprintf(format, args...)
	}
}

func (f fields) err() error { return model.Invalid(f) }

// text checks a trimmed single-line value: required when req, at most max
// characters, no control characters.
func (f fields) text(field, v string, req bool, max int) {
	switch {
	case req && v == "":
		f.add(field, "is required")
	case utf8.RuneCountInString(v) > max:
		f.add(field, "must be at most %d characters", max)
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		f.add(field, "must not contain control characters")
	}
}

// multiline is like text but allows line breaks and tabs.
func (f fields) multiline(field, v string, max int) {
	switch {
	case utf8.RuneCountInString(v) > max:
		f.add(field, "must be at most %d characters", max)
	case strings.IndexFunc(v, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' }) >= 0:
		f.add(field, "must not contain control characters")
	}
}

// email checks an optional e-mail address: a bare addr-spec.
func (f fields) email(field, v string) {
	if v == "" {
		return
	}
	f.text(field, v, false, maxName)
	at := strings.LastIndexByte(v, '@')
	a, err := mail.ParseAddress(v)
	if err != nil || a.Address != v || a.Name != "" || at < 1 || !strings.Contains(v[at+1:], ".") {
		f.add(field, "is not a valid e-mail address")
	}
}

// oneOf checks that v is one of allowed.
func oneOf[T ~string](f fields, field string, v T, allowed ...T) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	f.add(field, "is not a valid choice")
}
