package gc

import (
	"time"

	"github.com/mvkv/mvkv/index"
)

// Stats reports what one pass did. The engine hands it to its users as
// mvcc.VacuumStats (a type alias).
type Stats struct {
	// Horizon is the snapshot the pass kept versions for: every version a
	// transaction at or after it can see survived.
	Horizon uint64
	// KeysExamined counts the keys pruned, VersionsExamined the versions
	// they held: the pass never looks at keys without garbage.
	KeysExamined, VersionsExamined int64
	// VersionsRemoved counts the dead versions removed (superseded ones
	// and tombstones: the database's count of versions held drops by as
	// many); KeysRemoved the deleted keys gone for good.
	VersionsRemoved, KeysRemoved int64
	// VersionsReleased counts every version let go from memory: the dead
	// ones and the live newest versions, which the file holds (the
	// versions in memory drop by as many).
	VersionsReleased int64
	// BytesFreed is the size of the values removed from memory.
	BytesFreed int64
	// Batches counts the batches that removed something.
	Batches int64
	// LongestBatch is the longest time one batch held the index lock:
	// about the longest a commit or a reader waited for the pass.
	LongestBatch time.Duration
	// Duration is the pass's wall-clock time, pauses included.
	Duration time.Duration
}

func (s *Stats) add(r index.PruneResult) {
	s.KeysExamined += r.KeysExamined
	s.VersionsExamined += r.VersionsExamined
	s.KeysRemoved += r.KeysRemoved
	s.VersionsRemoved += r.VersionsRemoved
	s.VersionsReleased += r.Released
	s.BytesFreed += r.BytesFreed
}

// Totals are cumulative figures since the Collector was made.
type Totals struct {
	// Passes counts finished passes, AutoPasses those autovacuum started.
	Passes, AutoPasses uint64
	// VersionsRemoved counts versions removed by all passes.
	VersionsRemoved int64
	// Last is the last finished pass; LastErr the error of the last pass
	// that failed (autovacuum has nobody else to tell) and LastErrTime
	// when it failed. A pass stopped by its context did not fail.
	Last        Stats
	LastErr     error
	LastErrTime time.Time
}
