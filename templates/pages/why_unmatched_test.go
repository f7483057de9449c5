package pages

import (
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/syncplan"
)

// Why? shows the unmatched member values that point at the user, with the
// preview run they come from, escaped.
func TestWhyShowsUnmatchedMembers(t *testing.T) {
	ex := syncplan.Explanation{UserID: 3, Username: "dave", Found: true, Managed: true, InDirectory: true,
		Unmatched:      []string{`member of directory group "cn=posix" matches no user [unknown_uid]: memberUid "DAVE" <b>`},
		UnmatchedRunID: 41}
	html := renderPage(t, WhyPanel(ex))
	if strings.Count(html, `data-testid="why-unmatched"`) != 1 || !strings.Contains(html, "[unknown_uid]") || !strings.Contains(html, "#41") {
		t.Errorf("unmatched line missing:\n%s", html)
	}
	if strings.Contains(html, "<b>") {
		t.Error("the value is not escaped")
	}
	ex.Unmatched = nil
	if strings.Contains(renderPage(t, WhyPanel(ex)), "why-unmatched") {
		t.Error("an empty list renders a section")
	}
}
