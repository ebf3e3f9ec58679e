package mvcc

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Reading the file.
//
// A bbolt read transaction costs about a microsecond to begin and end, as
// much as the read it serves, and its begin takes bbolt's process-wide
// locks (metalock, mmaplock), so readers share one (as etcd's backend
// does): the view. The commit pipeline retires the view before it commits
// a group and installs a new one after, before it publishes the group:
// every reader that holds a snapshot at or after a commit therefore reads
// a view that includes it. The checkpoint does the same.
//
// A view is held only for the time of one point read or one chunk of a
// scan, never while a caller's code runs: a long scan or a long-lived
// snapshot never pins bbolt pages, and bbolt's remap (it needs every read
// transaction closed) waits for at most one chunk. Between a retirement
// and the next install, a reader opens a private read transaction.
//
// Pinning a view takes no lock and shares no counter: a reader adds one
// to one of the view's striped pin counts (its own cache line), then
// checks the view is still current; retirement takes the view out, marks
// it retired, then sums the stripes. A reader that lets go subtracts its
// one, then looks at the mark; whoever finds every stripe at zero after
// the mark rolls the transaction back (once: a compare-and-swap decides).
// Over the sequentially consistent order of sync/atomic operations: a
// reader whose check found the view current added its pin before the
// retirement took the view out, so every sum after that sees the pin
// until the reader lets go; a reader whose check failed lets go at once
// and never touches the transaction; and of the retirer's sum and a
// reader's look at the mark after its release, at least one comes after
// both the mark and the release (a store then a load on each side), so
// the last release is never missed and the transaction never leaks.
//
// # Why sharing one bbolt read transaction among goroutines is safe
//
// bbolt documents a transaction as not safe for concurrent use; etcd,
// which shares one as mvkv does, serialises Cursor() under a mutex. mvkv
// takes no lock, on this argument, verified against bbolt v1.5.0 (the
// version go.mod pins; TestBoltContractPinned fails on any other, so an
// upgrade makes someone verify it again):
//
//  1. What the readers share is a read-only *bolt.Tx and the data
//     *bolt.Bucket obtained from it once, by beginView, before the view is
//     published (an atomic store: everything beginView wrote happens
//     before any reader's use). Nothing else of the transaction is called
//     while it is shared: no Bucket lookups, no Stats, no ForEach.
//  2. Each reader makes its own Cursor (Bucket.Cursor) and moves only
//     that one (Seek, First, Last, Next, Prev): a cursor's state is its
//     own stack of page references, reset by Seek, First and Last. A
//     point read takes a cursor a reader before it left in its pin stripe
//     (handed over by an atomic swap, so one reader at a time). Bucket.Cursor
//     writes one shared word, the transaction's cursor count, with
//     atomic.AddInt64 (TxStats.IncCursorCount).
//  3. A cursor reads pages through Bucket.pageNode: for a read-only
//     transaction the bucket has no node cache (newBucket makes the maps
//     only when tx.writable) and the transaction has no dirty pages
//     (tx.pages is nil), so it returns db.page(id), a pointer into the
//     mapping, after Page.FastCheck, which only reads. The mapping (db.data,
//     db.pageSize) changes only in DB.mmap, under mmaplock's write lock,
//     which waits for every read transaction (each holds the read lock from
//     Begin to Rollback). The bucket's root and inline page are read-only
//     after openBucket.
//  4. Cursor calls assert tx.db != nil (the transaction is open); the one
//     write of tx.db, by Rollback, happens after the last reader let go,
//     ordered by the pin counts' atomics (above).
//
// So the shared transaction is only read, apart from one atomic counter.
// TestSharedViewManyReaders runs many goroutines through one view under
// -race while commits and checkpoints renew it: a write bbolt adds to
// these paths shows there as a data race.

// view is a shared bbolt read transaction with striped pin counts; the
// DB holds it while it is current, and it closes once retired and no
// reader holds it.
type view struct {
	tx      *bolt.Tx
	data    *bolt.Bucket // read-only bucket: see above for why cursors may share it
	leaf    leafCheck    // for cursors of data: the mapping's address and page size
	pins    []pinCount   // readers holding the view, striped; nil for a private view
	mask    uint32       // len(pins)-1
	retired atomic.Bool  // no longer current: the last to let go closes it
	closed  atomic.Bool  // rolled back
}

