package syncer_test

import (
	"testing"

	"github.com/idsync/idsync/internal/directory/slapdtest"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store/storetest"
)

// Stale means "the plan would differ": edits the plan does not depend on —
// an unassigned device, a setting the plan ignores, a manual member of a
// profile the plan does not touch, a new empty service group — between
// preview and apply leave the preview good, and the apply goes through
// (issue 15 item 6).
func TestUnrelatedEditsKeepThePreview(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			srv := slapdtest.Start(t, slapdtest.Options{Users: 12, Teams: 2})
			e := setup(t, srv, storetest.Open(t, d))
			e.apply(e.preview(), false)
			e.modifyDirectory(0, "l", "Lisbon")
			p := e.preview()
			if p.Counts["actions"] != 1 {
				t.Fatalf("preview: %v, want one attribute update", p.Counts)
			}

			dev := &model.Device{Name: "spare laptop", Serial: "SN-1", Attributes: model.Attributes{model.AttrLocation: "Berlin"}}
			storetest.Must(t, e.st.CreateDevice(e.ctx, dev))
			dev.Attributes[model.AttrLocation] = "Hamburg"
			storetest.Must(t, e.st.UpdateDevice(e.ctx, dev))
			set, err := e.st.GetSettings(e.ctx)
			storetest.Must(t, err)
			set.RunRetentionDays = 30
			storetest.Must(t, e.st.UpdateSettings(e.ctx, set))
			other := &model.Profile{Name: "Hand-picked"}
			storetest.Must(t, e.st.CreateProfile(e.ctx, other))
			storetest.Must(t, e.st.AddProfileMember(e.ctx, other.ID, e.userByName(slapdtest.Username(3)).ID))
			storetest.Must(t, e.st.CreateServiceGroup(e.ctx, &model.ServiceGroup{Name: "Late arrival"}))

			r := e.apply(p, false)
			if r.Done != 1 {
				t.Errorf("apply did %d actions, want 1", r.Done)
			}
			if got := e.userByName(slapdtest.Username(0)).Attributes[model.AttrLocation]; got != "Lisbon" {
				t.Errorf("location after apply: %q", got)
			}
		})
	}
}
