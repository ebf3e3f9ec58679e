package txn

import (
	"sync"
	"sync/atomic"
	"time"
)

// Oracle hands out timestamps and keeps the set of active transactions.
//
// Timestamps: every commit gets the next integer; a snapshot is the last
// commit timestamp whose writes are fully applied (Visible). A snapshot at
// ts sees exactly the versions with TS <= ts. The commit pipeline assigns
// commit timestamps in increasing order and is the only caller of
// Publish, so they are published in order; a group that failed leaves a
// gap (its timestamps are never handed out again).
//
// Horizon: the oldest snapshot any active transaction may still read at.
// Versions older than the newest one at or below the horizon are invisible
// to everybody and may be vacuumed.
type Oracle struct {
	visible atomic.Uint64 // last published commit timestamp
	applied atomic.Uint64 // see SetApplied

	mu     sync.Mutex
	active map[*Slot]struct{} // guarded by mu
}

// Slot is an active transaction's entry in the registry.
type Slot struct {
	ts      atomic.Uint64 // the oldest snapshot this transaction may still read at
	applied atomic.Uint64 // the applied mark it may still rely on, see SetApplied
	Start   time.Time
}

// TS returns the snapshot this slot holds the horizon at.
func (s *Slot) TS() uint64 { return s.ts.Load() }

// Advance moves the slot's snapshot forward (read committed takes a new
// snapshot per statement). It never moves backwards. It is safe without
// the registry lock: a concurrent Horizon sees the old or the new value,
// and both are <= the snapshot the caller is about to read at.
func (s *Slot) Advance(ts uint64) {
	if ts > s.ts.Load() {
		s.ts.Store(ts)
	}
}

// AdvanceApplied moves the slot's applied mark forward to a (see
// Oracle.SetApplied); like Advance, safe without the registry lock.
func (s *Slot) AdvanceApplied(a uint64) {
	if a > s.applied.Load() {
		s.applied.Store(a)
	}
}

// SetApplied records that the engine's storage now serves every commit up
// to ts from its main store, so that readers who begin (or, at read
// committed, start a statement) from now on may find there what memory no
// longer holds. Each slot keeps the mark it began with; PruneHorizon never
// passes the oldest one, so memory keeps what an older reader may not
// find in the store version it reads.
func (o *Oracle) SetApplied(ts uint64) { o.applied.Store(ts) }

// Applied returns the mark SetApplied last recorded.
func (o *Oracle) Applied() uint64 { return o.applied.Load() }

// PruneHorizon is Horizon, also capped at the applied mark and at every
// active slot's applied mark: the horizon up to which memory may let a
// key's versions go.
func (o *Oracle) PruneHorizon() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	h := min(o.visible.Load(), o.applied.Load())
	for s := range o.active {
		h = min(h, s.ts.Load(), s.applied.Load())
	}
	return h
}

// NewOracle returns an oracle whose last commit is at ts (from recovery).
func NewOracle(ts uint64) *Oracle {
	o := &Oracle{active: make(map[*Slot]struct{})}
	o.visible.Store(ts)
	return o
}

// Visible returns the newest snapshot: every commit at or below it is
// fully applied.
func (o *Oracle) Visible() uint64 { return o.visible.Load() }

// Begin registers a transaction and returns its slot, holding the horizon
// at the current snapshot (slot.TS()). The snapshot is read under the
// registry lock, so a Horizon computed concurrently is never above it.
func (o *Oracle) Begin() *Slot {
	s := &Slot{Start: time.Now()}
	o.mu.Lock()
	s.ts.Store(o.visible.Load())
	s.applied.Store(o.applied.Load())
	o.active[s] = struct{}{}
	o.mu.Unlock()
	return s
}

// End unregisters a transaction. Calling it twice is harmless.
func (o *Oracle) End(s *Slot) {
	o.mu.Lock()
	delete(o.active, s)
	o.mu.Unlock()
}

// Publish makes commits up to ts visible to new snapshots. Their versions
// must already be in the index.
func (o *Oracle) Publish(ts uint64) { o.visible.Store(ts) }

// Horizon returns the oldest snapshot still in use: the minimum over active
// transactions, or the newest snapshot when none is active.
func (o *Oracle) Horizon() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	h := o.visible.Load()
	for s := range o.active {
		if t := s.ts.Load(); t < h {
			h = t
		}
	}
	return h
}

// Active returns the number of active transactions and the start time of
// the oldest one (zero when none).
func (o *Oracle) Active() (n int, oldest time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for s := range o.active {
		if oldest.IsZero() || s.Start.Before(oldest) {
			oldest = s.Start
		}
	}
	return len(o.active), oldest
}
