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

// decodePlan reads what encodePlan wrote (or a version 1 JSON plan).
func decodePlan(r io.Reader) (*model.Plan, error) {
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
		return &p, nil
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
	p := &model.Plan{Skips: h.Skips, Holds: h.Holds, SnapshotHash: h.SnapshotHash, StateHash: h.StateHash,
		Actions: make([]model.Action, 0, min(h.Actions, 1<<22))}
	for len(p.Actions) < h.Actions {
		var chunk []model.Action
		if err := dec.Decode(&chunk); err != nil {
			return nil, fmt.Errorf("after %d of %d actions: %w", len(p.Actions), h.Actions, err)
		}
		if len(chunk) == 0 {
			return nil, fmt.Errorf("empty chunk after %d of %d actions", len(p.Actions), h.Actions)
		}
		p.Actions = append(p.Actions, chunk...)
	}
	if len(p.Actions) != h.Actions {
		return nil, fmt.Errorf("%d actions, header says %d", len(p.Actions), h.Actions)
	}
	return p, nil
}

// LoadRunPlan returns the plan stored with preview runID, or ENOTFOUND.
func (s *Store) LoadRunPlan(ctx context.Context, runID int64) (*model.Plan, error) {
	var row runPlanRow
	err := s.db.WithContext(ctx).Where("run_id = ?", runID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, model.Errorf(model.ENOTFOUND, "Run %d has no stored plan.", runID)
	}
	if err != nil {
		return nil, dbErr("store: load plan", err)
	}
	p, err := decodePlan(bytes.NewReader(row.Plan))
	if err != nil {
		return nil, fmt.Errorf("store: load plan %d: %w", runID, err)
	}
	return p, nil
}
