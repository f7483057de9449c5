package store

import (
	"strings"

	"gorm.io/gorm"

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

// whereSearch narrows db to rows whose lower-cased column col contains the
// search term. PostgreSQL uses LIKE, which the trigram index serves; SQLite
// uses instr, a plain substring test about twice as fast as its LIKE.
func (s *Store) whereSearch(db *gorm.DB, col, search string) *gorm.DB {
	term := strings.ToLower(strings.TrimSpace(search))
	if term == "" {
		return db
	}
	if s.dialect == DialectSQLite {
		return db.Where("instr("+col+", ?) > 0", term)
	}
	return db.Where(col+` LIKE ? ESCAPE '\'`, likePattern(term))
}

// pageIDs returns the ids of q's page of the rows selected by where, in
// order, and the total. Reading ids first keeps deep pages cheap: the index
// answers them without touching the rows that are skipped. On SQLite a
// search scans the table once and sorts the matches, instead of walking the
// sort index and testing every row.
func (s *Store) pageIDs(where *gorm.DB, order string, q model.ListQuery) ([]int64, int, error) {
	q = q.Normalize()
	if s.dialect == DialectSQLite && strings.TrimSpace(q.Search) != "" {
		terms := strings.Split(order, ", ")
		for i := range terms {
			terms[i] = "+" + terms[i] // unary +: no index for the order
		}
		var all []int64
		if err := where.Session(&gorm.Session{}).Order(strings.Join(terms, ", ")).Pluck("id", &all).Error; err != nil {
			return nil, 0, err
		}
		lo := min(q.Offset(), len(all))
		hi := min(lo+q.PerPage, len(all))
		return all[lo:hi], len(all), nil
	}
	var total int64
	if err := where.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var ids []int64
	if total > int64(q.Offset()) {
		if err := where.Session(&gorm.Session{}).Order(order).Limit(q.PerPage).Offset(q.Offset()).Pluck("id", &ids).Error; err != nil {
			return nil, 0, err
		}
	}
	return ids, int(total), nil
}

// inOrder returns rows sorted like ids.
func inOrder[R any](ids []int64, rows []R, id func(*R) int64) []R {
	pos := make(map[int64]int, len(ids))
	for i, v := range ids {
		pos[v] = i
	}
	out := make([]R, len(ids))
	n := 0
	for i := range rows {
		if p, ok := pos[id(&rows[i])]; ok {
			out[p] = rows[i]
			n++
		}
	}
	if n != len(ids) { // a row vanished between the two reads
		kept := out[:0]
		for i := range out {
			if id(&out[i]) != 0 {
				kept = append(kept, out[i])
			}
		}
		out = kept
	}
	return out
}
