package pages

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/a-h/templ"

	"github.com/idsync/idsync/internal/model"
)

func renderPage(t *testing.T, c templ.Component) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// inputTag returns the opening tag of the element with data-testid id.
func inputTag(t *testing.T, html, id string) string {
	t.Helper()
	m := regexp.MustCompile(`<[a-z]+[^>]*data-testid="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(html)
	if m == "" {
		t.Fatalf("no element %s", id)
	}
	return m
}

func TestUserPageOrigin(t *testing.T) {
	attrs := []model.AttributeDef{{Key: "location", Name: "Location"}}
	dir := model.User{ID: 7, Username: "dora", Origin: model.OriginDirectory, SourceID: 2, ExternalID: "uuid-1", DN: "uid=dora,ou=people", Status: model.StatusActive, AccountType: model.AccountDeviceEnabled}
	local := model.User{ID: 8, Username: "lou", Origin: model.OriginLocal, Status: model.StatusActive, AccountType: model.AccountDeviceEnabled}
	for _, tt := range []struct {
		name     string
		u        model.User
		readOnly bool
		origin   int
	}{
		{"directory user: identity read-only, origin shown", dir, true, 1},
		{"local user: editable, no directory details", local, false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			html := renderPage(t, UserPage(UserView{Form: UserForm{User: tt.u, Attrs: attrs}, SourceName: "Corp AD", CanEdit: true}))
			for _, id := range []string{"user-source", "user-dn", "user-external-id"} {
				if got := strings.Count(html, `data-testid="`+id+`"`); got != tt.origin {
					t.Errorf("%s shown %d times, want %d", id, got, tt.origin)
				}
			}
			for _, id := range []string{"field-username", "field-email", "field-attr_location"} {
				if got := strings.Contains(inputTag(t, html, id), " readonly"); got != tt.readOnly {
					t.Errorf("%s readonly = %v, want %v", id, got, tt.readOnly)
				}
			}
			if strings.Contains(inputTag(t, html, "field-status"), " disabled") {
				t.Errorf("status must stay editable")
			}
		})
	}
	t.Run("auditor sees no forms", func(t *testing.T) {
		html := renderPage(t, UserPage(UserView{Form: UserForm{User: local}}))
		for _, id := range []string{"user-save", "user-delete", "assign-device", "add-profile"} {
			if strings.Contains(html, `data-testid="`+id+`"`) {
				t.Errorf("%s shown to a read-only viewer", id)
			}
		}
	})
}

func TestUsersTableHook(t *testing.T) {
	hook := templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		_, err := io.WriteString(w, `<button data-testid="bulk-hook">Sync selected users</button>`)
		return err
	})
	html := renderPage(t, UsersTable(UsersView{Users: []model.User{{ID: 1, Username: "a"}}, Actions: hook}))
	form := strings.Index(html, `id="users-select"`)
	btn := strings.Index(html, `data-testid="bulk-hook"`)
	end := strings.Index(html, `</form>`)
	if form < 0 || btn < form || btn > end {
		t.Errorf("bulk action not inside the users-select form: %s", html)
	}
	if !strings.Contains(html, `name="user_id" value="1"`) {
		t.Errorf("row checkbox missing")
	}
}

func TestProfileSyncCheckbox(t *testing.T) {
	for _, tt := range []struct {
		name              string
		rules             []model.Rule
		disabled, checked bool
	}{
		{"no rules: disabled and off", nil, true, false},
		{"rules: enabled and on", []model.Rule{{Attribute: "location", Value: "Berlin"}}, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			html := renderPage(t, GroupPage(GroupView{Kind: ProfileKind, CanEdit: true, Form: GroupForm{ID: 1, Name: "p", Rules: tt.rules, SyncEnabled: true}}))
			tag := inputTag(t, html, "field-sync_enabled")
			if got := strings.Contains(tag, " disabled"); got != tt.disabled {
				t.Errorf("disabled = %v, want %v: %s", got, tt.disabled, tag)
			}
			if got := strings.Contains(tag, " checked"); got != tt.checked {
				t.Errorf("checked = %v, want %v: %s", got, tt.checked, tag)
			}
		})
	}
	sg := renderPage(t, GroupPage(GroupView{Kind: ServiceGroupKind, CanEdit: true, Form: GroupForm{ID: 1, Name: "g"}}))
	if strings.Contains(sg, "field-sync_enabled") {
		t.Errorf("service groups have no sync checkbox")
	}
}

func TestSettingsPageToggles(t *testing.T) {
	v := SettingsView{
		Toggles: []SettingToggle{{Key: "auto_profile_sync", Label: "Automatic profile synchronization", Description: "Master switch.", On: true}},
		Values:  map[string]string{"refresh_interval_hours": "48"},
		Errors:  map[string]string{"refresh_start_time": "must be a time of day as HH:MM"},
		CanEdit: true,
	}
	html := renderPage(t, SettingsPage(v))
	toggle := inputTag(t, html, "toggle-auto_profile_sync")
	if !strings.Contains(toggle, `hx-post="/settings/toggle"`) || !strings.Contains(toggle, `hx-trigger="change"`) {
		t.Errorf("toggle does not save in place: %s", toggle)
	}
	if !strings.Contains(inputTag(t, html, "setting-auto_profile_sync"), " checked") {
		t.Errorf("switch that is on is not checked")
	}
	if !strings.Contains(html, "Master switch.") || strings.Count(html, `data-testid="error-refresh_start_time"`) != 1 {
		t.Errorf("description or inline error missing")
	}
	if strings.Contains(html, `data-testid="saved-auto_profile_sync"`) {
		t.Errorf("Saved shown before saving")
	}
	saved := renderPage(t, SettingToggleForm(v.Toggles[0], "tok", true, true))
	if !strings.Contains(saved, `data-testid="saved-auto_profile_sync"`) {
		t.Errorf("Saved missing after saving")
	}
}
