package components

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/a-h/templ"

	"github.com/idsync/idsync/internal/model"
)

func render(t *testing.T, c templ.Component) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestListStateURLs(t *testing.T) {
	l := ListState{Path: "/users", Q: "a&b", Sort: "email", Desc: false, Page: 3, PerPage: 50, Total: 101}
	tests := []struct{ name, got, want string }{
		{"page keeps search and sort", l.PageURL(2), "/users?dir=asc&page=2&q=a%26b&sort=email"},
		{"same column toggles", l.SortURL("email"), "/users?dir=desc&q=a%26b&sort=email"},
		{"other column starts ascending", l.SortURL("username"), "/users?dir=asc&q=a%26b&sort=username"},
		{"page 1 is implicit", ListState{Path: "/devices"}.PageURL(1), "/devices"},
		{"extra filters kept, empty ones dropped",
			ListState{Path: "/runs", Extra: url.Values{"kind": {"apply"}, "status": {""}}}.PageURL(2),
			"/runs?kind=apply&page=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	if got, want := l.Pages(), 3; got != want {
		t.Errorf("Pages = %d, want %d", got, want)
	}
}

func TestPagination(t *testing.T) {
	for _, tt := range []struct {
		name       string
		l          ListState
		prev, next int
		info       string
	}{
		{"first", ListState{Path: "/u", Target: "t", Page: 1, PerPage: 50, Total: 120}, 0, 1, "Page 1 of 3 (120 total)"},
		{"middle", ListState{Path: "/u", Target: "t", Page: 2, PerPage: 50, Total: 120}, 1, 1, "Page 2 of 3 (120 total)"},
		{"last", ListState{Path: "/u", Target: "t", Page: 3, PerPage: 50, Total: 120}, 1, 0, "Page 3 of 3 (120 total)"},
		{"empty", ListState{Path: "/u", Target: "t", Page: 1, PerPage: 50}, 0, 0, "Page 1 of 1 (0 total)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := render(t, Pagination(tt.l))
			if got := strings.Count(out, `data-testid="page-prev"`); got != tt.prev {
				t.Errorf("prev links = %d, want %d", got, tt.prev)
			}
			if got := strings.Count(out, `data-testid="page-next"`); got != tt.next {
				t.Errorf("next links = %d, want %d", got, tt.next)
			}
			if !strings.Contains(out, tt.info) {
				t.Errorf("missing %q in %s", tt.info, out)
			}
		})
	}
}

func TestSortHeaderAndSearch(t *testing.T) {
	l := ListState{Path: "/users", Target: "users-table", Q: `"><script>x</script>`, Sort: "username", Desc: true}
	h := render(t, SortHeader(l, "username", "Username"))
	if !strings.Contains(h, `data-testid="sort-username"`) || !strings.Contains(h, `aria-sort="descending"`) || !strings.Contains(h, "▼") {
		t.Errorf("sorted header lacks its marks: %s", h)
	}
	s := render(t, SearchBox(l, "Search users"))
	if strings.Contains(s, "<script>") {
		t.Errorf("search value not escaped: %s", s)
	}
	if !strings.Contains(s, `data-testid="search"`) || !strings.Contains(s, `hx-target="#users-table"`) {
		t.Errorf("search box lacks its hooks: %s", s)
	}
}

func TestFields(t *testing.T) {
	out := render(t, TextField(Field{Name: "username", Label: "Username", Value: "<b>x</b>", Error: "is required"}))
	if !strings.Contains(out, `data-testid="error-username"`) || !strings.Contains(out, `aria-invalid="true"`) {
		t.Errorf("inline error missing: %s", out)
	}
	if strings.Contains(out, "<b>x</b>") {
		t.Errorf("value not escaped: %s", out)
	}
	ok := render(t, TextField(Field{Name: "username", Label: "Username"}))
	if strings.Contains(ok, "error-username") {
		t.Errorf("error shown without an error")
	}
	sel := render(t, SelectField(Field{Name: "status", Value: "disabled"}, []Option{{"active", "Active"}, {"disabled", "Disabled"}}))
	if !strings.Contains(sel, `<option value="disabled" selected>`) {
		t.Errorf("selected option not marked: %s", sel)
	}
	rules := render(t, RulesEditor([]model.Rule{{Attribute: "location", Value: "Berlin"}}, []model.AttributeDef{{Key: "location", Name: "Location"}}, map[string]string{"rules.0": "bad value"}, false))
	if !strings.Contains(rules, `data-testid="error-rules-0"`) {
		t.Errorf("row error not shown: %s", rules)
	}
	if got := strings.Count(rules, `data-testid="rule-row-`); got != 4 {
		t.Errorf("rule rows = %d, want 4 (1 + 3 blank)", got)
	}
	if got, want := RulesText([]model.Rule{{Attribute: "location", Value: "Berlin"}, {Attribute: "cost_center", Value: "CC-1"}}), "location = Berlin AND cost_center = CC-1"; got != want {
		t.Errorf("RulesText = %q, want %q", got, want)
	}
}
