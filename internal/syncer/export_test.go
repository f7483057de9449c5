package syncer

import (
	"context"
	"maps"
	"slices"

	"github.com/idsync/idsync/internal/directory"
	"github.com/idsync/idsync/internal/model"
)

// SetAfterBatch sets a function called after each committed batch, so a
// test can stop an apply at an exact point.
func (s *Syncer) SetAfterBatch(f func(runID int64, done int)) { s.afterBatch = f }

// SnapshotReader is a directory that answers with a fixed snapshot, for
// tests of what the database side makes of any directory value.
type SnapshotReader struct{ Snap *model.Snapshot }

func (r SnapshotReader) Read(context.Context, *model.Source) (*model.Snapshot, error) {
	cp := *r.Snap
	cp.Users = append([]model.DirUser(nil), r.Snap.Users...)
	for i := range cp.Users {
		cp.Users[i].Attributes = maps.Clone(cp.Users[i].Attributes)
	}
	cp.Groups = append([]model.DirGroup(nil), r.Snap.Groups...)
	for i := range cp.Groups {
		cp.Groups[i].Users = slices.Clone(cp.Groups[i].Users)
	}
	return &cp, nil
}

func (r SnapshotReader) ReadUser(context.Context, *model.Source, string) (*model.Snapshot, error) {
	return nil, model.Errorf(model.ENOTFOUND, "not in this test directory")
}

func (r SnapshotReader) FindByID(context.Context, *model.Source, string) (directory.FoundEntry, bool, error) {
	return directory.FoundEntry{}, false, nil
}

func (r SnapshotReader) ReadGroup(context.Context, *model.Source, string, bool) (*model.Snapshot, error) {
	return nil, model.Errorf(model.ENOTFOUND, "not in this test directory")
}

// SetReader makes s read the directory from r.
func (s *Syncer) SetReader(r SnapshotReader) { s.dir = r }
