// Package components holds the console's shared templ components: tables
// with sortable headers, pagination, the live search box, form fields with
// inline error messages and flash messages.
package components

import (
	"net/url"
	"strconv"
)

// ListState describes one list page's query so that headers, pagination and
// the search box can build links that keep ?q=&sort=&dir=&page=.
type ListState struct {
	Path    string // list URL without query, e.g. "/users"
	Target  string // id of the element the table fragment replaces, e.g. "users-table"
	Q       string
	Sort    string
	Desc    bool
	Page    int
	PerPage int
	Total   int
	// Extra holds the list's own filters (e.g. kind=apply on /runs); every
	// page and sort link keeps them.
	Extra url.Values
}

// Pages returns the number of pages, at least 1.
func (l ListState) Pages() int {
	per := l.PerPage
	if per < 1 {
		per = 50
	}
	n := (l.Total + per - 1) / per
	if n < 1 {
		n = 1
	}
	return n
}

// URL returns the list URL for the given page, sort column and direction,
// keeping the search and the Extra filters.
func (l ListState) URL(page int, sort string, desc bool) string {
	v := url.Values{}
	for k, vals := range l.Extra {
		for _, x := range vals {
			if x != "" {
				v.Add(k, x)
			}
		}
	}
	if l.Q != "" {
		v.Set("q", l.Q)
	}
	if sort != "" {
		v.Set("sort", sort)
		if desc {
			v.Set("dir", "desc")
		} else {
			v.Set("dir", "asc")
		}
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return l.Path
	}
	return l.Path + "?" + v.Encode()
}

// PageURL returns the URL of page n with the current sort.
func (l ListState) PageURL(n int) string { return l.URL(n, l.Sort, l.Desc) }

// SortURL returns the URL that sorts by col: ascending first, toggling the
// direction when col is already the sort column. Sorting goes back to page 1.
func (l ListState) SortURL(col string) string {
	desc := false
	if l.Sort == col {
		desc = !l.Desc
	}
	return l.URL(1, col, desc)
}

// Arrow returns the direction marker shown next to the sorted column.
func (l ListState) Arrow(col string) string {
	if l.Sort != col {
		return ""
	}
	if l.Desc {
		return " ▼"
	}
	return " ▲"
}

// Field is one form field: its value as typed and its inline error.
type Field struct {
	Name      string
	Label     string
	Value     string
	Error     string
	Type      string // "text" when empty
	Help      string
	Required  bool
	ReadOnly  bool
	MaxLength int
	// Autocomplete is the input's autocomplete hint; a password field
	// defaults to "new-password", so browsers never offer the admin's
	// console password for a stored secret.
	Autocomplete string
}

func (f Field) autocomplete() string {
	if f.Autocomplete == "" && f.Type == "password" {
		return "new-password"
	}
	return f.Autocomplete
}

func (f Field) inputType() string {
	if f.Type == "" {
		return "text"
	}
	return f.Type
}

// Option is one choice of a select.
type Option struct {
	Value string
	Label string
}

func itoa(n int) string { return strconv.Itoa(n) }
