package mvcc

import (
	"bytes"
	"context"
	"errors"
	"iter"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mvkv/mvkv/index"
	"github.com/mvkv/mvkv/txn"
)

// Txn is a transaction. Its methods are safe to call from several
// goroutines, but a transaction is meant to be used by one at a time.
//
// Writes are buffered in the transaction and reach the index and the file
// only at Commit, so nobody ever reads or overwrites uncommitted data (no
// dirty reads or writes at any level).
type Txn struct {
	db       *DB
	ctx      context.Context
	level    Level
	readOnly bool
	slot     *txn.Slot // registry entry: holds the vacuum horizon
	readTS   uint64    // the snapshot (Snapshot, Serializable)

	done  atomic.Bool  // set once Commit, Rollback or a conflict ended it
	scans atomic.Int32 // Scan loops running; while > 0 the slot stays put

	mu     sync.Mutex        // guards the fields below
	writes map[string]*write // buffered writes by key
	sorted []*write          // writes in key order; nil when stale
}

// Level returns the transaction's isolation level.
func (tx *Txn) Level() Level { return tx.level }

// ReadTS returns the transaction's snapshot timestamp (for read committed,
// the snapshot of its first statement).
func (tx *Txn) ReadTS() uint64 { return tx.readTS }

// usable reports why the transaction cannot be used, if it cannot.
// Called with tx.mu held.
func (tx *Txn) usable() error {
	if tx.db.closed.Load() {
		return ErrClosed
	}
	if tx.done.Load() {
		return ErrTxnDone
	}
	return nil
}

// snapshot returns the timestamp a statement reads at: the transaction's
// snapshot, or for read committed the newest one (moving the horizon slot
// forward with it).
func (tx *Txn) snapshot() uint64 {
	if tx.level != ReadCommitted {
		return tx.readTS
	}
	ts := tx.db.oracle.Visible()
	// A scan in progress still reads at its own, older snapshot: moving
	// the slot past it would let vacuum remove what the scan is about to
	// read. Reading at ts above the slot is safe either way.
	if tx.scans.Load() == 0 {
		tx.slot.Advance(ts)
	}
	return ts
}

// finish ends the transaction: no call succeeds after it.
func (tx *Txn) finish() {
	if tx.done.Swap(true) {
		return
	}
	tx.db.oracle.End(tx.slot)
}

// Get returns the value of key visible to the transaction, or ErrNotFound.
func (tx *Txn) Get(key []byte) ([]byte, error) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.usable(); err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	return tx.get(key)
}

func (tx *Txn) get(key []byte) ([]byte, error) {
	if w, ok := tx.writes[string(key)]; ok {
		if w.tombstone {
			return nil, ErrNotFound
		}
		return w.value, nil
	}
	v, ok := tx.db.index.Get(key, tx.snapshot())
	if !ok || v.Tombstone {
		return nil, ErrNotFound
	}
	return v.Value, nil
}

// GetForUpdate reads key like Get and locks it against other
// GetForUpdate calls until the transaction ends.
func (tx *Txn) GetForUpdate(key []byte) ([]byte, error) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.usable(); err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	return nil, errors.New("mvkv: GetForUpdate is not supported yet")
}

// Put buffers key=value. Under Snapshot and Serializable it fails early
// with ErrConflict if key was committed after the snapshot (the commit
// would fail anyway).
func (tx *Txn) Put(key, value []byte) error {
	if err := checkValue(value); err != nil {
		return tx.checkWrite(key, err)
	}
	return tx.write(key, value, false)
}

// Delete buffers the removal of key. Deleting an absent key is not an
// error.
func (tx *Txn) Delete(key []byte) error {
	return tx.write(key, nil, true)
}

// checkWrite reports the error a write should return, giving priority to
// closed/done/read-only over input errors.
func (tx *Txn) checkWrite(key []byte, inputErr error) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.usable(); err != nil {
		return err
	}
	if tx.readOnly {
		return ErrReadOnly
	}
	if err := checkKey(key); err != nil {
		return err
	}
	return inputErr
}

func (tx *Txn) write(key, value []byte, tombstone bool) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.usable(); err != nil {
		return err
	}
	if tx.readOnly {
		return ErrReadOnly
	}
	if err := checkKey(key); err != nil {
		return err
	}
	latest, exists := tx.db.index.Latest(key)
	if tx.level != ReadCommitted && latest.TS > tx.readTS {
		tx.fail()
		return tx.conflict(key, latest.TS)
	}
	if tx.writes == nil {
		tx.writes = make(map[string]*write)
	}
	if tombstone && (!exists || latest.Tombstone) {
		// Nothing committed to delete: dropping our own pending write is
		// the whole effect, and no tombstone version is created.
		if _, ok := tx.writes[string(key)]; ok {
			delete(tx.writes, string(key))
			tx.sorted = nil
		}
		return nil
	}
	w := &write{key: bytes.Clone(key), tombstone: tombstone}
	if !tombstone {
		w.value = append(make([]byte, 0, len(value)), value...)
	}
	if _, ok := tx.writes[string(key)]; !ok {
		tx.sorted = nil
	} else if tx.sorted != nil {
		i, _ := slices.BinarySearchFunc(tx.sorted, key, cmpWriteKey)
		tx.sorted[i] = w
	}
	tx.writes[string(w.key)] = w
	return nil
}

