package txn

import (
	"sync/atomic"
)

// Oracle hands out snapshots and keeps the registry of active
// transactions (horizon.go).
//
// Timestamps: every commit gets the next integer; a snapshot is the last
// commit timestamp whose writes are fully applied (Visible). A snapshot at
// ts sees exactly the versions with TS <= ts. The commit pipeline assigns
// commit timestamps in increasing order and is the only caller of
// Publish, so they are published in order; a group that failed leaves a
// gap (its timestamps are never handed out again). The published
// timestamp is one atomic word: taking a snapshot is one atomic load, as
// in Silo, Hekaton and Cicada, never a lock.
//
// Horizon: the oldest snapshot any active transaction may still read at.
// Versions older than the newest one at or below the horizon are invisible
// to everybody and may be vacuumed.
type Oracle struct {
	visible atomic.Uint64 // last published commit timestamp
	_       [cacheLine - 8]byte
	applied atomic.Uint64 // see SetApplied
	_       [cacheLine - 8]byte

	reg registry // active transactions (horizon.go)
}

// cacheLine is the padding that keeps words written by different cores
// on different cache lines (two lines: adjacent-line prefetch pairs them).
const cacheLine = 128

// NewOracle returns an oracle whose last commit is at ts (from recovery).
func NewOracle(ts uint64) *Oracle {
	o := &Oracle{}
	o.visible.Store(ts)
	o.reg.init()
	return o
}

// Visible returns the newest snapshot: every commit at or below it is
// fully applied.
func (o *Oracle) Visible() uint64 { return o.visible.Load() }

// Publish makes commits up to ts visible to new snapshots. Their versions
// must already be in the index. ts never goes backwards.
func (o *Oracle) Publish(ts uint64) { o.visible.Store(ts) }

// SetApplied records that the engine's storage now serves every commit up
// to ts from its main store, so that readers who begin (or, at read
// committed, start a statement) from now on may find there what memory no
// longer holds. Each slot keeps the mark it began with; PruneHorizon never
// passes the oldest one, so memory keeps what an older reader may not
// find in the store version it reads. The mark never goes backwards.
func (o *Oracle) SetApplied(ts uint64) { o.applied.Store(ts) }

// Applied returns the mark SetApplied last recorded.
func (o *Oracle) Applied() uint64 { return o.applied.Load() }
