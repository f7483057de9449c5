package pages

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/components"
)

// RunItemsView is one page of a run's items with the filters applied.
type RunItemsView struct {
	Run     *model.Run
	Items   []model.RunItem
	List    components.ListState
	Phase   string
	Kind    string
	Shown   string // "", "yes" (actions), "no" (skipped), "failed"
	BaseURL string // page URL the filters submit to, e.g. /runs/7
	Target  string // id of the element the table replaces
}

// PhaseCount is one row of a plan's summary: a phase and its counts.
type PhaseCount struct {
	Phase   model.Phase
	Kinds   []KindCount
	Actions int
	Skipped int
}

// KindCount is the number of actions and skipped changes of one kind.
type KindCount struct {
	Kind    model.ActionKind
	Actions int
	Skipped int
}

// SyncView is the /sync page: source choice, the shown preview's plan and
// the apply form.
type SyncView struct {
	// MissingGroups: notices of mapped directory groups not found.
	MissingGroups []string
	CSRF          string
	CanEdit       bool
	Sources       []model.Source
	SourceID      int64
	Preview       *model.Run // nil: no preview shown yet
	Phases        []PhaseCount
	Items         RunItemsView
	Message       string // error of the last action
	Recent        []model.Run
}

// RunsView is the /runs list.
type RunsView struct {
	List    components.ListState
	Runs    []model.Run
	Kind    string
	Status  string
	Trigger string
}

// RunView is /runs/:id.
type RunView struct {
	Run     *model.Run
	CSRF    string
	CanEdit bool
	Phases  []PhaseCount
	Items   RunItemsView
	Preview *model.Run // the preview an apply executed
}

// Applicable reports whether a preview can still be applied.
func Applicable(r *model.Run) bool {
	return r != nil && r.PreviewRunID == 0 && (r.Kind == model.RunPreview || r.Kind == model.RunReconcile) &&
		(r.Status == model.RunPlanned || r.Status == model.RunHeld)
}

// Percent returns the run's progress in whole percent.
func Percent(r *model.Run) int {
	if r.Total <= 0 {
		if r.Status == model.RunRunning {
			return 0
		}
		return 100
	}
	return r.Done * 100 / r.Total
}

func runURL(id int64) string { return "/runs/" + strconv.FormatInt(id, 10) }

func runItoa(n int) string { return strconv.Itoa(n) }

// changesWord is "change" or "changes", to follow the count n.
func changesWord(n int) string {
	if n == 1 {
		return "change"
	}
	return "changes"
}

func runTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Format("2006-01-02 15:04:05 MST")
}

func runDur(r *model.Run) string {
	d := r.Duration()
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func runStatusClass(st model.RunStatus) string {
	switch st {
	case model.RunSucceeded, model.RunPlanned, model.RunApplied:
		return "badge ok"
	case model.RunFailed, model.RunHeld, model.RunStale, model.RunCancelled:
		return "badge off"
	}
	return "badge"
}

func runPhaseLabel(p model.Phase) string {
	switch p {
	case model.PhaseProvisioning:
		return "Provisioning"
	case model.PhaseAttributes:
		return "Attributes"
	case model.PhaseServiceGroups:
		return "Service groups"
	case model.PhaseProfiles:
		return "Profiles"
	case model.PhaseDevices:
		return "Devices"
	case model.PhaseProducts:
		return "Products"
	}
	return string(p)
}

func runKindLabel(k model.ActionKind) string {
	switch k {
	case model.ActCreateUser:
		return "create user"
	case model.ActUpdateUser:
		return "update user"
	case model.ActUpdateAttribute:
		return "update attribute"
	case model.ActDisableUser:
		return "disable user"
	case model.ActEnableUser:
		return "enable user"
	case model.ActDeleteUser:
		return "delete user"
	case model.ActAddServiceGroup:
		return "add to service group"
	case model.ActRemoveServiceGroup:
		return "remove from service group"
	case model.ActAddProfile:
		return "add to profile"
	case model.ActRemoveProfile:
		return "remove from profile"
	case model.ActUpdateDevice:
		return "update device"
	case model.ActUpdateUserFromDev:
		return "update user from device"
	case model.ActNotifyProduct:
		return "notify product"
	}
	return string(k)
}

func runOldNew(it model.RunItem) string {
	if it.Old == "" && it.New == "" {
		return ""
	}
	return fmt.Sprintf("%q → %q", it.Old, it.New)
}

func runFilterURL(v RunItemsView, phase, kind, shown string) string {
	u, err := url.Parse(v.BaseURL)
	if err != nil {
		return v.BaseURL
	}
	q := u.Query()
	for k, val := range map[string]string{"phase": phase, "kind": kind, "shown": shown, "q": v.List.Q} {
		if val != "" {
			q.Set(k, val)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// AllPhases lists the plan phases in order, for the filter select.
func AllPhases() []model.Phase { return model.Phases }

// AllKinds lists the action kinds, for the filter select.
func AllKinds() []model.ActionKind {
	return []model.ActionKind{model.ActCreateUser, model.ActUpdateUser, model.ActUpdateAttribute, model.ActDisableUser,
		model.ActEnableUser, model.ActDeleteUser, model.ActAddServiceGroup, model.ActRemoveServiceGroup,
		model.ActAddProfile, model.ActRemoveProfile, model.ActUpdateDevice, model.ActUpdateUserFromDev}
}

func runPageURL(v RunItemsView, page int) string {
	u, err := url.Parse(runFilterURL(v, v.Phase, v.Kind, v.Shown))
	if err != nil {
		return v.BaseURL
	}
	q := u.Query()
	q.Set("page", strconv.Itoa(page))
	u.RawQuery = q.Encode()
	return u.String()
}

// runBaseQuery returns the query parameters fixed in BaseURL (e.g. run=7),
// which a GET form must repeat as hidden fields.
func runBaseQuery(v RunItemsView) [][2]string {
	u, err := url.Parse(v.BaseURL)
	if err != nil {
		return nil
	}
	var out [][2]string
	for k, vals := range u.Query() {
		for _, val := range vals {
			out = append(out, [2]string{k, val})
		}
	}
	return out
}

// runPath is u without its query.
func runPath(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}
