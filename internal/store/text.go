package store

import (
	"strings"
	"unicode/utf8"

	"github.com/idsync/idsync/internal/model"
)

// Limits of the texts sync writes (docs/sync.md, "Texts"). The columns are
// TEXT on both databases; these bounds keep rows and pages small.
const (
	maxAuditSummary = 2000 // bytes, then "…"
	maxItemText     = 2000 // bytes of each run item text
	maxRunError     = 4000 // bytes of a run's error
)

// CleanText returns s as valid UTF-8 with no NUL byte — PostgreSQL refuses
// both (SQLSTATE 22021) where SQLite would store them — and, when max > 0,
// cut on a character boundary to at most max bytes. Invalid bytes become
// U+FFFD. The common case, a short valid text, is returned as is.
func CleanText(s string, max int) string {
	if (max <= 0 || len(s) <= max) && strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return cutText(s, max)
}

// cutText cuts valid UTF-8 s to at most max bytes (max <= 0: no limit)
// on a character boundary.
func cutText(s string, max int) string {
	if max <= 0 || len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// cleanItems makes every text of items fit to store (see CleanText).
func cleanItems(items []model.RunItem) {
	for i := range items {
		it := &items[i]
		it.Username = CleanText(it.Username, maxItemText)
		it.Object = CleanText(it.Object, maxItemText)
		it.Old = CleanText(it.Old, maxItemText)
		it.New = CleanText(it.New, maxItemText)
		it.Reason = CleanText(it.Reason, maxItemText)
		it.Outcome = CleanText(it.Outcome, maxItemText)
	}
}
