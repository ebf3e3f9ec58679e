package mvcc

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/gc"
	"github.com/mvkv/mvkv/index"
)

// VacuumStats reports what one vacuum pass did.
type VacuumStats struct {
	// Horizon is the snapshot the pass kept versions for: every version a
	// transaction at or after it can see survived.
	Horizon uint64
	// KeysExamined and VersionsExamined count what the pass looked at:
	// only keys with dead versions, and the versions they held.
	KeysExamined, VersionsExamined int64
	// VersionsRemoved counts removed versions (tombstones included) and
	// KeysRemoved the keys that had nothing left.
	VersionsRemoved, KeysRemoved int64
	// BytesFreed is the size of the removed keys and values.
	BytesFreed int64
	// Batches counts the bbolt write transactions the pass made.
	Batches int64
	// LongestBatch is the longest one batch took (its index prune and its
	// bbolt write transaction): about the longest a commit waited for the
	// pass.
	LongestBatch time.Duration
	// Duration is the pass's wall-clock time.
	Duration time.Duration
}

// Vacuum removes, now, every version no open transaction can see: for each
// key, every version older than the newest one at or below the horizon
// (the oldest snapshot an open transaction holds), and that one too when
// it is a deletion. It removes them from memory and from the file, in
// batches of Options.VacuumBatchSize versions (one bbolt write transaction
// each) with a pause between batches, so commits proceed while it runs.
// Its cost grows with the dead versions it removes, not with the data.
//
// The pages freed in the file are reused by later writes; the file does
// not shrink (see Compact). Vacuum stops between batches when ctx ends,
// returning what it did and ctx's error. Concurrent calls run one after
// the other. On a closed DB it returns ErrClosed; Close waits for a pass
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
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(db.vac.ctx, cancel)()
	s, err := db.vac.gc.Vacuum(ctx)
	if err != nil && db.closed.Load() && errors.Is(err, context.Canceled) {
		err = ErrClosed
	}
	return VacuumStats(s), err
}

// Delete removes vacuumed versions from the versions bucket, all in one
// bbolt transaction. gc hands over every removed version of a key in the
// same batch (see the gc package), so a crash never leaves an older put on
// disk without the tombstone that hid it. Deleting a version that is not
// there is not an error (bbolt's Delete of a missing key is a no-op).
func (s gcStore) Delete(removed []index.Removed) error {
	revs := make([][]byte, len(removed))
	buf := make([]byte, 0, len(removed)*revSize)
	for i, rm := range removed {
		start := len(buf)
		buf = encodeRev(buf, rm.TS, rm.Seq)
		revs[i] = buf[start:len(buf):len(buf)]
	}
	// In rev order the deletes walk the bucket's leaves left to right.
	slices.SortFunc(revs, bytes.Compare)
	return s.db.bolt.Update(func(btx *bolt.Tx) error {
		b := btx.Bucket(versionsBucket)
		for _, r := range revs {
			if err := b.Delete(r); err != nil {
				return err
			}
		}
		return nil
	})
}

var _ gc.Store = gcStore{}
