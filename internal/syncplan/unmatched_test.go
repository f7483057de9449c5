package syncplan

import (
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/model"
)

// Every unmatched member of a mapped group (or one nested in it) is a skip
// line with its reason; one pointing at an idsync user names that user.
func TestUnmatchedMemberSkips(t *testing.T) {
	const root, sub = "cn=root,dc=x", "cn=sub,dc=x"
	snap := &model.Snapshot{SourceID: 1, Complete: true,
		Users: []model.DirUser{{ExternalID: "e-ann", DN: "uid=ann,ou=p,dc=x", Username: "ann"}},
		Groups: []model.DirGroup{
			{DN: root, Users: []string{"e-ann"}, Groups: []string{sub}, Unresolved: []string{"junk"},
				Unmatched: []model.UnmatchedMember{{Value: "junk", Reason: model.UnmatchedUnparseable, Detail: `member value "junk" is not a DN`}}},
			{DN: sub, Unresolved: []string{"uid=erin,ou=c,dc=x"},
				Unmatched: []model.UnmatchedMember{{Value: "uid=erin,ou=c,dc=x", Reason: model.UnmatchedOutsideBase, Detail: "member uid=erin,ou=c,dc=x is outside the user base ou=p,dc=x", ExternalID: "e-erin", DN: "uid=erin,ou=c,dc=x", Username: "erin"}}},
			{DN: "cn=unmapped,dc=x", Unresolved: []string{"x"}},
		}}
	st := &model.State{
		Settings:      model.Settings{ProvisioningEnabled: true},
		Users:         []model.User{{ID: 7, Username: "erin", Origin: model.OriginDirectory, SourceID: 1, ExternalID: "e-erin", DN: "uid=erin,ou=c,dc=x", Status: model.StatusActive}},
		ServiceGroups: []model.ServiceGroup{{ID: 3, Name: "Staff"}},
		GroupMappings: []model.GroupMapping{{ID: 1, SourceID: 1, GroupDN: root, ServiceGroupID: 3, Nested: true}},
	}
	plan := Build(Input{Snapshot: snap, State: st, SourceID: 1})
	var lines []model.Skip
	for _, s := range plan.Skips {
		if IsUnmatchedMember(s.Reason) {
			lines = append(lines, s)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("unmatched skip lines = %+v, want 2 (junk, erin; not the unmapped group's)", lines)
	}
	for _, s := range lines {
		if s.Kind != model.ActAddServiceGroup || s.GroupID != 3 {
			t.Errorf("line %+v: want add_service_group to Staff", s)
		}
		switch {
		case strings.Contains(s.Reason, "[unparseable]"):
			if s.UserID != 0 {
				t.Errorf("junk names user %d", s.UserID)
			}
		case strings.Contains(s.Reason, "[outside_base]"):
			if s.UserID != 7 || !strings.Contains(s.Reason, "nested group") {
				t.Errorf("erin's line = %+v; want user 7 and the nested group named", s)
			}
		default:
			t.Errorf("unexpected line %+v", s)
		}
	}
	// Why? for erin lists the line.
	ex := Explain(Input{Snapshot: snap, State: st, SourceID: 1}, 7)
	if !strings.Contains(ex.String(), "[outside_base]") {
		t.Errorf("Why? erin:\n%s", ex)
	}
	// A partial read (refresh) adds none.
	snap.Complete = false
	for _, s := range Build(Input{Snapshot: snap, State: st, SourceID: 1}).Skips {
		if IsUnmatchedMember(s.Reason) {
			t.Errorf("partial read: %+v", s)
		}
	}
}
