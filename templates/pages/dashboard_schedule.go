package pages

import (
	"fmt"
	"strings"
	"time"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/components"
)

// ScheduleView is the dashboard's schedule card: next refresh, last
// refresh, runs in progress, the "Run now" button and the history chart.
type ScheduleView struct {
	Info        model.ScheduleInfo
	Running     []model.Run // runs in progress, any replica
	CanEdit     bool
	CSRF        string
	Message     string
	MessageKind string // "success" or "error"
	Chart       *components.RunChart
}

// scheduleTime formats t in the schedule's zone with the zone's name, e.g.
// "Mon 2 Jun 2026, 02:00 CEST (Europe/Berlin)".
func scheduleTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "never"
	}
	if loc == nil {
		loc = time.Local
	}
	s := t.In(loc).Format("Mon 2 Jan 2006, 15:04 MST")
	if name := loc.String(); name != "Local" && name != t.In(loc).Format("MST") {
		s += " (" + name + ")"
	}
	return s
}

// scheduleEvery describes the schedule settings.
func scheduleEvery(in model.ScheduleInfo) string {
	return fmt.Sprintf("Every %d h, anchored at %s", in.IntervalHours, in.StartTime)
}

func scheduleTrigger(t model.RunTrigger) string {
	switch t {
	case model.TriggerSchedule:
		return "scheduled"
	case model.TriggerAdmin:
		return "run now"
	case "":
		return ""
	}
	return string(t)
}

func scheduleStatusClass(st model.RunStatus) string {
	switch st {
	case model.RunSucceeded:
		return "badge ok"
	case model.RunFailed, model.RunHeld, model.RunCancelled:
		return "badge off"
	}
	return "badge"
}

// SchedulePolls reports whether the card should refresh itself: while a
// run is in progress.
func SchedulePolls(v ScheduleView) bool {
	return len(v.Running) > 0 || v.Info.Running
}

// schedulePercent is a running run's progress, 0 to 100.
func schedulePercent(r model.Run) int {
	if r.Total <= 0 {
		return 0
	}
	return min(100, r.Done*100/r.Total)
}

// schedulePhase names a phase for people: "service_groups" → "service groups".
func schedulePhase(p model.Phase) string { return strings.ReplaceAll(string(p), "_", " ") }
