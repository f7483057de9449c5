package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
)

// apiRun is a sync run in the API: status and live progress.
type apiRun struct {
	ID           int64            `json:"id"`
	Kind         model.RunKind    `json:"kind"`
	Trigger      model.RunTrigger `json:"trigger"`
	Actor        string           `json:"actor"`
	SourceID     int64            `json:"source_id,omitempty"`
	UserID       int64            `json:"user_id,omitempty"`
	PreviewRunID int64            `json:"preview_run_id,omitempty"`
	Status       model.RunStatus  `json:"status"`
	Phase        model.Phase      `json:"phase,omitempty"`
	Done         int              `json:"done"`
	Total        int              `json:"total"`
	Counts       map[string]int   `json:"counts"`
	Holds        []apiHold        `json:"holds"`
	Error        string           `json:"error,omitempty"`
	StartedAt    time.Time        `json:"started_at"`
	FinishedAt   *time.Time       `json:"finished_at"`
}

type apiHold struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func toAPIRun(r *model.Run) apiRun {
	out := apiRun{ID: r.ID, Kind: r.Kind, Trigger: r.Trigger, Actor: r.Actor, SourceID: r.SourceID, UserID: r.UserID,
		PreviewRunID: r.PreviewRunID, Status: r.Status, Phase: r.Phase, Done: r.Done, Total: r.Total, Counts: r.Counts,
		Holds: make([]apiHold, len(r.Holds)), Error: r.Error, StartedAt: r.StartedAt}
	if out.Counts == nil {
		out.Counts = map[string]int{}
	}
	for i, h := range r.Holds {
		out.Holds[i] = apiHold{Code: h.Code, Message: h.Message}
	}
	if !r.FinishedAt.IsZero() {
		f := r.FinishedAt
		out.FinishedAt = &f
	}
	return out
}

// offsetCursor pages lists that the store pages by offset (runs, run
// items): the cursor carries the next page number.
func offsetCursor(c echo.Context) (int, int, error) {
	cur, limit, err := pageParams(c)
	if err != nil {
		return 0, 0, err
	}
	page := 1
	if cur.Key != "" {
		if page, err = strconv.Atoi(cur.Key); err != nil || page < 1 {
			return 0, 0, model.Invalid(map[string]string{"cursor": "is not a cursor this API returned"})
		}
	}
	return page, limit, nil
}

func nextPage(page, limit, total int) string {
	if page*limit >= total {
		return ""
	}
	return cursor{Key: strconv.Itoa(page + 1)}.String()
}

// apiListRuns is GET /api/v1/runs: newest first; filters kind, status,
// trigger, source_id.
func (s *Server) apiListRuns(c echo.Context) error {
	page, limit, err := offsetCursor(c)
	if err != nil {
		return err
	}
	f := model.RunFilter{Kind: model.RunKind(c.QueryParam("kind")), Status: model.RunStatus(c.QueryParam("status")),
		Trigger: model.RunTrigger(c.QueryParam("trigger")), ListQuery: model.ListQuery{Page: page, PerPage: limit}}
	if f.SourceID, err = queryID(c, "source_id"); err != nil {
		return err
	}
	runs, total, err := s.store.ListRuns(c.Request().Context(), f)
	if err != nil {
		return err
	}
	out := apiList[apiRun]{Items: make([]apiRun, len(runs)), NextCursor: nextPage(page, limit, total)}
	for i := range runs {
		out.Items[i] = toAPIRun(&runs[i])
	}
	return c.JSON(http.StatusOK, out)
}

// apiGetRun is GET /api/v1/runs/{id}: status and progress (poll it).
func (s *Server) apiGetRun(c echo.Context) error {
	run, err := s.runParam(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPIRun(run))
}

type apiRunItem = reportItem

