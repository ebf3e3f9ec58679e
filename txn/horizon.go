package txn

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The registry of active transactions: reader slots.
//
// Every transaction holds a cell of the registry from Begin to End, and
// the cell holds the oldest snapshot the transaction may still read at.
// The vacuum horizon is the minimum over the cells. Beginning and ending
// a transaction takes no lock: it claims a free cell with one
// compare-and-swap and frees it with stores, so transactions on different
// cores touch different cache lines (each cell has its own), and nothing
// they do waits for anybody.
//
// Ideas taken. LMDB's reader table: each reader writes its snapshot into
// a slot of its own, and the writer finds the oldest reader by scanning
// the slots; unlike LMDB's, the table grows (doubling, copy on write of
// the table of pointers; cells never move) instead of failing when full,
// so any number of transactions may be open. A freed cell is remembered
// in a per-P cache (sync.Pool), so a core usually reclaims the cell it
// freed last, still in its cache: the per-core slot of Silo and Cicada
// without pinning goroutines to cores; a cell dropped from that cache is
// only a hint lost, found again by the probe. The published commit
// timestamp is one atomic word (Silo, Hekaton, Cicada): a snapshot is one
// load. Hekaton's and ERMIA's transaction tables, scanned for the oldest
// active begin timestamp, are this registry's shape; PostgreSQL's
// snapshot "xmin" per backend in the proc array is its meaning. Rejected:
// Silo's epochs, which would make the horizon coarse (an epoch's worth of
// versions kept longer) for a gain the cells already give.
//
// The race, and why the horizon never passes a snapshot. A reader loads
// the published timestamp v and then stores it into its cell; a horizon
// scan loads the published timestamp and then reads the cells. Alone, a
// scan could read the reader's cell while still free, then the reader
// store its (by then old) v, and the scan return a horizon above v: the
// reader would read versions vacuum may take. So Begin confirms: after
// storing v (and the applied mark a) it loads both again, and keeps them
// only if they did not move; otherwise it stores the new values and
// confirms again. Proof, over the sequentially consistent order of
// sync/atomic operations: let v be the value Begin keeps, S its last store
// of v and L the confirming load that returned v. A scan H loads the
// published timestamp (value Hv) before it loads the table of cells and
// reads the cell. If H reads the cell after S, it sees v (or a larger
// value the owner advanced to and reads at), so H's result is at most
// that. If H reads the cell before S (or the cell is not in the table H
// loaded: it was added by a growth after H's table load, which precedes
// S), then Hv's load precedes S, which precedes L; the published
// timestamp never decreases, so Hv <= v, and H's result is at most Hv.
// Either way the horizon is at most v. The same argument, word for word,
// covers the applied mark and PruneHorizon. A confirmation that fails
// only repeats the attempt; publishes are rare next to the loop, so it
// ends at once in practice.
//
// A transaction moving its snapshot forward (Advance: read committed, a
// locking reader) stores the new value with no confirmation: its cell
// already holds an older value, which protects everything it read up to
// then, and the new value was published before it is stored, so a scan
// that sees it returns at most it.
//
// A scan is O(cells): the registry is sized by the most transactions
// ever open at once (at least 4 per core), and only vacuum and Stats scan.

// free marks a cell no transaction holds: it is above every timestamp, so
// a scan's minimum skips it without a test.
const free = ^uint64(0)

// cell is one registry entry, alone on its cache lines.
type cell struct {
	ts      atomic.Uint64        // snapshot held; free when unclaimed
	applied atomic.Uint64        // applied mark held (Oracle.SetApplied); free when none
	owner   atomic.Pointer[Slot] // the holder, for its start time; nil while claimed or freed
	scan    atomic.Uint64        // applied mark of a scan in flight (Slot.ScanFrom); free when none
	// taken is when the holder moved its snapshot forward last (Unix ns,
	// Advance); 0 while it reads at the snapshot it began with.
	taken atomic.Int64
	_     [cacheLine - 40]byte
}

type registry struct {
	table  atomic.Pointer[[]*cell]
	growMu sync.Mutex // taken only to grow the table, never per transaction
	hints  sync.Pool  // *cell freed last on this P: likely free, likely in this core's cache
}

