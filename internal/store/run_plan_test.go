package store

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/idsync/idsync/internal/model"
)

func testPlan(n int) *model.Plan {
	p := &model.Plan{SnapshotHash: "snap", StateHash: "state",
		Skips: []model.Skip{{Phase: model.PhaseServiceGroups, Kind: model.ActAddServiceGroup, UserID: 7, Username: "u7", GroupID: 3, GroupName: "SG", Reason: "single membership"}},
		Holds: []model.Hold{{Code: "shrink", Message: "far fewer users"}}}
	for i := range n {
		a := model.Action{Phase: model.PhaseAttributes, Kind: model.ActUpdateAttribute, UserID: int64(i + 1),
			Username: fmt.Sprintf("user%d", i), Attribute: model.AttrLocation, Old: "Berlin", New: "Paris", Reason: "directory value"}
		if i%3 == 0 {
			a = model.Action{Phase: model.PhaseProvisioning, Kind: model.ActCreateUser, ExternalID: fmt.Sprintf("x%d", i), Username: fmt.Sprintf("new%d", i),
				User: &model.User{Username: fmt.Sprintf("new%d", i), Email: "n@example.org", Attributes: model.Attributes{"location": "Berlin"}}}
		}
		p.Actions = append(p.Actions, a)
	}
	return p
}

func TestPlanCodecRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, planChunk, planChunk*2 + 5} {
		want := testPlan(n)
		var buf bytes.Buffer
		if err := encodePlan(&buf, want); err != nil {
			t.Fatal(err)
		}
		got, err := decodePlan(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if len(got.Actions) != n || !reflect.DeepEqual(got.Skips, want.Skips) || !reflect.DeepEqual(got.Holds, want.Holds) ||
			got.SnapshotHash != "snap" || got.StateHash != "state" {
			t.Fatalf("n=%d: got %d actions, %+v", n, len(got.Actions), got.Skips)
		}
		for i := range want.Actions {
			if !reflect.DeepEqual(got.Actions[i], want.Actions[i]) {
				t.Fatalf("n=%d action %d: got %+v, want %+v", n, i, got.Actions[i], want.Actions[i])
			}
		}
	}
}

// A plan stored by the first version (one gzip-compressed JSON document)
// still loads.
func TestPlanCodecReadsJSON(t *testing.T) {
	want := testPlan(10)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(want); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := decodePlan(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Actions) != 10 || got.Actions[0].User.Attributes["location"] != "Berlin" || got.StateHash != "state" {
		t.Fatalf("got %+v", got)
	}
}

// A damaged plan is an error, never a shorter plan.
func TestPlanCodecDamaged(t *testing.T) {
	var buf bytes.Buffer
	if err := encodePlan(&buf, testPlan(planChunk+10)); err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	// Re-compress a truncated gob stream: a valid gzip with missing actions.
	zr, err := gzip.NewReader(bytes.NewReader(full))
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	if _, err := raw.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{len(planMagic) + 3, raw.Len() / 2, raw.Len() - 1} {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		_, _ = zw.Write(raw.Bytes()[:cut])
		_ = zw.Close()
		if p, err := decodePlan(&z); err == nil {
			t.Errorf("cut at %d: no error, %d actions", cut, len(p.Actions))
		}
	}
	if _, err := decodePlan(bytes.NewReader([]byte("not gzip"))); err == nil {
		t.Error("garbage: no error")
	}
}

// BenchmarkPlanCodec stores and loads a plan of the size of a first sync of
// 100k users (272k actions) in memory.
//
//	go test -run '^$' -bench PlanCodec -benchtime 3x ./internal/store/
func BenchmarkPlanCodec(b *testing.B) {
	p := testPlan(272_000)
	var size int
	for range b.N {
		var buf bytes.Buffer
		if err := encodePlan(&buf, p); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
		if _, err := decodePlan(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size)/(1<<20), "MB")
}

// A plan read a batch at a time gives every action once, in order, and
// a damaged stored plan is refused before the first action.
func TestPlanReader(t *testing.T) {
	want := testPlan(planChunk*2 + 7)
	var buf bytes.Buffer
	if err := encodePlan(&buf, want); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	if err := checkPlan(raw); err != nil {
		t.Fatalf("check: %v", err)
	}
	pr, err := openPlan(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if pr.Total != len(want.Actions) || pr.StateHash != "state" || len(pr.Skips) != 1 {
		t.Fatalf("header: %+v", pr)
	}
	var got []model.Action
	for {
		b, err := pr.Next(1000)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 || len(b) > 1000 {
			t.Fatalf("batch of %d", len(b))
		}
		got = append(got, b...)
	}
	if !reflect.DeepEqual(got, want.Actions) {
		t.Fatalf("got %d actions, want %d (or different)", len(got), len(want.Actions))
	}
	for _, i := range []int{len(raw) / 3, len(raw) / 2, len(raw) - 6} {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x55
		if err := checkPlan(bad); err == nil {
			t.Errorf("byte %d of %d flipped: check passed", i, len(raw))
		}
	}
}

// decodePlan reads a whole plan (what encodePlan wrote, or a version 1 plan).
func decodePlan(r io.Reader) (*model.Plan, error) {
	pr, err := openPlan(r)
	if err != nil {
		return nil, err
	}
	p := &model.Plan{Skips: pr.Skips, Holds: pr.Holds, SnapshotHash: pr.SnapshotHash, StateHash: pr.StateHash,
		Actions: make([]model.Action, 0, min(pr.Total, 1<<22))}
	for {
		batch, err := pr.Next(planChunk)
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		if err != nil {
			return nil, err
		}
		p.Actions = append(p.Actions, batch...)
	}
}