// apiListRunItems is GET /api/v1/runs/{id}/items: the plan or report,
// with the console's filters phase, kind, shown (yes|no|failed) and q.
func (s *Server) apiListRunItems(c echo.Context) error {
	run, err := s.runParam(c)
	if err != nil {
		return err
	}
	page, limit, err := offsetCursor(c)
	if err != nil {
		return err
	}
	f, _ := runItemsQuery(c, "", "")
	f.Page, f.PerPage = page, limit
	items, total, err := s.store.ListRunItems(c.Request().Context(), run.ID, f)
	if err != nil {
		return err
	}
	out := apiList[apiRunItem]{Items: make([]apiRunItem, len(items)), NextCursor: nextPage(page, limit, total)}
	for i, it := range items {
		out.Items[i] = reportItem{Seq: it.Seq + 1, Phase: string(it.Phase), Kind: string(it.Kind), Performed: it.Performed,
			UserID: it.UserID, Username: it.Username, Object: it.Object, Old: it.Old, New: it.New, Reason: it.Reason, Outcome: it.Outcome}
	}
	return c.JSON(http.StatusOK, out)
}

type apiPreviewInput struct {
	SourceID int64 `json:"source_id"`
}

// apiStartPreview is POST /api/v1/runs/preview: read the directory and
// plan in the background, as the console's Preview button; poll the run.
func (s *Server) apiStartPreview(c echo.Context) error {
	eng, err := s.engine()
	if err != nil {
		return err
	}
	var in apiPreviewInput
	if err := decodeJSON(c, apiBodyLimit, &in); err != nil {
		return err
	}
	if in.SourceID < 1 {
		return model.Invalid(map[string]string{"source_id": "is required"})
	}
	run, err := eng.StartPreview(c.Request().Context(), in.SourceID, model.TriggerAPI)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", "/api/v1/runs/"+objIDStr(run.ID))
	return c.JSON(http.StatusAccepted, toAPIRun(run))
}

type apiApplyInput struct {
	// Override passes the deletion guard, as the console's checkbox.
	Override bool `json:"override"`
}

// apiApplyRun is POST /api/v1/runs/{id}/apply: apply exactly that preview
// (a sync or a device reconcile), with the same stale-plan check and guards
// as the console; a stale plan is 409 "preview again". The apply runs in the
// background; poll the run it returns.
func (s *Server) apiApplyRun(c echo.Context) error {
	eng, err := s.engine()
	if err != nil {
		return err
	}
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	var in apiApplyInput
	if c.Request().ContentLength != 0 {
		if err := decodeJSON(c, apiBodyLimit, &in); err != nil {
			return err
		}
	}
	run, err := eng.StartApply(context.WithoutCancel(c.Request().Context()), id, in.Override, model.TriggerAPI)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", "/api/v1/runs/"+objIDStr(run.ID))
	return c.JSON(http.StatusAccepted, toAPIRun(run))
}

// apiCancelRun is POST /api/v1/runs/{id}/cancel.
func (s *Server) apiCancelRun(c echo.Context) error {
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
	return c.NoContent(http.StatusNoContent)
}

// apiRefreshUser is POST /api/v1/users/{id}/refresh: read that user from
// the directory now and apply their changes; answers the finished run.
func (s *Server) apiRefreshUser(c echo.Context) error {
	eng, err := s.engine()
	if err != nil {
		return err
	}
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	run, err := eng.RefreshUser(c.Request().Context(), id)
	if run == nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPIRun(run))
}

// apiWhy is GET /api/v1/users/{id}/why: the "Why?" explanation.
func (s *Server) apiWhy(c echo.Context) error {
	eng, err := s.engine()
	if err != nil {
		return err
	}
	id, err := objParseID(c, "id")
	if err != nil {
		return err
	}
	ex, err := eng.Explain(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ex)
}

// apiPreviewReconcile is POST /api/v1/devices/reconcile: a preview of
// writing every user's enterprise groups to their devices; apply it with
// /runs/{id}/apply.
func (s *Server) apiPreviewReconcile(c echo.Context) error {
	eng, err := s.engine()
	if err != nil {
		return err
	}
	run, err := eng.PreviewReconcile(c.Request().Context(), model.TriggerAPI)
	if run == nil {
		return err
	}
	c.Response().Header().Set("Location", "/api/v1/runs/"+objIDStr(run.ID))
	return c.JSON(http.StatusAccepted, toAPIRun(run))
}
