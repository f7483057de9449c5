package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/syncer"
)

// errPlanNotEmpty is `idsync sync --check`'s exit 1: there is work to do.
var errPlanNotEmpty = errors.New("sync: the plan is not empty")

// Exit statuses of `idsync sync` (docs/sync.md, "Command line"): anything
// short of a complete apply is not 0, and each outcome has its own code so
// that cron and monitoring can tell them apart. 1 is --check's "the plan
// is not empty" and any other error, 2 a usage mistake.
const (
	exitHeld      = 3 // the guard held the plan; nothing applied (--override to apply)
	exitStale     = 4 // the preview no longer matched; nothing applied
	exitCancelled = 5 // stopped (SIGINT, SIGTERM, Cancel) before any batch
	exitFailed    = 6 // failed before any batch: directory read, damaged plan, lost lock…
	exitPartial   = 7 // cancelled or failed after some batches: partly applied
	exitBusy      = 8 // another sync run was in progress; nothing done
)

// exitError is an error that sets the process's exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode returns the exit status err asks for: exitError's code, else 1.
func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// applyExit returns the exit status of an apply that ended with run (nil
// when none was recorded) and err; previewStale says the preview was found
// stale. 0 only for a complete apply.
func applyExit(run *model.Run, err error, previewStale bool) int {
	switch {
	case run == nil && err == nil:
		return 0
	case run == nil:
		if model.ErrorCode(err) == model.ECONFLICT && strings.Contains(model.ErrorMessage(err), "in progress") {
			return exitBusy
		}
		return exitFailed
	case run.Status == model.RunSucceeded && err == nil:
		return 0
	case run.Status == model.RunHeld:
		return exitHeld
	case previewStale:
		return exitStale
	case run.Done > 0:
		return exitPartial
	case run.Status == model.RunCancelled:
		return exitCancelled
	}
	return exitFailed
}

// runSync is `idsync sync`: preview a sync of a directory source (the
// default, changing nothing) and print a summary; --apply applies exactly
// that preview; --check exits with status 1 when the plan is not empty.
func (m *Main) runSync(ctx context.Context, args []string) error {
	var (
		sourceID int64
		apply    bool
		override bool
		check    bool
	)
	err := m.setup(ctx, "sync", args, func(fs *flag.FlagSet) {
		fs.Int64Var(&sourceID, "source", 0, "directory source id (default: the only enabled source)")
		fs.BoolVar(&apply, "apply", false, "apply the plan (default: preview only)")
		fs.BoolVar(&override, "override", false, "apply even when the guard holds the plan")
		fs.BoolVar(&check, "check", false, "exit with status 1 when the plan is not empty")
	})
	if err != nil {
		return err
	}
	ctx = model.WithActor(ctx, "cli")
	if sourceID == 0 {
		if sourceID, err = m.onlySource(ctx); err != nil {
			return err
		}
	}
	sy := syncer.New(m.Store, directory.New(m.Logger), m.Logger)
	sy.SetBatchSize(m.Config.ApplyBatchSize)
	prev, err := sy.Preview(ctx, sourceID, model.TriggerCLI)
	if err != nil {
		if prev != nil {
			fmt.Fprintf(m.Stdout, "preview run #%d failed: %s\n", prev.ID, prev.Error)
		}
		code := exitFailed
		if ctx.Err() != nil {
			code = exitCancelled
		}
		return &exitError{code, fmt.Errorf("sync: %s", model.ErrorMessage(err))}
	}
	printRunSummary(m.Stdout, prev)
	if apply {
		run, err := sy.Apply(ctx, prev.ID, override, model.TriggerCLI)
		if run != nil {
			fmt.Fprintf(m.Stdout, "apply run #%d: %s, %d of %d actions applied in %s\n", run.ID, run.Status, run.Done, run.Total, run.Duration().Round(1e6))
			if run.Error != "" {
				fmt.Fprintf(m.Stdout, "  %s\n", run.Error)
			}
		}
		stale := false
		if run != nil && run.Status != model.RunSucceeded {
			if p, perr := m.Store.GetRun(context.WithoutCancel(ctx), prev.ID); perr == nil {
				stale = p.Status == model.RunStale
			}
		}
		if code := applyExit(run, err, stale); code != 0 {
			if err == nil {
				err = errors.New(run.Error)
			}
			return &exitError{code, fmt.Errorf("sync: %s", model.ErrorMessage(err))}
		}
	} else {
		fmt.Fprintln(m.Stdout, "preview only: nothing was changed (use --apply to apply)")
	}
	if check && prev.Counts["actions"] > 0 {
		return errPlanNotEmpty
	}
	return nil
}

// onlySource returns the id of the single enabled source, or a usage error.
func (m *Main) onlySource(ctx context.Context) (int64, error) {
	srcs, err := m.Store.ListSources(ctx)
	if err != nil {
		return 0, fmt.Errorf("sync: %w", err)
	}
	var ids []int64
	for _, s := range srcs {
		if s.Enabled {
			ids = append(ids, s.ID)
		}
	}
	if len(ids) != 1 {
		return 0, fmt.Errorf("%w: sync: %d enabled sources; choose one with --source ID", errUsage, len(ids))
	}
	return ids[0], nil
}

// printRunSummary writes a preview's counts, holds and totals.
func printRunSummary(w io.Writer, r *model.Run) {
	fmt.Fprintf(w, "preview run #%d: %s — %d actions, %d changes not performed, %d users changed (delivered to their products)\n",
		r.ID, r.Status, r.Counts["actions"], r.Counts["skipped"], r.Counts["users_changed"])
	var kinds []string
	for k := range r.Counts {
		switch k {
		case "actions", "skipped", "holds", "users_changed":
			continue
		}
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "  %-26s %d\n", k, r.Counts[k])
	}
	for _, h := range r.Holds {
		fmt.Fprintf(w, "  HOLD %s: %s\n", h.Code, h.Message)
	}
}
