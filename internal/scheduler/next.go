// Package scheduler decides when the periodic directory refresh runs
// (SPEC §8) and runs it in the background on exactly one replica.
package scheduler

import (
	"strings"
	"time"

	"github.com/idsync/idsync/internal/model"
)

// Limits of the refresh interval, in hours (one hour to a year).
const (
	MinIntervalHours = model.MinRefreshIntervalHours
	MaxIntervalHours = model.MaxRefreshIntervalHours
)

// The schedule is a grid of wall-clock "slots" in the configured time zone.
// Every day has a slot at the start time; an interval shorter than a day
// adds slots every interval hours after it until the day is over (6 h from
// 02:00: 02:00, 08:00, 14:00, 20:00). An interval of a day or more keeps
// only the daily start-time slot.
//
// All arithmetic is done on wall-clock time ("naive" times held in UTC) so
// that a slot stays at 02:00 across daylight-saving changes; a slot is
// turned into an instant only at the end, by time.Date in the zone.

// Next returns when the next scheduled refresh is due.
//
//   - No run yet (lastRun zero): the first slot at least intervalHours
//     after installedAt.
//   - After a run: the run belongs to the latest slot at or before it
//     started (a run that started late, e.g. at start-up after downtime,
//     belongs to the slot it caught up on). The next run is the first slot
//     at least intervalHours after that slot. So a server that was down
//     runs once at start-up and then returns to its rhythm; never N
//     catch-ups.
//
// The result may be at or before now: the run is due and should start now.
// Invalid settings (bad start time, interval out of range) fall back to the
// defaults, 02:00 and 48 h, so a schedule always exists; Validate keeps them
// out of the settings. A nil loc means time.Local.
func Next(installedAt, lastRun, now time.Time, intervalHours int, startHHMM string, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.Local
	}
	if intervalHours < MinIntervalHours || intervalHours > MaxIntervalHours {
		intervalHours = model.DefaultSettings().RefreshIntervalHours
	}
	start, err := parseHHMM(startHHMM)
	if err != nil {
		start, _ = parseHHMM(model.DefaultSettings().RefreshStartTime)
	}
	g := grid{start: start, interval: time.Duration(intervalHours) * time.Hour}
	interval := g.interval

	var earliest time.Time
	switch {
	case !lastRun.IsZero():
		earliest = g.floor(naive(lastRun, loc)).Add(interval)
	case !installedAt.IsZero():
		earliest = naive(installedAt, loc).Add(interval)
	default:
		// No installation time recorded: count from now.
		earliest = naive(now, loc).Add(interval)
	}
	slot := g.ceil(earliest)
	next := instant(slot, loc)
	// In a repeated (fall-back) hour a run's wall-clock slot can map to an
	// instant before the run; the next run is always after the last one.
	for !lastRun.IsZero() && !next.After(lastRun) {
		slot = g.ceil(slot.Add(time.Minute))
		next = instant(slot, loc)
	}
	return next
}

// grid is the set of wall-clock slots.
type grid struct {
	start    time.Duration // offset of the start time from midnight
	interval time.Duration
}

// slots returns the slots of the naive day d (midnight), in order.
func (g grid) slots(d time.Time) []time.Time {
	out := []time.Time{d.Add(g.start)}
	if g.interval < 24*time.Hour {
		for off := g.interval; off < 24*time.Hour; off += g.interval {
			out = append(out, d.Add(g.start+off))
		}
	}
	return out
}

// ceil returns the first slot at or after t (naive).
func (g grid) ceil(t time.Time) time.Time {
	d := day(t).AddDate(0, 0, -1) // yesterday's late slots may spill into today
	for {
		for _, s := range g.slots(d) {
			if !s.Before(t) {
				return s
			}
		}
		d = d.AddDate(0, 0, 1)
	}
}

// floor returns the last slot at or before t (naive).
func (g grid) floor(t time.Time) time.Time {
	d := day(t)
	for {
		ss := g.slots(d)
		for i := len(ss) - 1; i >= 0; i-- {
			if !ss[i].After(t) {
				return ss[i]
			}
		}
		d = d.AddDate(0, 0, -1)
	}
}

// day returns naive midnight of t's date.
func day(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// naive returns t's wall-clock reading in loc, as a UTC time.
func naive(t time.Time, loc *time.Location) time.Time {
	w := t.In(loc)
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), time.UTC)
}

// instant turns the wall-clock reading n into an instant in loc. A reading
// that exists twice (fall-back change) gives the first of the two; one that
// does not exist (skipped by a spring-forward change) is moved forward by
// the length of the gap (02:30 on a day that jumps from 02:00 to 03:00
// gives 03:30). time.Date alone does not promise either choice.
func instant(n time.Time, loc *time.Location) time.Time {
	// Transitions are far more than a day apart, so the offsets a day
	// before and a day after are the two that can apply.
	var cands []time.Time
	for _, d := range []int{-1, 1} {
		_, off := time.Date(n.Year(), n.Month(), n.Day()+d, n.Hour(), n.Minute(), 0, 0, loc).Zone()
		cands = append(cands, n.Add(-time.Duration(off)*time.Second).In(loc))
	}
	var best time.Time
	for _, c := range cands {
		if naive(c, loc).Equal(n) && (best.IsZero() || c.Before(best)) {
			best = c
		}
	}
	if !best.IsZero() {
		return best
	}
	// In a gap: the offset before the change reads n as the later instant.
	if cands[0].After(cands[1]) {
		return cands[0]
	}
	return cands[1]
}

// parseHHMM parses "HH:MM" (24-hour clock) into an offset from midnight
// (model.ParseStartTime, the rule the settings are validated with).
func parseHHMM(s string) (time.Duration, error) { return model.ParseStartTime(s) }

// Location returns the time zone named by an IANA name; "" means the
// server's local zone. It fails with EINVALID for an unknown name.
func Location(name string) (*time.Location, error) {
	if strings.TrimSpace(name) == "" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(strings.TrimSpace(name))
	if err != nil {
		return nil, model.Errorf(model.EINVALID, "Unknown time zone %q (use an IANA name such as Europe/Berlin).", name)
	}
	return loc, nil
}

// Validate checks the schedule fields of the settings page with the same
// rule as the store (model.ScheduleProblems). It returns nil or an EINVALID
// *model.Error whose Fields are keyed "refresh_interval_hours",
// "refresh_start_time" and "time_zone".
func Validate(intervalHours int, startHHMM, timeZone string) error {
	return model.Invalid(model.ScheduleProblems(intervalHours, startHHMM, timeZone))
}

// Zone returns the schedule's time zone: the settings' zone when set,
// otherwise def (the server's zone, --timezone; nil = time.Local). An
// unknown settings zone falls back to def too, so a schedule always exists.
func Zone(s model.Settings, def *time.Location) *time.Location {
	if def == nil {
		def = time.Local
	}
	if strings.TrimSpace(s.TimeZone) == "" {
		return def
	}
	loc, err := Location(s.TimeZone)
	if err != nil {
		return def
	}
	return loc
}

// NextFromSettings is Next with the schedule fields of s, in Zone(s, def).
func NextFromSettings(s model.Settings, def *time.Location, lastRun, now time.Time) (time.Time, *time.Location) {
	loc := Zone(s, def)
	return Next(s.InstalledAt, lastRun, now, s.RefreshIntervalHours, s.RefreshStartTime, loc), loc
}
