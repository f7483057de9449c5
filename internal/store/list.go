package store

import (
	"strings"

	"github.com/idsync/idsync/internal/model"
)

// likePattern returns the LIKE pattern for a case-insensitive substring
// search over a lower-cased column, with LIKE's wildcards escaped (use with
// ESCAPE '\'); "" when there is nothing to search for.
func likePattern(search string) string {
	s := strings.ToLower(strings.TrimSpace(search))
	if s == "" {
		return ""
	}
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// orderBy returns the ORDER BY clause for q: the SQL expression allowed[q.Sort]
// (or allowed[def] for an unknown column), then id as a tie-break so pages
// never overlap. Only the whitelisted expressions ever reach SQL.
func orderBy(q model.ListQuery, allowed map[string]string, def string) string {
	expr, ok := allowed[q.Sort]
	if !ok {
		expr = allowed[def]
	}
	dir := ""
	if q.Desc {
		dir = " DESC"
	}
	if expr == "id" {
		return "id" + dir
	}
	return expr + dir + ", id" + dir
}

// searchText is what a list search matches: the fields, lower-cased, one
// per line so that a search never matches across two fields.
func searchText(fields ...string) string {
	return strings.ToLower(strings.Join(fields, "\n"))
}
