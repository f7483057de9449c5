package model

import (
	"strings"
	"time"
)

// NormalizeDN returns dn in a form fit for equality tests: lower case,
// no blanks around ',' '=' and '+'. It does not unescape values.
func NormalizeDN(dn string) string {
	var b strings.Builder
	b.Grow(len(dn))
	s := strings.ToLower(strings.TrimSpace(dn))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			b.WriteByte(c)
			b.WriteByte(s[i+1])
			i++
			continue
		}
		if c == ',' || c == '=' || c == '+' {
			// drop blanks already written before the separator
			out := strings.TrimRight(b.String(), " ")
			b.Reset()
			b.WriteString(out)
			b.WriteByte(c)
			for i+1 < len(s) && s[i+1] == ' ' {
				i++
			}
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// ---- Plans --------------------------------------------------------------------

// Phase orders a plan (SPEC §7).
type Phase string

// The phases, in execution order.
const (
	PhaseProvisioning  Phase = "provisioning"
	PhaseAttributes    Phase = "attributes"
	PhaseServiceGroups Phase = "service_groups"
	PhaseProfiles      Phase = "profiles"
	PhaseDevices       Phase = "devices"
	PhaseProducts      Phase = "products"
)

// Phases lists the phases in execution order.
var Phases = []Phase{PhaseProvisioning, PhaseAttributes, PhaseServiceGroups, PhaseProfiles, PhaseDevices, PhaseProducts}

// ActionKind is what one plan action (or skip) does.
type ActionKind string

// The action kinds.
const (
	ActCreateUser         ActionKind = "create_user"
	ActUpdateUser         ActionKind = "update_user" // username / e-mail / display name / DN
	ActUpdateAttribute    ActionKind = "update_attribute"
	ActDisableUser        ActionKind = "disable_user"
	ActEnableUser         ActionKind = "enable_user"
	ActDeleteUser         ActionKind = "delete_user"
	ActAddServiceGroup    ActionKind = "add_service_group"
	ActRemoveServiceGroup ActionKind = "remove_service_group"
	ActAddProfile         ActionKind = "add_profile"
	ActRemoveProfile      ActionKind = "remove_profile"
	ActUpdateDevice       ActionKind = "update_device"           // user → device (§6)
	ActUpdateUserFromDev  ActionKind = "update_user_from_device" // device → user (§6 reverse)
	ActNotifyProduct      ActionKind = "notify_product"
)

// Action is one change a plan makes. Exactly the fields its Kind needs are set.
type Action struct {
	Phase      Phase
	Kind       ActionKind
	UserID     int64  // 0 for a user the plan creates
	ExternalID string // directory id of the user, when there is one
	Username   string // for display
	// create_user: the new user (ID 0). update_user: the new identity fields.
	User *User
	// update_attribute / update_device / update_user_from_device
	Attribute string
	Old, New  string
	// group and profile actions
	GroupID   int64
	GroupName string
	DeviceID  int64
	Reason    string
	// AtCreation, on a create_user, lists the service groups and profiles
	// the new user joins in the create's own transaction, so that nothing
	// decided "at creation only" is lost when an apply stops between two
	// batches. The plan still lists each of them as its own action, marked
	// AtCreate, which apply records without executing again.
	AtCreation []Placement
	AtCreate   bool
}

// Placement is one membership a new user gets when created: Kind is
// ActAddServiceGroup or ActAddProfile.
type Placement struct {
	Kind      ActionKind
	GroupID   int64
	GroupName string
}

// Skip is a change the plan does not make, with why (SPEC §7 "not performed").
type Skip struct {
	Phase      Phase
	Kind       ActionKind // what would have been done
	UserID     int64
	ExternalID string
	Username   string
	GroupID    int64
	GroupName  string
	Reason     string
}

// Hold is a guard finding that stops apply unless an admin overrides it.
type Hold struct {
	Code    string // delete_threshold, shrink, mass_removal, blank_attribute, force_empty
	Message string
}

// Plan is plain data: computed by syncplan, shown by preview, run by apply.
type Plan struct {
	Actions []Action
	Skips   []Skip
	Holds   []Hold
	// Hashes of what the plan was computed from (SPEC §7: stale plans are refused).
	SnapshotHash string
	StateHash    string
}

// Counts returns the number of actions per kind.
func (p *Plan) Counts() map[ActionKind]int {
	m := map[ActionKind]int{}
	for _, a := range p.Actions {
		m[a.Kind]++
	}
	return m
}

// ---- Runs -----------------------------------------------------------------------

// RunKind is what a run does.
type RunKind string

// The run kinds.
const (
	RunPreview    RunKind = "preview"
	RunApply      RunKind = "apply"
	RunRefresh    RunKind = "refresh_user"
	RunReconcile  RunKind = "reconcile_devices"
	RunProductAll RunKind = "product_sync"
)

// RunTrigger is who or what started a run.
type RunTrigger string

// The run triggers.
const (
	TriggerSchedule RunTrigger = "schedule"
	TriggerAdmin    RunTrigger = "admin"
	TriggerAPI      RunTrigger = "api"
	TriggerCLI      RunTrigger = "cli"
)

// RunStatus is where a run stands.
type RunStatus string

// The run statuses.
const (
	RunRunning   RunStatus = "running"
	RunPlanned   RunStatus = "planned"   // preview finished; may be applied
	RunSucceeded RunStatus = "succeeded" // apply finished
	RunFailed    RunStatus = "failed"
	RunHeld      RunStatus = "held" // guard stopped it
	RunCancelled RunStatus = "cancelled"
	RunStale     RunStatus = "stale"   // preview superseded by a change
	RunApplied   RunStatus = "applied" // preview whose plan an apply ran to the end
)

// Run is one preview or apply (SPEC §1 "Sync run").
type Run struct {
	ID           int64
	Kind         RunKind
	Trigger      RunTrigger
	Actor        string
	SourceID     int64
	UserID       int64 // refresh_user
	PreviewRunID int64 // apply: the preview it executes
	Status       RunStatus
	Phase        Phase
	Done, Total  int // live progress
	Counts       map[string]int
	Holds        []Hold
	SnapshotHash string
	StateHash    string
	Error        string // user-facing cause when failed
	Log          string
	StartedAt    time.Time
	FinishedAt   time.Time
	// HeartbeatAt is when the run's process last said it is alive (running runs).
	HeartbeatAt time.Time
	// PlanHash is syncplan.PlanHash of the run's plan: what apply compares.
	PlanHash string
	// ReadMarker is the directory's change marker (contextCSN,
	// highestCommittedUSN) when the run read it; "" when unknown.
	ReadMarker string
}

// Duration returns how long the run took (so far).
func (r *Run) Duration() time.Duration {
	if r.FinishedAt.IsZero() {
		return time.Since(r.StartedAt)
	}
	return r.FinishedAt.Sub(r.StartedAt)
}

// RunItem is one action or skip of a run, with its outcome after apply.
type RunItem struct {
	RunID     int64
	Seq       int
	Phase     Phase
	Kind      ActionKind
	Performed bool // false: a skip (not performed, Reason says why)
	UserID    int64
	Username  string
	Object    string // group/profile/device/attribute name
	Old, New  string
	Reason    string
	Outcome   string // "", "ok", "failed: …"
}
