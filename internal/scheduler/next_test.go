package scheduler

import (
	"testing"
	"time"

	"github.com/idsync/idsync/internal/model"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return loc
}

func TestNext(t *testing.T) {
	utc := time.UTC
	berlin := mustLoc(t, "Europe/Berlin")
	ny := mustLoc(t, "America/New_York")
	at := func(loc *time.Location, y int, mo time.Month, d, h, mi int) time.Time {
		return time.Date(y, mo, d, h, mi, 0, 0, loc)
	}
	var zero time.Time
	tests := []struct {
		name      string
		installed time.Time
		last      time.Time
		interval  int
		start     string
		loc       *time.Location
		want      time.Time
	}{
		{"first run: default 02:00, 48 h after install", at(utc, 2026, 5, 4, 15, 0), zero, 48, "02:00", utc,
			at(utc, 2026, 5, 7, 2, 0)},
		{"first run: install exactly on a slot", at(utc, 2026, 5, 4, 2, 0), zero, 48, "02:00", utc,
			at(utc, 2026, 5, 6, 2, 0)},
		{"first run: install one minute after a slot", at(utc, 2026, 5, 4, 2, 1), zero, 24, "02:00", utc,
			at(utc, 2026, 5, 6, 2, 0)},
		{"after an on-time run: one interval later", at(utc, 2026, 5, 1, 9, 0), at(utc, 2026, 5, 7, 2, 0), 48, "02:00", utc,
			at(utc, 2026, 5, 9, 2, 0)},
		{"a run a few seconds late belongs to its slot", at(utc, 2026, 5, 1, 9, 0), time.Date(2026, 5, 7, 2, 0, 7, 0, utc), 48, "02:00", utc,
			at(utc, 2026, 5, 9, 2, 0)},
		{"catch-up run after downtime returns to the rhythm", at(utc, 2026, 5, 1, 9, 0), at(utc, 2026, 5, 10, 10, 37), 48, "02:00", utc,
			at(utc, 2026, 5, 12, 2, 0)},
		{"6 h interval: slots 02, 08, 14, 20", zero, at(utc, 2026, 5, 7, 8, 0), 6, "02:00", utc,
			at(utc, 2026, 5, 7, 14, 0)},
		{"6 h interval: 20:00 → 02:00 next day", zero, at(utc, 2026, 5, 7, 20, 0), 6, "02:00", utc,
			at(utc, 2026, 5, 8, 2, 0)},
		{"6 h interval: run between slots belongs to the earlier", zero, at(utc, 2026, 5, 7, 9, 30), 6, "02:00", utc,
			at(utc, 2026, 5, 7, 14, 0)},
		{"6 h interval anchored at 20:00 spills past midnight", zero, at(utc, 2026, 5, 7, 20, 0), 6, "20:00", utc,
			at(utc, 2026, 5, 8, 2, 0)},
		{"6 h interval, start 20:00, from 14:00", zero, at(utc, 2026, 5, 8, 14, 0), 6, "20:00", utc,
			at(utc, 2026, 5, 8, 20, 0)},
		{"5 h interval: the short gap around the start time is skipped", zero, at(utc, 2026, 5, 7, 22, 0), 5, "02:00", utc,
			at(utc, 2026, 5, 8, 7, 0)},
		{"1 h interval: a run at 13:00 belongs to the 12:30 slot", zero, at(utc, 2026, 5, 7, 13, 0), 1, "02:30", utc,
			at(utc, 2026, 5, 7, 13, 30)},
		{"Berlin: a catch-up run in the second 02:xx hour waits a day", zero, time.Date(2026, 10, 25, 1, 17, 0, 0, utc), 24, "02:30", berlin,
			at(berlin, 2026, 10, 26, 2, 30)},
		{"36 h interval rounds up to the next start time", zero, at(utc, 2026, 5, 7, 2, 0), 36, "02:00", utc,
			at(utc, 2026, 5, 9, 2, 0)},
		{"720 h interval", zero, at(utc, 2026, 5, 1, 2, 0), 720, "02:00", utc,
			at(utc, 2026, 5, 31, 2, 0)},
		{"changed start time takes effect at once", zero, at(utc, 2026, 5, 7, 2, 0), 24, "23:15", utc,
			at(utc, 2026, 5, 7, 23, 15)},
		{"changed interval takes effect at once", zero, at(utc, 2026, 5, 7, 2, 0), 168, "02:00", utc,
			at(utc, 2026, 5, 14, 2, 0)},
		{"8760 h interval: a year later", zero, at(utc, 2026, 5, 1, 2, 0), 8760, "02:00", utc,
			at(utc, 2027, 5, 1, 2, 0)},
		{"invalid values fall back to 48 h at 02:00", at(utc, 2026, 5, 4, 15, 0), zero, 0, "25:99", utc,
			at(utc, 2026, 5, 7, 2, 0)},
		{"Berlin: wall clock kept across spring forward", zero, at(berlin, 2026, 3, 28, 2, 0), 24, "02:00", berlin,
			// 02:00 does not exist on 29 March: moved forward by the gap.
			at(berlin, 2026, 3, 29, 3, 0)},
		{"Berlin: 02:30 on the spring-forward day is 03:30 CEST", zero, at(berlin, 2026, 3, 28, 2, 30), 24, "02:30", berlin,
			time.Date(2026, 3, 29, 1, 30, 0, 0, utc)},
		{"Berlin: the day after spring forward is back at 02:30", zero, time.Date(2026, 3, 29, 1, 30, 0, 0, utc), 24, "02:30", berlin,
			at(berlin, 2026, 3, 30, 2, 30)},
		{"Berlin: 02:30 on the fall-back day is the first (CEST) one", zero, at(berlin, 2026, 10, 24, 2, 30), 24, "02:30", berlin,
			time.Date(2026, 10, 25, 0, 30, 0, 0, utc)},
		{"Berlin: the repeated hour does not run twice", zero, time.Date(2026, 10, 25, 0, 30, 0, 0, utc), 24, "02:30", berlin,
			at(berlin, 2026, 10, 26, 2, 30)},
		{"Berlin: 6 h slots stay on 02/08/14/20 after spring forward", zero, time.Date(2026, 3, 29, 1, 0, 0, 0, utc), 6, "02:00", berlin,
			at(berlin, 2026, 3, 29, 8, 0)},
		{"New York: 02:30 on the spring-forward day is 03:30 EDT", zero, at(ny, 2026, 3, 7, 2, 30), 24, "02:30", ny,
			time.Date(2026, 3, 8, 7, 30, 0, 0, utc)},
		{"New York: a run at the moved slot does not repeat", zero, time.Date(2026, 3, 8, 7, 30, 0, 0, utc), 24, "02:30", ny,
			at(ny, 2026, 3, 9, 2, 30)},
		{"New York: 01:30 on the fall-back day is the first (EDT) one", zero, at(ny, 2026, 10, 31, 1, 30), 24, "01:30", ny,
			time.Date(2026, 11, 1, 5, 30, 0, 0, utc)},
		{"New York: first run counts wall-clock hours over DST", at(ny, 2026, 3, 7, 12, 0), zero, 48, "02:00", ny,
			at(ny, 2026, 3, 10, 2, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.last
			if now.IsZero() {
				now = tt.installed
			}
			got := Next(tt.installed, tt.last, now, tt.interval, tt.start, tt.loc)
			if !got.Equal(tt.want) {
				t.Errorf("Next = %s, want %s", got.In(tt.loc), tt.want.In(tt.loc))
			}
		})
	}
}