// pinCount is one stripe of a view's pin count, alone on its cache lines,
// with a cursor kept for reuse by the readers of that stripe: bbolt's
// Bucket.Cursor bumps a counter of the transaction that every reader
// would otherwise share.
type pinCount struct {
	n   atomic.Int64
	cur atomic.Pointer[bolt.Cursor]
	_   [112]byte
}

// viewRef is a reader's hold on a view: release it when done.
type viewRef struct {
	*view
	stripe uint32
}

// pinStripes is how many pin counts a shared view has: enough that cores
// rarely share one.
var pinStripes = func() int {
	n := 8
	for n < 4*runtime.GOMAXPROCS(0) {
		n *= 2
	}
	return n
}()

// cursor returns a cursor on the view's data bucket: one kept by the
// reader's stripe if there is one (a bbolt cursor is reusable: Seek,
// First and Last reset it), else a new one. Give it back with putCursor.
func (r viewRef) cursor() *bolt.Cursor {
	if r.pins != nil {
		if c := r.pins[r.stripe].cur.Swap(nil); c != nil {
			return c
		}
	}
	return r.data.Cursor()
}

// putCursor keeps c for the stripe's next reader, if it has none.
func (r viewRef) putCursor(c *bolt.Cursor) {
	if r.pins != nil {
		r.pins[r.stripe].cur.CompareAndSwap(nil, c)
	}
}

// release lets go of the view.
func (r viewRef) release() {
	v := r.view
	if v.pins == nil { // private
		_ = v.tx.Rollback()
		return
	}
	v.pins[r.stripe].n.Add(-1)
	if v.retired.Load() {
		v.closeIfUnpinned()
	}
}

// closeIfUnpinned rolls a retired view back if no reader holds it.
func (v *view) closeIfUnpinned() {
	for i := range v.pins {
		if v.pins[i].n.Load() != 0 {
			return
		}
	}
	if v.closed.CompareAndSwap(false, true) {
		_ = v.tx.Rollback()
	}
}

// beginView opens a read transaction as a view; shared makes it one that
// readers pin (else it is a private one, closed by its one release).
func (db *DB) beginView(shared bool) (*view, error) {
	tx, err := db.bolt.Begin(false)
	if err != nil {
		if db.closed.Load() {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("mvkv: read %s: %w", db.path, err)
	}
	v := &view{tx: tx, data: tx.Bucket(dataBucket)}
	if v.data == nil {
		_ = tx.Rollback()
		return nil, fmt.Errorf("%w: %s: missing data bucket", ErrCorrupt, db.path)
	}
	v.leaf = newLeafCheck(db.bolt, v.data)
	if shared {
		v.pins = make([]pinCount, pinStripes)
		v.mask = uint32(pinStripes - 1)
	}
	return v, nil
}

// acquireView returns the current view pinned, or a private one while
// none is current. Call release when done.
func (db *DB) acquireView() (viewRef, error) {
	for {
		v := db.view.Load()
		if v == nil {
			v, err := db.beginView(false)
			return viewRef{view: v}, err
		}
		r := viewRef{view: v, stripe: rand.Uint32() & v.mask}
		v.pins[r.stripe].n.Add(1)
		if db.view.Load() == v {
			return r, nil
		}
		r.release() // retired meanwhile: take the next one
	}
}

// retireView takes the current view out: it closes when its last reader
// lets go. Called by the commit pipeline before a bbolt commit (which may
// need to remap the file), by the checkpoint, and by Close.
func (db *DB) retireView() {
	if v := db.view.Swap(nil); v != nil {
		v.retired.Store(true)
		v.closeIfUnpinned()
	}
}

// renewView installs a view of the file as it is now. Called by the
// commit pipeline after a group, before publishing it. A failure to begin
// one leaves readers on private read transactions.
func (db *DB) renewView() {
	db.retireView()
	v, err := db.beginView(true)
	if err != nil {
		return
	}
	if !db.view.CompareAndSwap(nil, v) {
		// Another renewal installed one meanwhile: keep that.
		v.retired.Store(true)
		v.closeIfUnpinned()
	}
}
