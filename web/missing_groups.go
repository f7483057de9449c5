package web

import (
	"context"
	"fmt"

	"github.com/idsync/idsync/internal/model"
	"github.com/idsync/idsync/internal/syncplan"
)

// missingGroupNotices returns one notice per source whose latest finished
// preview did not find a mapped directory group (SPEC: a missing mapped
// group is loud): the hold's message when removals are withheld for it,
// else the count of mappings skipped.
func (s *Server) missingGroupNotices(ctx context.Context) ([]string, error) {
	runs, _, err := s.store.ListRuns(ctx, model.RunFilter{Kind: model.RunPreview, ListQuery: model.ListQuery{PerPage: 50}})
	if err != nil {
		return nil, fmt.Errorf("web: missing groups: %w", err)
	}
	srcs, err := s.store.ListSources(ctx)
	if err != nil {
		return nil, fmt.Errorf("web: missing groups: %w", err)
	}
	names := map[int64]string{}
	for _, src := range srcs {
		names[src.ID] = src.Name
	}
	seen := map[int64]bool{}
	var out []string
	for _, r := range runs {
		if r.Status == model.RunRunning || seen[r.SourceID] {
			continue
		}
		seen[r.SourceID] = true
		held := false
		for _, h := range r.Holds {
			if h.Code == syncplan.HoldMissingGroup {
				out = append(out, fmt.Sprintf("Source %q, preview #%d: %s", names[r.SourceID], r.ID, h.Message))
				held = true
			}
		}
		if n := r.Counts["missing_groups"]; n > 0 && !held {
			out = append(out, fmt.Sprintf("Source %q, preview #%d: %d mapped directory group(s) were not found (renamed, moved or deleted?); see the plan's lines not performed, and fix or remove the mapping.", names[r.SourceID], r.ID, n))
		}
	}
	return out, nil
}
