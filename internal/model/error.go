// Package model holds idsync's domain types and the service interfaces that
// use them. It imports nothing from the project and carries no storage tags.
package model

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Error codes. The web layer maps each to one HTTP status (web/errors.go).
const (
	ECONFLICT     = "conflict"     // unique value taken, stale plan, run in progress
	EINTERNAL     = "internal"     // anything unexpected; the message is never shown
	EINVALID      = "invalid"      // bad input; Fields says which
	ENOTFOUND     = "not_found"    // no such object
	EUNAUTHORIZED = "unauthorized" // not signed in or bad credentials
	EFORBIDDEN    = "forbidden"    // signed in, but the role does not allow it
	EUNAVAILABLE  = "unavailable"  // a dependency (directory, product) did not answer
	ERATELIMIT    = "rate_limited" // too many attempts
	EBADREQUEST   = "bad_request"  // a body that cannot be read at all
	ETOOLARGE     = "too_large"    // a body over its route's limit
	EUNSUPPORTED  = "unsupported"  // a body type the route does not take (multipart where no file is expected)
)

// Error is the one error type that carries a user-facing message.
// Fields holds per-field validation messages for forms (field name → message).
type Error struct {
	Code    string
	Message string
	Fields  map[string]string
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+": "+e.Fields[k])
	}
	return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, strings.Join(parts, "; "))
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error carrying per-field messages; nil when
// fields is empty, so callers can write `if err := Invalid(f); err != nil`.
func Invalid(fields map[string]string) error {
	if len(fields) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Message: "Please correct the highlighted fields.", Fields: fields}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err. Internal errors get a
// generic message: their text may hold details a browser must not see.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "An internal error occurred."
}

// ErrorFields returns the per-field messages of err, or nil.
func ErrorFields(err error) map[string]string {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}