func (r *registry) init() {
	t := make([]*cell, 0, 4*runtime.GOMAXPROCS(0))
	r.table.Store(&t)
	r.grow(0)
}

// grow doubles the table whose length was n, unless someone already did.
func (r *registry) grow(n int) {
	r.growMu.Lock()
	defer r.growMu.Unlock()
	old := *r.table.Load()
	if len(old) != n {
		return
	}
	size := max(2*n, cap(old), 16)
	t := make([]*cell, size)
	copy(t, old)
	for i := n; i < size; i++ {
		c := &cell{}
		c.ts.Store(free)
		c.applied.Store(free)
		c.scan.Store(free)
		t[i] = c
	}
	r.table.Store(&t)
}

// claim takes a free cell, storing ts in it.
func (r *registry) claim(ts uint64) *cell {
	if c, _ := r.hints.Get().(*cell); c != nil && c.ts.Load() == free && c.ts.CompareAndSwap(free, ts) {
		return c
	}
	for {
		t := *r.table.Load()
		n := len(t)
		// A random start spreads claimers over the table: with at least
		// twice as many cells as transactions, a probe or two finds one.
		i := rand.IntN(n)
		for range n {
			if c := t[i]; c.ts.Load() == free && c.ts.CompareAndSwap(free, ts) {
				return c
			}
			if i++; i == n {
				i = 0
			}
		}
		r.grow(n)
	}
}

// Slot is an active transaction's handle on its registry entry.
type Slot struct {
	c     *cell
	ended atomic.Bool
	// Start is when the transaction began (wall clock and monotonic); set
	// by Begin, never changed. time.Since(Start) is the age of the
	// transaction's snapshot (of its first one, at read committed).
	Start time.Time
	// Owner is the transaction's own handle, for Oracle.Holders; set by
	// the owner before Begin, never changed. Nil for a transaction no
	// sweep needs to find.
	Owner any
}

// TS returns the snapshot this slot holds the horizon at.
func (s *Slot) TS() uint64 { return s.c.ts.Load() }

// Applied returns the applied mark this slot holds (Oracle.SetApplied).
func (s *Slot) Applied() uint64 { return s.c.applied.Load() }

// Advance moves the slot's snapshot forward (read committed takes a new
// snapshot per statement). It never moves backwards. Only the
// transaction's owner calls it, and never after End; it takes no lock
// (see the registry's comment for why no confirmation is needed).
func (s *Slot) Advance(ts uint64) {
	if ts > s.c.ts.Load() && !s.ended.Load() {
		s.c.ts.Store(ts)
		s.c.taken.Store(time.Now().UnixNano())
	}
}

// AdvanceApplied moves the slot's applied mark forward to a (see
// Oracle.SetApplied); like Advance.
func (s *Slot) AdvanceApplied(a uint64) {
	if a > s.c.applied.Load() && !s.ended.Load() {
		s.c.applied.Store(a)
	}
}

// ScanFrom records that the holder, until ScanDone, may read the data in
// views taken since the applied mark was a (Oracle.ViewHorizon). Only the
// owner calls it.
func (s *Slot) ScanFrom(a uint64) {
	if !s.ended.Load() {
		s.c.scan.Store(a)
	}
}

// ScanDone ends what ScanFrom recorded.
func (s *Slot) ScanDone() {
	if !s.ended.Load() {
		s.c.scan.Store(free)
	}
}

// Begin registers a transaction and returns its slot, holding the horizon
// at the current snapshot (slot.TS()) and the current applied mark. It
// takes no lock (see the registry's comment for the protocol).
func (o *Oracle) Begin() *Slot {
	s := new(Slot)
	o.BeginSlot(s)
	return s
}

// BeginSlot is Begin into s, a zero Slot the caller keeps (in its
// transaction record: one allocation less per transaction). s must not
// be begun again, even after End.
func (o *Oracle) BeginSlot(s *Slot) {
	s.Start = time.Now()
	v := o.visible.Load()
	c := o.reg.claim(v)
	s.c = c
	c.owner.Store(s)
	a := o.applied.Load()
	c.applied.Store(a)
	for {
		nv, na := o.visible.Load(), o.applied.Load()
		if nv == v && na == a {
			return
		}
		v, a = nv, na
		c.ts.Store(v)
		c.applied.Store(a)
	}
}

