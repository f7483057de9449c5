package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/templates/components"
	"github.com/idsync/idsync/templates/pages"
)

// engine returns the sync engine, or EUNAVAILABLE when none is wired in.
func (s *Server) engine() (Syncer, error) {
	if s.syncer != nil {
		return s.syncer, nil
	}
	return nil, model.Errorf(model.EUNAVAILABLE, "The sync engine is not available in this server.")
}

// runItemsQuery reads a run item list's filters (?phase=&kind=&shown=&q=&page=).
func runItemsQuery(c echo.Context, base, target string) (model.RunItemFilter, pages.RunItemsView) {
	page, _ := strconv.Atoi(c.QueryParam("page"))
	if page < 1 {
		page = 1
	}
	q := strings.TrimSpace(c.QueryParam("q"))
	if len(q) > 200 {
		q = q[:200]
	}
	f := model.RunItemFilter{ListQuery: model.ListQuery{Search: q, Page: page, PerPage: 100}}
	v := pages.RunItemsView{BaseURL: base, Target: target, List: components.ListState{Path: base, Target: target, Q: q, Page: page, PerPage: 100}}
	for _, p := range model.Phases {
		if c.QueryParam("phase") == string(p) {
			f.Phase, v.Phase = p, string(p)
		}
	}
	for _, k := range pages.AllKinds() {
		if c.QueryParam("kind") == string(k) {
			f.Kind, v.Kind = k, string(k)
		}
	}
	switch c.QueryParam("shown") {
	case "yes", "no":
		f.Performed, v.Shown = c.QueryParam("shown"), c.QueryParam("shown")
	case "failed":
		f.Outcome, v.Shown = "failed", "failed"
	}
	return f, v
}

// loadRunItems fills v with run's items page and returns the per-phase summary.
func (s *Server) loadRunItems(ctx context.Context, run *model.Run, f model.RunItemFilter, v *pages.RunItemsView) ([]pages.PhaseCount, error) {
	items, total, err := s.store.ListRunItems(ctx, run.ID, f)
	if err != nil {
		return nil, err
	}
	v.Run, v.Items, v.List.Total = run, items, total
	counts, err := s.store.CountRunItems(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	return phaseCounts(counts), nil
}

// phaseCounts turns "phase/kind/yes|no" counts into the summary rows, in
// phase order.
func phaseCounts(counts map[string]int) []pages.PhaseCount {
	var out []pages.PhaseCount
	for _, ph := range model.Phases {
		pc := pages.PhaseCount{Phase: ph}
		for _, k := range pages.AllKinds() {
			kc := pages.KindCount{Kind: k,
				Actions: counts[string(ph)+"/"+string(k)+"/yes"],
				Skipped: counts[string(ph)+"/"+string(k)+"/no"]}
			if kc.Actions+kc.Skipped > 0 {
				pc.Kinds = append(pc.Kinds, kc)
				pc.Actions += kc.Actions
				pc.Skipped += kc.Skipped
			}
		}
		if len(pc.Kinds) > 0 {
			out = append(out, pc)
		}
	}
	return out
}

// showSyncPage is GET /sync: the source picker and, with ?run=ID, that
// preview's plan with filters and the apply form.
func (s *Server) showSyncPage(c echo.Context) error {
	ctx := c.Request().Context()
	srcs, err := s.store.ListSources(ctx)
	if err != nil {
		return err
	}
	v := pages.SyncView{CSRF: s.csrfToken(c), CanEdit: isAdmin(c)}
	for _, src := range srcs {
		if src.Enabled {
			v.Sources = append(v.Sources, src)
		}
	}
	if len(v.Sources) > 0 {
		v.SourceID = v.Sources[0].ID
	}
	if id, _ := strconv.ParseInt(c.QueryParam("run"), 10, 64); id > 0 {
		run, err := s.store.GetRun(ctx, id)
		if err != nil {
			return err
		}
		if run.Kind != model.RunPreview {
			return model.Errorf(model.ENOTFOUND, "Run %d is not a sync preview.", id)
		}
		v.Preview, v.SourceID = run, run.SourceID
		f, items := runItemsQuery(c, "/sync?run="+strconv.FormatInt(id, 10), "plan-items")
		if v.Phases, err = s.loadRunItems(ctx, run, f, &items); err != nil {
			return err
		}
		v.Items = items
	}
	recent, _, err := s.store.ListRuns(ctx, model.RunFilter{Kind: model.RunPreview, ListQuery: model.ListQuery{PerPage: 5}})
	if err != nil {
		return err
	}
	v.Recent = recent
	if v.MissingGroups, err = s.missingGroupNotices(ctx); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, pages.SyncPage(v))
}

// previewSync is POST /sync/preview: start reading the directory and
// planning, and show the preview, which follows its progress until the plan
// is there (a large directory takes seconds; the request does not wait).
func (s *Server) previewSync(c echo.Context) error {
	eng, err := s.engine()
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.FormValue("source"), 10, 64)
	if err != nil || id < 1 {
		return model.Invalid(map[string]string{"source": "Choose a directory source."})
	}
	run, err := eng.StartPreview(c.Request().Context(), id, model.TriggerAdmin)
	if err != nil {
		return err
	}
	// A failed preview is a run too: its page shows the cause.
	return redirect(c, "/sync?run="+strconv.FormatInt(run.ID, 10))
}

// applySync is POST /sync/apply: apply exactly the previewed plan.
func (s *Server) applySync(c echo.Context) error {
	return s.applyPreview(c, "/sync?run=")
}

// applyPreview applies the preview named by the "run" form value; a refusal
// (stale, held, in progress) goes back to back+id with the message.
func (s *Server) applyPreview(c echo.Context, back string) error {
	eng, err := s.engine()
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.FormValue("run"), 10, 64)
	if err != nil || id < 1 {
		return model.Errorf(model.EINVALID, "No preview to apply.")
	}
	override := c.FormValue("override") == "on"
	// The apply outlives the request (and a closed browser tab): it runs in
	// the background to the end or to a Cancel; the run page shows progress.
	ctx := context.WithoutCancel(c.Request().Context())
	run, err := eng.StartApply(ctx, id, override, model.TriggerAdmin)
	if err != nil {
		if ferr := s.flashError(c, model.ErrorMessage(err)); ferr != nil {
			return ferr
		}
		if run != nil && model.ErrorCode(err) != model.ECONFLICT {
			return redirect(c, "/runs/"+strconv.FormatInt(run.ID, 10))
		}
		return redirect(c, back+strconv.FormatInt(id, 10))
	}
	return redirect(c, "/runs/"+strconv.FormatInt(run.ID, 10))
}
