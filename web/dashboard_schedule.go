package web

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/scheduler"
	"github.com/idsync/idsync/templates/components"
	"github.com/idsync/idsync/templates/pages"
)

// Scheduler is what the console asks of the refresh scheduler
// (internal/scheduler).
type Scheduler interface {
	Info(ctx context.Context) (model.ScheduleInfo, error)
	RunNow(ctx context.Context) error
}

// chartDays is the period of the dashboard's run-history chart.
const chartDays = 30

// scheduleInfo returns the schedule: from the scheduler when one is wired
// in, otherwise computed from the database.
func (s *Server) scheduleInfo(ctx context.Context) (model.ScheduleInfo, error) {
	if s.scheduler != nil {
		return s.scheduler.Info(ctx)
	}
	return scheduler.Describe(ctx, s.store, s.cfg.TimeZone, s.now())
}

// scheduleView fills the dashboard's schedule card.
func (s *Server) scheduleView(c echo.Context, withChart bool) (pages.ScheduleView, error) {
	ctx := c.Request().Context()
	in, err := s.scheduleInfo(ctx)
	if err != nil {
		return pages.ScheduleView{}, fmt.Errorf("web: schedule: %w", err)
	}
	running, err := s.store.RunningRuns(ctx)
	if err != nil {
		return pages.ScheduleView{}, fmt.Errorf("web: schedule: %w", err)
	}
	v := pages.ScheduleView{Info: in, Running: running, CanEdit: isAdmin(c), CSRF: s.csrfToken(c)}
	if withChart {
		ch, err := s.runChart(ctx, in.Location)
		if err != nil {
			return pages.ScheduleView{}, err
		}
		v.Chart = &ch
	}
	return v, nil
}

// runChart loads the runs of the last chartDays days that change data
// (applies and single-user refreshes; previews change nothing).
func (s *Server) runChart(ctx context.Context, loc *time.Location) (components.RunChart, error) {
	to := s.now()
	ch := components.RunChart{From: to.AddDate(0, 0, -chartDays), To: to, Loc: loc}
	runs, _, err := s.store.ListRuns(ctx, model.RunFilter{ListQuery: model.ListQuery{PerPage: 500}, From: ch.From})
	if err != nil {
		return ch, fmt.Errorf("web: run chart: %w", err)
	}
	// Oldest first, so the duration line runs left to right.
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i]
		if r.Kind == model.RunPreview || r.Status == model.RunRunning {
			continue
		}
		changes := r.Done
		if r.Status == model.RunSucceeded && r.Counts["actions"] > changes {
			changes = r.Counts["actions"]
		}
		ch.Runs = append(ch.Runs, components.ChartRun{ID: r.ID, At: r.StartedAt, Duration: r.Duration(), Changes: changes, Status: string(r.Status)})
	}
	return ch, nil
}

// dashboardSchedule is the schedule card the dashboard shows below the counts.
func (s *Server) dashboardSchedule(c echo.Context) (templ.Component, error) {
	v, err := s.scheduleView(c, true)
	if err != nil {
		return nil, err
	}
	return pages.SchedulePanel(v), nil
}

// showSchedulePanel is GET /schedule/panel: the schedule card alone, which
// htmx polls while a run is in progress.
func (s *Server) showSchedulePanel(c echo.Context) error {
	v, err := s.scheduleView(c, true)
	if err != nil {
		return err
	}
	return s.renderFragment(c, http.StatusOK, pages.SchedulePanel(v))
}

// runScheduleNow is POST /schedule/run (admins): start the refresh now,
// through the scheduler's own path. A run in progress anywhere answers
// "a sync run is in progress" and starts nothing.
func (s *Server) runScheduleNow(c echo.Context) error {
	ctx := c.Request().Context()
	var err error
	if s.scheduler == nil {
		err = model.Errorf(model.EUNAVAILABLE, "The scheduler is not running in this server.")
	} else {
		ctx = model.WithActor(ctx, currentAdmin(c).Username)
		err = s.scheduler.RunNow(ctx)
		if err == nil {
			if aerr := s.store.WriteAudit(ctx, &model.AuditEntry{Action: "run_now", ObjectType: "schedule",
				Summary: "started the directory refresh now"}); aerr != nil {
				s.log.Warn("web: audit run now", "err", aerr)
			}
		}
	}
	msg, kind := "Refresh started.", "success"
	if err != nil {
		code := model.ErrorCode(err)
		if code != model.ECONFLICT && code != model.EUNAVAILABLE {
			return err
		}
		msg, kind = model.ErrorMessage(err), "error"
	}
	if c.Request().Header.Get("HX-Request") != "true" {
		set := s.flash
		if kind == "error" {
			set = s.flashError
		}
		if ferr := set(c, msg); ferr != nil {
			return ferr
		}
		return c.Redirect(http.StatusSeeOther, "/")
	}
	v, verr := s.scheduleView(c, true)
	if verr != nil {
		return verr
	}
	v.Message, v.MessageKind = msg, kind
	// 200 even for "in progress": htmx swaps only 2xx answers, and the
	// message is part of the card.
	return s.renderFragment(c, http.StatusOK, pages.SchedulePanel(v))
}

// settingsSchedule is the settings page's "Next refresh: …" block.
func (s *Server) settingsSchedule(c echo.Context) templ.Component {
	in, err := s.scheduleInfo(c.Request().Context())
	if err != nil {
		s.log.Warn("web: settings: schedule", "err", err)
		return nil
	}
	return pages.NextRefresh(in)
}
