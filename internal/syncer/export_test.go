package syncer

// SetAfterBatch sets a function called after each committed batch, so a
// test can stop an apply at an exact point.
func (s *Syncer) SetAfterBatch(f func(runID int64, done int)) { s.afterBatch = f }
