package scheduler

import (
	"testing"
	"time"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/store"
)

// FuzzScheduleFields drives the settings page's schedule fields: the
// scheduler and the store accept exactly the same values (one rule), and
// Next never panics and, for accepted values, gives a first run at least
// one interval (less a DST hour) and at most one interval and a day after
// installation.
func FuzzScheduleFields(f *testing.F) {
	for _, s := range []struct {
		interval  int
		start, tz string
	}{
		{48, "02:00", ""}, {1, "0:05", "Europe/Berlin"}, {8760, "23:59", "America/New_York"},
		{0, "24:00", "Mars/Olympus"}, {48, " 2:30 ", "UTC"}, {48, "+2:00", ""}, {48, "02:5", ""},
		{24, "02:30", "Europe/London"}, {-1, "", "../../etc/passwd"}, {1 << 40, "2:00", "Local"},
	} {
		f.Add(s.interval, s.start, s.tz, int64(1_764_547_200))
	}
	f.Fuzz(func(t *testing.T, interval int, start, tz string, installed int64) {
		verr := Validate(interval, start, tz)
		st := model.DefaultSettings()
		st.RefreshIntervalHours, st.RefreshStartTime, st.TimeZone = interval, start, tz
		serr := store.ValidateSettings(st)
		sf := model.ErrorFields(serr)
		schedErr := sf["refresh_interval_hours"] != "" || sf["refresh_start_time"] != "" || sf["time_zone"] != ""
		if (verr != nil) != schedErr {
			t.Fatalf("scheduler says %v, store says %v for (%d, %q, %q)", verr, serr, interval, start, tz)
		}
		inst := time.Unix(installed%(1<<34), 0).UTC() // years 1970–2514
		loc := Zone(st, time.UTC)
		got := Next(inst, time.Time{}, inst, interval, start, loc)
		if got.IsZero() {
			t.Fatalf("Next is zero for (%d, %q, %q)", interval, start, tz)
		}
		if verr != nil {
			return
		}
		d := time.Duration(interval) * time.Hour
		if got.Before(inst.Add(d-time.Hour)) || got.After(inst.Add(d+25*time.Hour)) {
			t.Fatalf("first run %s for install %s, interval %dh, start %q in %s: not within one interval and a day", got, inst, interval, start, loc)
		}
	})
}
