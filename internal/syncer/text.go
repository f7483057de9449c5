package syncer

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
)

// maxDirValue is how many characters of a directory user's name, e-mail,
// display name or attribute value sync keeps: the console's limit for the
// same fields (docs/sync.md, "Texts").
const maxDirValue = 255

// cleanSnapshot makes every text of snap storable before anything is
// planned from it: invalid UTF-8 becomes U+FFFD, NUL bytes go, and names
// and values are cut on a character boundary to maxDirValue characters.
// Planning from the cleaned values keeps the next run from seeing a
// difference between what the directory says and what was stored.
func cleanSnapshot(snap *model.Snapshot) {
	if snap == nil {
		return
	}
	for i := range snap.Users {
		u := &snap.Users[i]
		u.ExternalID = store.CleanText(u.ExternalID, 0)
		u.DN = store.CleanText(u.DN, 0)
		u.Username = cleanValue(u.Username)
		u.Email = cleanValue(u.Email)
		u.DisplayName = cleanValue(u.DisplayName)
		// Attribute values are stored trimmed: planned trimmed, the next run
		// sees no difference.
		for k, v := range u.Attributes {
			if c := cleanValue(strings.TrimSpace(v)); c != v {
				u.Attributes[k] = c
			}
		}
	}
	for i := range snap.Groups {
		g := &snap.Groups[i]
		g.DN = store.CleanText(g.DN, 0)
		g.Name = store.CleanText(g.Name, 0)
		cleanAll(g.Users)
		cleanAll(g.Groups)
		cleanAll(g.Unresolved)
		for j := range g.Unmatched {
			um := &g.Unmatched[j]
			um.Value, um.Detail, um.DN = store.CleanText(um.Value, 0), store.CleanText(um.Detail, 0), store.CleanText(um.DN, 0)
			um.ExternalID, um.Username = store.CleanText(um.ExternalID, 0), cleanValue(um.Username)
		}
	}
}

// unmatchedSummary counts the snapshot's member values that matched no
// user, by reason ("3 dangling, 1 outside_base"); "" when there are none.
func unmatchedSummary(snap *model.Snapshot) string {
	counts := map[string]int{}
	var order []string
	for _, g := range snap.Groups {
		for _, um := range g.Unmatched {
			if counts[um.Reason] == 0 {
				order = append(order, um.Reason)
			}
			counts[um.Reason]++
		}
	}
	slices.Sort(order)
	parts := make([]string, len(order))
	for i, r := range order {
		parts[i] = strconv.Itoa(counts[r]) + " " + r
	}
	return strings.Join(parts, ", ")
}

func cleanAll(l []string) {
	for i, v := range l {
		l[i] = store.CleanText(v, 0)
	}
}

// cleanValue is CleanText cut to maxDirValue characters.
func cleanValue(s string) string {
	s = store.CleanText(s, 0)
	if len(s) <= maxDirValue || utf8.RuneCountInString(s) <= maxDirValue {
		return s
	}
	n := 0
	for i := range s {
		if n == maxDirValue {
			return s[:i]
		}
		n++
	}
	return s
}
