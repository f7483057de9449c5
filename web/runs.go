package web

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/pages"
)

// showRunsPage is GET /runs: every run, newest first, filtered by kind,
// status and trigger.
func (s *Server) showRunsPage(c echo.Context) error {
	q, st := objListQuery(c, "/runs", "runs-table")
	f := model.RunFilter{ListQuery: q,
		Kind: model.RunKind(c.QueryParam("kind")), Status: model.RunStatus(c.QueryParam("status")), Trigger: model.RunTrigger(c.QueryParam("trigger"))}
	runs, total, err := s.store.ListRuns(c.Request().Context(), f)
	if err != nil {
		return err
	}
	st.Total = total
	st.Extra = url.Values{"kind": {string(f.Kind)}, "status": {string(f.Status)}, "trigger": {string(f.Trigger)}}
	v := pages.RunsView{List: st, Runs: runs, Kind: string(f.Kind), Status: string(f.Status), Trigger: string(f.Trigger)}
	return s.render(c, http.StatusOK, pages.RunsPage(v))
}

// runParam loads the run named by :id.
func (s *Server) runParam(c echo.Context) (*model.Run, error) {
	id, err := objParseID(c, "id")
	if err != nil {
		return nil, err
	}
	return s.store.GetRun(c.Request().Context(), id)
}

// showRunPage is GET /runs/:id: who, when, how long, counts, live
// progress, and the items with filters.
func (s *Server) showRunPage(c echo.Context) error {
	run, err := s.runParam(c)
	if err != nil {
		return err
	}
	f, items := runItemsQuery(c, "/runs/"+strconv.FormatInt(run.ID, 10), "run-items")
	v := pages.RunView{Run: run, CSRF: s.csrfToken(c), CanEdit: isAdmin(c)}
	if v.Phases, err = s.loadRunItems(c.Request().Context(), run, f, &items); err != nil {
		return err
	}
	v.Items = items
	return s.renderTitled(c, http.StatusOK, "Run #"+strconv.FormatInt(run.ID, 10), pages.RunPage(v))
}

// showRunProgress is GET /runs/:id/progress: the progress fragment htmx
// polls every second while the run runs. When the run has ended it asks
// the browser to reload the page so the final report shows.
func (s *Server) showRunProgress(c echo.Context) error {
	run, err := s.runParam(c)
	if err != nil {
		return err
	}
	if run.Status != model.RunRunning && c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Refresh", "true")
	}
	return s.renderPage(c, http.StatusOK, s.pageData(c, "", ""), pages.RunProgress(run, s.csrfToken(c), isAdmin(c)))
}

// cancelRun is POST /runs/:id/cancel: the run stops after its current batch.
func (s *Server) cancelRun(c echo.Context) error {
	eng, err := s.engine()
	if err != nil {
		return err
	}
	run, err := s.runParam(c)
	if err != nil {
		return err
	}
	if err := eng.Cancel(c.Request().Context(), run.ID); err != nil {
		return err
	}
	if err := s.flash(c, "Cancel requested: the run stops after its current batch."); err != nil {
		return err
	}
	return redirect(c, "/runs/"+strconv.FormatInt(run.ID, 10))
}

// reportColumns are the CSV report's columns.
var reportColumns = []string{"seq", "phase", "kind", "performed", "user_id", "username", "object", "old", "new", "reason", "outcome"}

// csvSafe defuses spreadsheet formulas in values that come from the
// directory (CSV injection).
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// downloadRunCSV is GET /runs/:id/report.csv.
func (s *Server) downloadRunCSV(c echo.Context) error {
	run, err := s.runParam(c)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="run-`+strconv.FormatInt(run.ID, 10)+`.csv"`)
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	if err := w.Write(reportColumns); err != nil {
		return err
	}
	err = s.store.EachRunItem(c.Request().Context(), run.ID, func(it model.RunItem) error {
		return w.Write([]string{strconv.Itoa(it.Seq + 1), string(it.Phase), string(it.Kind), strconv.FormatBool(it.Performed),
			strconv.FormatInt(it.UserID, 10), csvSafe(it.Username), csvSafe(it.Object), csvSafe(it.Old), csvSafe(it.New), csvSafe(it.Reason), csvSafe(it.Outcome)})
	})
	w.Flush()
	if err != nil {
		s.log.Error("web: run report csv", "run", run.ID, "err", err)
		return nil // the response has started; the log has the cause
	}
	return w.Error()
}

// reportItem is one item of the JSON report.
type reportItem struct {
	Seq       int    `json:"seq"`
	Phase     string `json:"phase"`
	Kind      string `json:"kind"`
	Performed bool   `json:"performed"`
	UserID    int64  `json:"user_id,omitempty"`
	Username  string `json:"username,omitempty"`
	Object    string `json:"object,omitempty"`
	Old       string `json:"old,omitempty"`
	New       string `json:"new,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Outcome   string `json:"outcome,omitempty"`
}

// downloadRunJSON is GET /runs/:id/report.json: the run and its items,
// streamed item by item.
func (s *Server) downloadRunJSON(c echo.Context) error {
	run, err := s.runParam(c)
	if err != nil {
		return err
	}
	head := map[string]any{
		"id": run.ID, "kind": run.Kind, "trigger": run.Trigger, "actor": run.Actor, "source_id": run.SourceID,
		"user_id": run.UserID, "preview_run_id": run.PreviewRunID, "status": run.Status, "done": run.Done, "total": run.Total,
		"counts": run.Counts, "holds": run.Holds, "error": run.Error, "started_at": run.StartedAt,
		"duration_ms": run.Duration().Milliseconds(),
	}
	if !run.FinishedAt.IsZero() {
		head["finished_at"] = run.FinishedAt
	}
	hb, err := json.Marshal(head)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "application/json")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="run-`+strconv.FormatInt(run.ID, 10)+`.json"`)
	c.Response().WriteHeader(http.StatusOK)
	w := c.Response()
	// {"run":{…},"items":[…]}
	if _, err := w.Write(append(append([]byte(`{"run":`), hb...), []byte(`,"items":[`)...)); err != nil {
		return nil
	}
	first := true
	err = s.store.EachRunItem(c.Request().Context(), run.ID, func(it model.RunItem) error {
		b, err := json.Marshal(reportItem{Seq: it.Seq + 1, Phase: string(it.Phase), Kind: string(it.Kind), Performed: it.Performed,
			UserID: it.UserID, Username: it.Username, Object: it.Object, Old: it.Old, New: it.New, Reason: it.Reason, Outcome: it.Outcome})
		if err != nil {
			return err
		}
		if !first {
			b = append([]byte(","), b...)
		}
		first = false
		_, err = w.Write(b)
		return err
	})
	if err != nil {
		s.log.Error("web: run report json", "run", run.ID, "err", err)
		return nil
	}
	_, _ = w.Write([]byte("]}\n"))
	return nil
}

// downloadRunLog is GET /runs/:id/log.txt.
func (s *Server) downloadRunLog(c echo.Context) error {
	run, err := s.runParam(c)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, `inline; filename="run-`+strconv.FormatInt(run.ID, 10)+`.txt"`)
	return c.String(http.StatusOK, run.Log)
}
