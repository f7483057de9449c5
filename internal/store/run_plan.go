package store

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"gorm.io/gorm"

	"github.com/idsync/idsync/internal/model"
)

// runPlanRow is one row of run_plans: a preview's plan, compressed.
type runPlanRow struct {
	RunID int64 `gorm:"primaryKey"`
	Plan  []byte
}

func (runPlanRow) TableName() string { return "run_plans" }

// planMagic starts the stored plan (inside the gzip stream): version 2 is a
// gob stream, a header then the actions in chunks. Version 1, the whole
// plan as one JSON document, is still read.
const planMagic = "idsync plan v2\n"

// planChunk is how many actions one gob value carries: small enough that
// neither side ever holds more than one chunk of encoded text.
const planChunk = 2048

type planHeader struct {
	Skips                   []model.Skip
	Holds                   []model.Hold
	SnapshotHash, StateHash string
	Actions                 int
}

// SaveRunPlan stores a preview's plan; apply loads exactly this plan.
func (s *Store) SaveRunPlan(ctx context.Context, runID int64, p *model.Plan) error {
	var buf bytes.Buffer
	if err := encodePlan(&buf, p); err != nil {
		return fmt.Errorf("store: save plan: %w", err)
	}
	err := s.db.WithContext(ctx).Create(&runPlanRow{RunID: runID, Plan: buf.Bytes()}).Error
	return dbErr("store: save plan", err)
}

// encodePlan writes p, gzip-compressed, as planMagic and a gob stream.
func encodePlan(w io.Writer, p *model.Plan) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(zw, 64<<10)
	if _, err := bw.WriteString(planMagic); err != nil {
		return err
	}
	enc := gob.NewEncoder(bw)
	h := planHeader{Skips: p.Skips, Holds: p.Holds, SnapshotHash: p.SnapshotHash, StateHash: p.StateHash, Actions: len(p.Actions)}
	if err := enc.Encode(&h); err != nil {
		return err
	}
	for off := 0; off < len(p.Actions); off += planChunk {
		chunk := p.Actions[off:min(off+planChunk, len(p.Actions))]
		if err := enc.Encode(chunk); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

// PlanReader reads a stored plan: its header at once, its actions a batch
// at a time, so that applying a plan of 300k actions never holds it whole.
type PlanReader struct {
	Skips                   []model.Skip
	Holds                   []model.Hold
	SnapshotHash, StateHash string
	Total                   int // number of actions

	dec     *gob.Decoder   // nil for a version 1 plan (held in pending)
	rest    io.Reader      // the decompressed stream after what dec read
	pending []model.Action // decoded, not yet returned
	read    int            // actions decoded so far
}

// openPlan reads the header of what encodePlan wrote (or a whole version 1
// JSON plan) from r.
func openPlan(r io.Reader) (*PlanReader, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(zr, 64<<10)
	head, err := br.Peek(len(planMagic))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if string(head) != planMagic {
		var p model.Plan
		if err := json.NewDecoder(br).Decode(&p); err != nil {
			return nil, err
		}
		return &PlanReader{Skips: p.Skips, Holds: p.Holds, SnapshotHash: p.SnapshotHash, StateHash: p.StateHash,
			Total: len(p.Actions), pending: p.Actions, read: len(p.Actions)}, nil
	}
	if _, err := br.Discard(len(planMagic)); err != nil {
		return nil, err
	}
	dec := gob.NewDecoder(br)
	var h planHeader
	if err := dec.Decode(&h); err != nil {
		return nil, err
	}
	if h.Actions < 0 {
		return nil, fmt.Errorf("bad action count %d", h.Actions)
	}
	return &PlanReader{Skips: h.Skips, Holds: h.Holds, SnapshotHash: h.SnapshotHash, StateHash: h.StateHash, Total: h.Actions, dec: dec, rest: br}, nil
}

// Next returns the next actions, at most n (n >= 1) and as many as remain
// up to n, or io.EOF when every action was returned. A damaged plan is an
// error, never a shorter plan.
func (r *PlanReader) Next(n int) ([]model.Action, error) {
	for len(r.pending) < n && r.read < r.Total {
		var chunk []model.Action
		if err := r.dec.Decode(&chunk); err != nil {
			return nil, fmt.Errorf("after %d of %d actions: %w", r.read, r.Total, err)
		}
		if len(chunk) == 0 || r.read+len(chunk) > r.Total {
			return nil, fmt.Errorf("a chunk of %d actions after %d of %d", len(chunk), r.read, r.Total)
		}
		r.read += len(chunk)
		if len(r.pending) == 0 {
			r.pending = chunk
		} else {
			r.pending = append(r.pending, chunk...)
		}
	}
	if len(r.pending) == 0 {
		return nil, io.EOF
	}
	k := min(n, len(r.pending))
	out := r.pending[:k:k]
	r.pending = r.pending[k:]
	return out, nil
}

func (s *Store) loadPlanRow(ctx context.Context, runID int64) ([]byte, error) {
	var row runPlanRow
	err := s.db.WithContext(ctx).Where("run_id = ?", runID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, model.Errorf(model.ENOTFOUND, "Run %d has no stored plan.", runID)
	}
	if err != nil {
		return nil, dbErr("store: load plan", err)
	}
	return row.Plan, nil
}

// OpenRunPlan returns a reader over the plan stored with preview runID, or
// ENOTFOUND. The whole plan is checked first (see checkPlan), so that an
// apply never starts on a plan it could not finish reading.
func (s *Store) OpenRunPlan(ctx context.Context, runID int64) (*PlanReader, error) {
	raw, err := s.loadPlanRow(ctx, runID)
	if err != nil {
		return nil, err
	}
	if err := checkPlan(raw); err != nil {
		s.log.Error("store: stored plan unreadable", "run", runID, "err", err)
		return nil, model.Errorf(model.ECONFLICT, "The plan stored with preview %d cannot be read (it is damaged); nothing was applied — preview again.", runID)
	}
	pr, err := openPlan(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("store: load plan %d: %w", runID, err)
	}
	return pr, nil
}

// checkPlan decodes a stored plan to its end, dropping the actions, and
// checks the count in its header and the gzip checksum after it.
func checkPlan(raw []byte) error {
	pr, err := openPlan(bytes.NewReader(raw))
	if err != nil || pr.dec == nil {
		return err
	}
	for {
		if _, err = pr.Next(planChunk); err != nil {
			break
		}
	}
	if !errors.Is(err, io.EOF) {
		return err
	}
	n, err := io.Copy(io.Discard, pr.rest)
	if err == nil && n > 0 {
		err = fmt.Errorf("%d bytes after the last action", n)
	}
	return err
}
