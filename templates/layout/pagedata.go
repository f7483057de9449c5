// Package layout holds the page frame every console page renders in.
package layout

import (
	"encoding/json"

	"github.com/idsync/idsync/internal/model"
)

// PageData is what the frame needs besides the page body.
type PageData struct {
	Title string
	Admin *model.Admin // nil when anonymous: no navigation is shown
	CSRF  string       // the session's CSRF token
	Flash string       // a one-time message shown above the page
	// FlashError shows Flash as an error (a refusal), not as information.
	FlashError bool
	Active     string // key of the highlighted nav item (see Nav)
	Demo       bool   // running with the embedded demo directory
}

// NavItem is one link of the main navigation.
type NavItem struct{ Key, Label, Href string }

// Nav is the main navigation, in display order. Key is the first segment
// of the item's path ("" for the dashboard → "dashboard").
var nav = []NavItem{
	{"dashboard", "Dashboard", "/"},
	{"users", "Users", "/users"},
	{"devices", "Devices", "/devices"},
	{"service-groups", "Service groups", "/service-groups"},
	{"profiles", "Profiles", "/profiles"},
	{"attributes", "Attributes", "/attributes"},
	{"sources", "Sources", "/sources"},
	{"mappings", "Mappings", "/mappings"},
	{"sync", "Sync", "/sync"},
	{"runs", "Runs", "/runs"},
	{"products", "Products", "/products"},
	{"settings", "Settings", "/settings"},
	{"audit", "Audit", "/audit"},
	{"import", "Import", "/import"},
	{"accounts", "Accounts", "/accounts"}, // admins only (navFor)
}

// navFor returns the items a shows: auditors do not see Accounts.
func navFor(a *model.Admin) []NavItem {
	out := make([]NavItem, 0, len(nav))
	for _, n := range nav {
		if n.Key == "accounts" && (a == nil || a.Role != model.RoleAdmin) {
			continue
		}
		out = append(out, n)
	}
	return out
}

// Nav returns the navigation items.
func Nav() []NavItem { return append([]NavItem(nil), nav...) }

// NavLabel returns the label of the item with key, or "".
func NavLabel(key string) string {
	for _, n := range nav {
		if n.Key == key {
			return n.Label
		}
	}
	return ""
}

// csrfHeaders is the hx-headers value that makes htmx send the CSRF token.
func csrfHeaders(token string) string {
	b, _ := json.Marshal(map[string]string{"X-CSRF-Token": token})
	return string(b)
}

// htmxConfig: no inline indicator styles and no eval (the CSP forbids both);
// error responses are swapped too — the server retargets them to #flash.
const htmxConfig = `{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"[45]..","swap":true,"error":true}]}`

func title(p PageData) string {
	if p.Title == "" {
		return "idsync"
	}
	return p.Title + " · idsync"
}

func roleLabel(a *model.Admin) string {
	if a.Role == model.RoleAuditor {
		return "auditor, read-only"
	}
	return string(a.Role)
}
