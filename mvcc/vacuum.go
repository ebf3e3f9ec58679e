package mvcc

import (
	"context"
	"errors"
	"fmt"

	"github.com/mvkv/mvkv/gc"
)

// VacuumStats reports what one vacuum pass did: the collector's own
// figures (package gc), a type alias so that one definition serves both.
// VersionsRemoved is what Stats.Versions drops by, VersionsReleased what
// Stats.MemVersions drops by.
type VacuumStats = gc.Stats

// Vacuum gives back, now, the memory of every version no open transaction
// needs from memory: for each key written since the horizon (the oldest
// snapshot an open transaction holds) moved, the versions older than the
// newest one at or below the horizon, and the whole key once the horizon
// passes its newest version, which the file holds. It works in batches of
// Options.VacuumBatchSize versions (one short hold of the index lock
// each) with a pause between batches, so commits proceed while it runs.
// Its cost grows with the versions it removes, not with the data.
//
// Vacuum writes the file only through the checkpoint it asks for first
// (the log applied to the data, checkpoint.go); when that fails (a full
// disk) the pass fails, loses nothing (the log keeps every commit) and
// shows in Stats.LastVacuumError and Options.Logger. The file does not
// shrink (see Compact). Vacuum stops between batches when ctx ends,
// returning what it did and ctx's error. Concurrent calls run one after
// the other. On a closed DB it returns ErrClosed, on one opened with
// Options.ReadOnly ErrReadOnly; Close waits for a pass
// in progress to finish its batch.
func (db *DB) Vacuum(ctx context.Context) (VacuumStats, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	db.vac.gate.RLock()
	defer db.vac.gate.RUnlock()
	if db.vac.stopped || db.closed.Load() {
		return VacuumStats{}, ErrClosed
	}
	if db.opts.ReadOnly {
		return VacuumStats{}, fmt.Errorf("%w: %s was opened with Options.ReadOnly", ErrReadOnly, db.path)
	}
	ctx, cancel := context.WithCancel(context.WithValue(ctx, manualVacuum{}, true))
	defer cancel()
	defer context.AfterFunc(db.vac.ctx, cancel)()
	s, err := db.vac.gc.Vacuum(ctx)
	if err != nil && db.closed.Load() && errors.Is(err, context.Canceled) {
		err = ErrClosed
	}
	return s, err
}
