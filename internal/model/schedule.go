package model

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The refresh interval's bounds in hours (SPEC §8): one hour to a year.
const (
	MinRefreshIntervalHours = 1
	MaxRefreshIntervalHours = 8760
)

// ParseStartTime parses a refresh start time, "HH:MM" on a 24-hour clock
// (the hour may have one digit: "2:00"), into its offset from midnight. It
// returns an error for anything else, signs and spaces inside included.
func ParseStartTime(s string) (time.Duration, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 || strings.ContainsAny(h+m, "+- ") {
		return 0, fmt.Errorf("want HH:MM")
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("want HH:MM")
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

// ScheduleProblems checks the schedule fields of the System settings — the
// one rule the settings page, the store and the scheduler share — and
// returns a message per bad field, keyed by the stored setting key
// ("refresh_interval_hours", "refresh_start_time", "time_zone"); an empty
// map when all are valid. An empty time zone means the server's zone.
func ScheduleProblems(intervalHours int, startTime, timeZone string) map[string]string {
	f := map[string]string{}
	if intervalHours < MinRefreshIntervalHours || intervalHours > MaxRefreshIntervalHours {
		f["refresh_interval_hours"] = fmt.Sprintf("must be between %d and %d", MinRefreshIntervalHours, MaxRefreshIntervalHours)
	}
	if _, err := ParseStartTime(startTime); err != nil {
		f["refresh_start_time"] = "must be a time of day as HH:MM"
	}
	if tz := strings.TrimSpace(timeZone); tz != "" {
		if _, err := time.LoadLocation(tz); err != nil {
			f["time_zone"] = "is not a known time zone (use an IANA name such as Europe/Berlin)"
		}
	}
	return f
}
