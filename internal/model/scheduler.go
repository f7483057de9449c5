package model

import "time"

// ScheduleState is what the scheduler remembers about the periodic refresh
// (SPEC §8): the last refresh it started and how it ended.
type ScheduleState struct {
	// LastRunAt is when the last refresh (scheduled or "Run now") started;
	// zero before the first one. The next run is computed from it.
	LastRunAt         time.Time
	LastRunFinishedAt time.Time
	LastRunIDs        []int64 // the runs it made, one per enabled source
	LastStatus        RunStatus
	LastError         string // user-facing cause when it failed
	LastTrigger       RunTrigger
	LastPrunedAt      time.Time // last retention pass
}

// ScheduleInfo is what the dashboard and settings page show about the
// schedule.
type ScheduleInfo struct {
	Next          time.Time // in Location
	Location      *time.Location
	IntervalHours int
	StartTime     string
	State         ScheduleState
	Leader        bool // this replica runs the schedule
	Running       bool // a refresh started here is in progress
}