func cmpWriteKey(w *write, key []byte) int { return bytes.Compare(w.key, key) }

// sortedWrites returns the buffered writes in key order. Called with tx.mu held.
func (tx *Txn) sortedWrites() []*write {
	if tx.sorted == nil && len(tx.writes) > 0 {
		tx.sorted = make([]*write, 0, len(tx.writes))
		for _, w := range tx.writes {
			tx.sorted = append(tx.sorted, w)
		}
		slices.SortFunc(tx.sorted, func(a, b *write) int { return bytes.Compare(a.key, b.key) })
	}
	return tx.sorted
}

// Scan yields the keys in [start, end) visible to the transaction, with
// their values, in ascending order; nil start or end is unbounded. The
// transaction's own writes are included. Breaking out of the loop is
// allowed. A finished transaction or closed DB yields nothing.
func (tx *Txn) Scan(start, end []byte) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		tx.mu.Lock()
		if tx.usable() != nil {
			tx.mu.Unlock()
			return
		}
		ts := tx.snapshot()
		tx.scans.Add(1)
		defer tx.scans.Add(-1)
		// Our own writes in range, copied so that writes made while the
		// caller loops do not disturb the iteration.
		all := tx.sortedWrites()
		lo, _ := slices.BinarySearchFunc(all, start, cmpWriteKey)
		hi := len(all)
		if end != nil {
			hi, _ = slices.BinarySearchFunc(all, end, cmpWriteKey)
		}
		own := slices.Clone(all[lo:max(lo, hi)])
		tx.mu.Unlock()

		stopped := false
		emitOwnBefore := func(key []byte) bool {
			for len(own) > 0 && (key == nil || bytes.Compare(own[0].key, key) < 0) {
				w := own[0]
				own = own[1:]
				if !w.tombstone && !yield(w.key, w.value) {
					stopped = true
					return false
				}
			}
			return true
		}
		tx.db.index.Ascend(start, end, ts, func(key []byte, v index.Version) bool {
			if tx.done.Load() || !emitOwnBefore(key) {
				return false
			}
			if len(own) > 0 && bytes.Equal(own[0].key, key) {
				w := own[0]
				own = own[1:]
				if w.tombstone {
					return true
				}
				if !yield(w.key, w.value) {
					stopped = true
					return false
				}
				return true
			}
			if v.Tombstone {
				return true
			}
			if !yield(key, v.Value) {
				stopped = true
				return false
			}
			return true
		})
		if !stopped && !tx.done.Load() {
			emitOwnBefore(nil)
		}
	}
}

// Commit makes the transaction's writes durable and visible, atomically.
// Under Snapshot and Serializable it fails with ErrConflict when a
// concurrent transaction committed a write to the same key first. In every
// case the transaction is finished afterwards.
func (tx *Txn) Commit() error {
	tx.mu.Lock()
	if err := tx.usable(); err != nil {
		tx.mu.Unlock()
		return err
	}
	if len(tx.writes) == 0 {
		tx.finish()
		tx.mu.Unlock()
		tx.db.stats.commits.Add(1)
		return nil
	}
	req := &commitReq{tx: tx, done: make(chan struct{})}
	ws := tx.sortedWrites()
	req.writes = make([]write, len(ws))
	for i, w := range ws {
		req.writes[i] = *w
	}
	tx.done.Store(true) // no more calls; the slot stays until the commit ends
	tx.mu.Unlock()

	err := tx.db.submit(req)
	tx.db.oracle.End(tx.slot)
	if err != nil {
		if errors.Is(err, ErrConflict) {
			tx.db.stats.conflicts.Add(1)
		}
		return err
	}
	tx.db.stats.commits.Add(1)
	return nil
}

// submit hands req to the commit pipeline and waits for its outcome.
func (db *DB) submit(req *commitReq) error {
	select {
	case db.commitCh <- req:
	case <-db.closing:
		return ErrClosed
	}
	select {
	case <-req.done:
		return req.err
	case <-db.pipelineDone:
		select {
		case <-req.done:
			return req.err
		default:
			return ErrClosed
		}
	}
}

// Rollback discards the transaction's writes. It returns ErrTxnDone if the
// transaction already ended, so `defer tx.Rollback()` is safe.
func (tx *Txn) Rollback() error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.usable(); err != nil {
		if errors.Is(err, ErrClosed) {
			tx.finish()
		}
		return err
	}
	tx.finish()
	tx.db.stats.rollbacks.Add(1)
	return nil
}

// fail ends the transaction after a conflict. Called with tx.mu held.
func (tx *Txn) fail() {
	tx.finish()
	tx.db.stats.conflicts.Add(1)
}

func (tx *Txn) conflict(key []byte, ts uint64) error {
	return &conflictError{msg: "key " + quoteKey(key) + " was committed at ts " + itoa(ts) + " after this transaction's snapshot at " + itoa(tx.readTS)}
}
