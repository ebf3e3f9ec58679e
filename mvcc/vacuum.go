package mvcc

import (
	"context"
	"errors"
	"time"
)

// VacuumStats reports what one vacuum pass did.
type VacuumStats struct {
	// Horizon is the snapshot the pass kept versions for: every version a
	// transaction at or after it can see survived.
	Horizon uint64
	// KeysExamined and VersionsExamined count what the pass looked at.
	KeysExamined, VersionsExamined int64
	// VersionsRemoved counts removed versions (tombstones included) and
	// KeysRemoved the keys that had nothing left.
	VersionsRemoved, KeysRemoved int64
	// BytesFreed is the size of the removed keys and values.
	BytesFreed int64
	// Duration is the pass's wall-clock time.
	Duration time.Duration
}

// Vacuum removes, now, every version no open transaction can see.
func (db *DB) Vacuum(ctx context.Context) (VacuumStats, error) {
	if db.closed.Load() {
		return VacuumStats{}, ErrClosed
	}
	return VacuumStats{}, errors.New("mvkv: vacuum is not implemented yet")
}
