package model

import "time"

// RunFilter narrows the run list (SPEC §7 "Every run keeps a report").
type RunFilter struct {
	ListQuery
	Kind     RunKind    // "" = any
	Status   RunStatus  // "" = any
	Trigger  RunTrigger // "" = any
	SourceID int64      // 0 = any
	From, To time.Time  // started in [From, To); zero = open
}

// RunItemFilter narrows a run's items (the plan or report on screen).
type RunItemFilter struct {
	ListQuery
	Phase Phase      // "" = any
	Kind  ActionKind // "" = any
	// Performed: "" any, "yes" actions only, "no" skipped changes only.
	Performed string
	// Outcome: "" any, "failed" failed items only.
	Outcome string
	UserID  int64 // 0 = any
}