// End unregisters a transaction. Calling it twice is harmless.
func (o *Oracle) End(s *Slot) {
	if s.ended.Swap(true) {
		return
	}
	c := s.c
	// The owner and the applied mark go first: once ts is free, another
	// transaction may claim the cell and set its own.
	c.owner.Store(nil)
	c.taken.Store(0)
	c.applied.Store(free)
	c.scan.Store(free)
	c.ts.Store(free)
	o.reg.hints.Put(c)
}

// cells returns the table a scan walks. Load the published words first
// (see the registry's comment).
func (o *Oracle) cells() []*cell { return *o.reg.table.Load() }

// Horizon returns the oldest snapshot still in use: the minimum over active
// transactions, or the newest snapshot when none is active.
func (o *Oracle) Horizon() uint64 {
	h := o.visible.Load()
	for _, c := range o.cells() {
		h = min(h, c.ts.Load())
	}
	return h
}

// ViewHorizon returns the oldest applied mark of a scan in flight
// (Slot.ScanFrom), or the current one when none is older: every view of
// the data a scan may still be reading holds every commit up to it.
func (o *Oracle) ViewHorizon() uint64 {
	h := o.applied.Load()
	for _, c := range o.cells() {
		h = min(h, c.scan.Load())
	}
	return h
}

// PruneHorizon is Horizon, also capped at the applied mark and at every
// active slot's applied mark: the horizon up to which memory may let a
// key's versions go.
func (o *Oracle) PruneHorizon() uint64 {
	h := min(o.visible.Load(), o.applied.Load())
	for _, c := range o.cells() {
		h = min(h, c.ts.Load(), c.applied.Load())
	}
	return h
}

// startOf returns when the holder of c began; a cell being claimed or
// freed has no holder yet, and counts as beginning now.
func startOf(c *cell, now *time.Time) time.Time {
	if s := c.owner.Load(); s != nil {
		return s.Start
	}
	if now.IsZero() {
		*now = time.Now()
	}
	return *now
}

// HorizonHolder returns the horizon and when the active transaction that
// holds it took its snapshot (its start, or its last Advance): the one
// with the oldest snapshot, the oldest taken among equals. since is zero when no transaction is active. Such
// a transaction is the usual cause of bloat: nothing it might read can be
// vacuumed while it stays open; its age is the oldest snapshot's age.
//
// The scan takes no lock, so it is a moment's view: a transaction
// beginning or ending during it may be counted or not, and the start time
// is that of the cell's holder when the scan reads it.
func (o *Oracle) HorizonHolder() (horizon uint64, since time.Time) {
	horizon = o.visible.Load()
	var now time.Time
	for _, c := range o.cells() {
		t := c.ts.Load()
		if t == free || t > horizon {
			continue
		}
		start := startOf(c, &now)
		if at := c.taken.Load(); at != 0 {
			start = time.Unix(0, at) // a read committed statement's snapshot
		}
		if t < horizon || since.IsZero() || start.Before(since) {
			horizon, since = t, start
		}
	}
	return horizon, since
}

// Holders calls fn with each active slot whose Owner is set (a moment's
// view, like Active: a slot may end while fn runs, or be missed because it
// began meanwhile).
func (o *Oracle) Holders(fn func(*Slot)) {
	for _, c := range o.cells() {
		if s := c.owner.Load(); s != nil && s.Owner != nil {
			fn(s)
		}
	}
}

// Active returns the number of active transactions and the start time of
// the oldest one (zero when none). Like HorizonHolder, a moment's view.
func (o *Oracle) Active() (n int, oldest time.Time) {
	var now time.Time
	for _, c := range o.cells() {
		if c.ts.Load() == free {
			continue
		}
		n++
		if start := startOf(c, &now); oldest.IsZero() || start.Before(oldest) {
			oldest = start
		}
	}
	return n, oldest
}