// After any run the next slot is in the future, so a loop that runs when
// Next <= now runs once and then waits: never N catch-ups.
func TestNextAfterRunIsInFuture(t *testing.T) {
	for _, name := range []string{"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"} {
		loc := mustLoc(t, name)
		for _, iv := range []int{1, 5, 6, 24, 36, 48} {
			t.Run(name, func(t *testing.T) {
				run := time.Date(2026, 1, 1, 0, 17, 0, 0, time.UTC)
				for i := 0; i < 24*400; i++ { // every hour of a year and more
					run = run.Add(time.Hour)
					n := Next(time.Time{}, run, run, iv, "02:30", loc)
					if !n.After(run) {
						t.Fatalf("interval %d: run at %s: next %s is not after it", iv, run.In(loc), n.In(loc))
					}
				}
			})
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		interval   int
		start, tz  string
		wantFields []string
	}{
		{48, "02:00", "", nil},
		{1, "0:05", "Europe/Berlin", nil},
		{720, "23:59", "America/New_York", nil},
		{0, "02:00", "", []string{"refresh_interval_hours"}},
		{8760, "02:00", "", nil},
		{8761, "02:00", "", []string{"refresh_interval_hours"}},
		{48, "24:00", "", []string{"refresh_start_time"}},
		{48, "2pm", "", []string{"refresh_start_time"}},
		{48, "02:5", "", []string{"refresh_start_time"}},
		{48, "-1:00", "", []string{"refresh_start_time"}},
		{48, "", "", []string{"refresh_start_time"}},
		{48, "02:00", "Mars/Olympus", []string{"time_zone"}},
		{-3, "x", "nowhere", []string{"refresh_interval_hours", "refresh_start_time", "time_zone"}},
	}
	for _, tt := range tests {
		t.Run(tt.start+"/"+tt.tz, func(t *testing.T) {
			err := Validate(tt.interval, tt.start, tt.tz)
			if len(tt.wantFields) == 0 {
				if err != nil {
					t.Fatalf("Validate(%d, %q, %q) = %v, want nil", tt.interval, tt.start, tt.tz, err)
				}
				return
			}
			if got := model.ErrorCode(err); got != model.EINVALID {
				t.Fatalf("code = %q, want %q (err %v)", got, model.EINVALID, err)
			}
			fields := model.ErrorFields(err)
			if len(fields) != len(tt.wantFields) {
				t.Errorf("fields = %v, want %v", fields, tt.wantFields)
			}
			for _, f := range tt.wantFields {
				if fields[f] == "" {
					t.Errorf("no message for field %q in %v", f, fields)
				}
			}
		})
	}
}

func TestZone(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	ny := mustLoc(t, "America/New_York")
	tests := []struct {
		name    string
		setting string
		def     *time.Location
		want    string
	}{
		{"settings zone wins", "America/New_York", berlin, "America/New_York"},
		{"empty uses the server's zone", "", berlin, "Europe/Berlin"},
		{"unknown falls back to the server's zone", "Nowhere/Atlantis", ny, "America/New_York"},
		{"no server zone: Local", "", nil, "Local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Zone(model.Settings{TimeZone: tt.setting}, tt.def)
			if got.String() != tt.want {
				t.Errorf("Zone = %s, want %s", got, tt.want)
			}
		})
	}
	// NextFromSettings computes in that zone.
	s := model.DefaultSettings()
	s.InstalledAt = time.Date(2026, 5, 4, 15, 0, 0, 0, time.UTC)
	next, loc := NextFromSettings(s, berlin, time.Time{}, s.InstalledAt)
	if want := time.Date(2026, 5, 7, 2, 0, 0, 0, berlin); !next.Equal(want) || loc != berlin {
		t.Errorf("NextFromSettings = %s in %s, want %s", next, loc, want)
	}
}
