package mvcc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

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
	managed  bool      // run by Update or View: Commit and Rollback refuse; set before fn runs
	locking  bool      // two-phase locking (Serializable only)
	slot     *txn.Slot // registry entry (slotRec): holds the vacuum horizon
	slotRec  txn.Slot
	readTS   uint64      // the snapshot (Snapshot, Serializable)
	commitTS uint64      // set by a successful Commit that wrote something (tests read it)
	ser      *txn.SerTxn // SSI's record (serRec); nil below Serializable
	serRec   txn.SerTxn
	asOf     bool         // reads as of a past time at readTS (history.go)
	snapAt   atomic.Int64 // Unix ns when it took its snapshot, with MaxSnapshotAge (snapage.go)

	done  atomic.Bool  // set once Commit, Rollback or a conflict ended it
	ended atomic.Bool  // set once the registry, SSI and locks let go of it
	scans atomic.Int32 // Scan loops running; while > 0 the slot stays put

	mu      sync.Mutex        // guards the fields below
	failed  error             // the conflict that ended it, until Rollback
	corrupt error             // the damaged record a Scan met
	writes  map[string]*write // buffered writes by key
	sorted  []*write          // writes in key order; nil when stale
	id      uint64            // lock owner ID, assigned at the first lock
	// locks is set once the lock table may hold something of the
	// transaction's (a lock, a queued request): end must release it.
	locks bool
	// committing is set while Commit waits for its write locks: a
	// Rollback may still end the transaction then.
	committing bool
	// cancelled is what ended the transaction when its BeginTx context
	// ended (matching ErrTxnDone and the context's error).
	cancelled error
	// stopCtx unregisters contextEnded from ctx (context.AfterFunc); nil
	// when ctx can never end. Set by BeginTx under mu before the
	// transaction is returned.
	stopCtx func() bool
	// ctxCanEnd is set by BeginTx when ctx can end (ctx.Done() != nil).
	ctxCanEnd bool
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
		switch {
		case tx.cancelled != nil:
			return tx.cancelled
		case tx.failed != nil:
			return &endedError{cause: tx.failed}
		case tx.corrupt != nil:
			return fmt.Errorf("%w: %w", ErrTxnDone, tx.corrupt)
		}
		return ErrTxnDone
	}
	if tx.ctxCanEnd {
		// The context's end rolls the transaction back (contextEnded,
		// once it holds locks), but that runs on its own goroutine, or
		// not at all before: a call made right after cancel() must not
		// see the transaction still open.
		if err := tx.ctx.Err(); err != nil {
			return tx.endByContext(err)
		}
	}
	if tx.ser != nil && tx.ser.Doomed() {
		return tx.fail(tx.serializationError(nil))
	}
	if tx.db.opts.MaxSnapshotAge > 0 {
		return tx.checkAge(time.Now())
	}
	return nil
}

// Err reports whether the transaction can still be used: nil if so,
// otherwise the error its next call would return (ErrClosed, ErrTxnDone,
// or the serialization failure a Scan found, which also ends the
// transaction). Scan has no error result; call Err after the loop to learn
// of a failure without touching data. A transaction ended by a conflict
// keeps reporting it (errors matching both ErrConflict and ErrTxnDone)
// until it is rolled back, so that DB.Update retries it whichever call
// noticed the failure first.
func (tx *Txn) Err() error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.usable()
}

// serializationError is the failure of a read that completed a dangerous
// structure; key is the key read (nil for a Scan).
func (tx *Txn) serializationError(key []byte) error {
	msg := "serialization failure: a read found a write that completes a dangerous structure of read-write dependencies"
	if key != nil {
		msg = "serialization failure: the read of key " + quoteKey(key) + " found a write that completes a dangerous structure of read-write dependencies"
	}
	return &ConflictError{Kind: SerializationFailure, Key: bytes.Clone(key), msg: msg}
}

// snapshot returns the timestamp a statement reads at: the transaction's
// snapshot, or for read committed the newest one (moving the horizon slot
// forward with it).
func (tx *Txn) snapshot() uint64 {
	if tx.level != ReadCommitted || tx.asOf {
		return tx.readTS
	}
	ts := tx.db.oracle.Visible()
	// A scan in progress still reads at its own, older snapshot: moving
	// the slot past it would let vacuum remove what the scan is about to
	// read. Reading at ts above the slot is safe either way.
	if tx.scans.Load() == 0 {
		tx.slot.AdvanceApplied(tx.db.oracle.Applied())
		tx.slot.Advance(ts)
		tx.noteSnapshot()
	}
	return ts
}

// finish ends the transaction without committing: no call succeeds after it.
func (tx *Txn) finish() {
	tx.done.Store(true)
	tx.end(false)
}

// end releases what the transaction holds: its horizon slot, its SSI
// record (kept as committed history when committed) and its locks, whose
// waiters then see the outcome. It runs once.
func (tx *Txn) end(committed bool) {
	if tx.ended.Swap(true) {
		return
	}
	if tx.stopCtx != nil {
		tx.stopCtx()
	}
	tx.db.oracle.End(tx.slot)
	tx.db.ages.remove(tx)
	if tx.asOf {
		tx.db.endAsOf(tx)
	}
	if tx.ser != nil {
		tx.db.ssi.End(tx.ser, committed, tx.db.oracle.Visible())
	}
	if tx.locks {
		tx.db.locks.ReleaseAll(tx.id)
	}
}

// lockKey takes key's lock in mode for the transaction. It waits, if it
// must, without holding tx.mu, so that Rollback (or the context) ends the
// wait at once. Called with tx.mu held; returns with it held. Any error
// has ended the transaction.
func (tx *Txn) lockKey(key []byte, mode txn.LockMode) error {
	tx.watchContext()
	tx.takesLocks()
	w, err := tx.db.locks.Lock(tx.id, key, mode)
	return tx.lockWait(w, err, "the lock on key "+quoteKey(key), key)
}

// lockRange takes a shared range lock on [start, end), like lockKey.
func (tx *Txn) lockRange(start, end []byte) error {
	tx.watchContext()
	tx.takesLocks()
	w, err := tx.db.locks.LockRange(tx.id, start, end)
	return tx.lockWait(w, err, "the range lock on ["+quoteKey(start)+", "+quoteKey(end)+")", nil)
}

// takesLocks gives the transaction its lock owner ID and marks it as one
// whose end releases locks. Called with tx.mu held.
func (tx *Txn) takesLocks() {
	if tx.id == 0 {
		tx.id = tx.db.txnIDs.Add(1)
	}
	tx.locks = true
}

func (tx *Txn) lockWait(w *txn.LockWait, err error, what string, key []byte) error {
	if err == nil && w != nil {
		tx.mu.Unlock()
		err = w.Wait(tx.ctx, tx.db.closing)
		tx.mu.Lock()
	}
	if err == nil && tx.done.Load() {
		return tx.usable() // ended (rolled back) while it waited
	}
	return tx.lockFailed(err, what, key)
}

// lockFailed turns a lock table error into the transaction's: a deadlock
// is a conflict (and ErrDeadlock), a wait ended by Rollback is
// ErrTxnDone, by Close ErrClosed, by the context its error. Called with
// tx.mu held. key is the key waited for (nil: a range or several keys).
func (tx *Txn) lockFailed(err error, what string, key []byte) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, txn.ErrDeadlock):
		msg := "deadlock: waiting for " + what + " would close a cycle of waiters"
		var de *txn.DeadlockError
		if errors.As(err, &de) {
			msg += ": " + de.Describe()
		}
		return tx.fail(&ConflictError{Kind: DeadlockFailure, Key: bytes.Clone(key), msg: msg})
	case errors.Is(err, txn.ErrLockReleased):
		return tx.usable()
	case txn.IsClosedWait(err):
		tx.finish()
		return ErrClosed
	}
	if cause := tx.ctx.Err(); cause != nil && errors.Is(err, cause) {
		// The context ended the wait: the transaction ends by it, as
		// contextEnded ends it when it runs first, so that this call and
		// every later one report ErrTxnDone and the context's error.
		if tx.cancelled == nil && !tx.ended.Load() {
			tx.endByContext(cause) //nolint:errcheck // reported below
		}
		if tx.cancelled != nil {
			return fmt.Errorf("mvkv: waiting for %s: %w", what, tx.cancelled)
		}
	}
	tx.finish()
	return fmt.Errorf("mvkv: waiting for %s: %w", what, err)
}

// lockedRead reads key at the newest committed data, for a locking
// transaction that holds a lock on it: nobody can commit a newer version
// until the transaction ends. The read is recorded by SSI (see txn.SSI on
// locking transactions). Called with tx.mu held.
func (tx *Txn) lockedRead(key []byte) ([]byte, error) {
	if w, ok := tx.writes[string(key)]; ok {
		if w.tombstone {
			return nil, ErrNotFound
		}
		return cloneValue(w.value), nil
	}
	ts := tx.latest()
	tx.ser.RecordKey(key)
	v, ok, _, err := tx.db.readAt(key, ts)
	if err == nil && !ok {
		err = ErrNotFound
	}
	return v, err
}

// latest returns the newest committed timestamp, which a locking
// transaction reads at, and advances its SSI snapshot to it, and its
// horizon slot as read committed does (snapshot says why not during a
// scan). Called with tx.mu held.
func (tx *Txn) latest() uint64 {
	ts := tx.db.oracle.Visible()
	tx.ser.AdvanceSnapshot(ts)
	if tx.scans.Load() == 0 {
		tx.slot.AdvanceApplied(tx.db.oracle.Applied())
		tx.slot.Advance(ts)
		tx.noteSnapshot()
	}
	return ts
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
	if tx.locking {
		if _, own := tx.writes[string(key)]; !own {
			if err := tx.lockKey(key, txn.Shared); err != nil {
				return nil, err
			}
		}
		return tx.lockedRead(key)
	}
	return tx.get(key)
}

func (tx *Txn) get(key []byte) ([]byte, error) {
	if w, ok := tx.writes[string(key)]; ok {
		if w.tombstone {
			return nil, ErrNotFound
		}
		return cloneValue(w.value), nil
	}
	if tx.ser == nil {
		v, ok, _, err := tx.db.read(key, tx.snapshot(), tx.asOf)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return v, err
	}
	// Record the read before looking: see txn.SSI for why the order
	// matters.
	tx.ser.RecordKey(key)
	v, ok, newer, err := tx.db.readAt(key, tx.readTS)
	if err != nil {
		return nil, err
	}
	if err := tx.db.ssi.ReadNewer(tx.ser, newer); err != nil {
		return nil, tx.fail(tx.serializationError(key))
	}
	if !ok {
		return nil, ErrNotFound
	}
	return v, nil
}

// GetForUpdate reads key like Get and takes an exclusive lock on it until
// the transaction ends. Another transaction's GetForUpdate on the same key
// waits for the lock, and so does every other writer of the key, at its
// commit (plain Get never waits, except in a locking transaction). After
// the wait, read committed (and a locking transaction) reads the newest
// committed value; Snapshot and Serializable fail with ErrConflict if a
// version newer than the snapshot was committed. A wait that would close a
// cycle fails at once with an error matching both ErrDeadlock and
// ErrConflict, and ends the transaction. If the context given to BeginTx
// ends during the wait, the transaction is rolled back and the context's
// error returned; a Rollback from another goroutine ends the wait too.
// A read-only transaction gets ErrReadOnly: the lock announces a write.
func (tx *Txn) GetForUpdate(key []byte) ([]byte, error) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.usable(); err != nil {
		return nil, err
	}
	if tx.readOnly {
		return nil, ErrReadOnly
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := tx.lockKey(key, txn.Exclusive); err != nil {
		return nil, err
	}
	if tx.locking {
		return tx.lockedRead(key)
	}
	if _, own := tx.writes[string(key)]; !own && tx.level != ReadCommitted {
		latest, err := tx.latestTS(key, true)
		if err != nil {
			return nil, err
		}
		if latest > tx.readTS {
			return nil, tx.fail(tx.conflict(key, latest))
		}
	}
	return tx.get(key)
}

// latestTS returns the commit timestamp of key's newest version, as far as
// it can be newer than the snapshot: memory's, else, when the key may have
// come to the file after the snapshot without memory holding it (created
// by a group that left it out of memory, see install; and, with spilled
// set, spilled out of memory whole), the file's; else 0: nothing newer
// than the horizon. Put and Delete leave a spilled key to Commit, which
// reads its before-image anyway, and spare every write a read of the file
// while the version store holds anything.
func (tx *Txn) latestTS(key []byte, spilled bool) (uint64, error) {
	latest := tx.db.index.LatestTS(key)
	if latest == 0 && ((spilled && tx.db.vs.count.Load() > 0) || tx.db.skipTS.Load() > tx.readTS) {
		f, err := tx.db.fileGet(key)
		if err != nil {
			return 0, err
		}
		latest = f.ts
	}
	return latest, nil
}

// Put buffers key=value. Under Snapshot and Serializable it fails early
// with ErrConflict if key was committed after the snapshot (the commit
// would fail anyway). It takes no lock: Commit waits for the locks others
// hold on the keys written. In a locking transaction it takes an
// exclusive lock on key at once instead, waiting like GetForUpdate.
func (tx *Txn) Put(key, value []byte) error {
	if err := checkValue(value); err != nil {
		return tx.checkWrite(key, err)
	}
	return tx.write(key, value, false)
}

// Delete buffers the removal of key. Deleting an absent key is not an
// error. The removal is a write like any other, whether or not the key
// exists when Delete is called: it takes part in first-committer-wins and
// in SSI's edge search, and the transaction's own reads see the key as
// absent from then on (a concurrent insert committed meanwhile included).
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
	if tx.locking {
		if err := tx.lockKey(key, txn.Exclusive); err != nil {
			return err
		}
	} else if tx.level != ReadCommitted {
		latest, err := tx.latestTS(key, false)
		if err != nil {
			return err
		}
		if latest > tx.readTS {
			return tx.fail(tx.conflict(key, latest))
		}
	}
	if tx.writes == nil {
		tx.writes = make(map[string]*write)
	}
	// A Delete always buffers its tombstone, even of a key absent now: a
	// concurrent writer of the key must meet it at commit (first committer
	// wins, SSI), and a read-committed transaction must keep seeing its
	// own delete after someone else inserts the key.
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

// Commit makes the transaction's writes durable and visible, atomically.
// First it waits for any lock another transaction holds on a key it writes
// (GetForUpdate's, a locking transaction's shared or range lock), like
// GetForUpdate waits, and keeps the others out of those keys until the
// commit is published. Under Snapshot and Serializable it fails with
// ErrConflict when a concurrent transaction committed a write to the same
// key first. In every case the transaction is finished afterwards.
//
// Inside DB.Update and DB.View, Commit returns ErrManagedTxn and changes
// nothing: the function's return commits or rolls back.
func (tx *Txn) Commit() error {
	if tx.managed {
		return ErrManagedTxn
	}
	return tx.commit()
}

func (tx *Txn) commit() error {
	tx.mu.Lock()
	if err := tx.usable(); err != nil {
		tx.mu.Unlock()
		return err
	}
	if len(tx.writes) == 0 {
		tx.done.Store(true)
		tx.end(true)
		tx.mu.Unlock()
		tx.db.stats.commits.Add(1)
		return nil
	}
	ws := tx.sortedWrites()
	req := &commitReq{tx: tx, done: make(chan struct{}), writes: make([]write, len(ws)), keys: make([][]byte, len(ws))}
	for i, w := range ws {
		req.writes[i] = *w
		req.keys[i] = w.key
	}
	tx.done.Store(true) // no more calls; what it holds is released when the commit ends
	fast := false       // no strong lock existed: intents unregistered, gate held (txn.LockTable)
	if !tx.locking {
		// Every writer waits for the locks others hold on its keys
		// (GetForUpdate, locking readers and scanners): a plain writer
		// takes intent locks at commit, which only other plain writers
		// share, and holds them until its commit is published.
		tx.takesLocks()
		tx.committing = true
		tx.mu.Unlock()
		var err error
		fast, err = tx.db.locks.LockIntents(tx.ctx, tx.db.closing, tx.id, req.keys)
		tx.mu.Lock()
		if fast && !tx.ended.Load() {
			tx.locks = false // a fast commit: nothing of it is in the table
		}
		tx.committing = false
		if tx.ended.Load() {
			// Rolled back while it waited: locks taken after the
			// rollback's release go now.
			if fast {
				tx.db.locks.EndIntents()
			}
			tx.db.locks.ReleaseAll(tx.id)
			err := error(ErrTxnDone)
			if tx.cancelled != nil {
				err = tx.cancelled
			}
			tx.mu.Unlock()
			return err
		}
		if err != nil {
			err = tx.lockFailed(err, "the write locks of its commit", nil)
			tx.mu.Unlock()
			return err
		}
	}
	tx.mu.Unlock()

	err := tx.db.submit(req)
	if fast {
		tx.db.locks.EndIntents()
	}
	tx.end(err == nil)
	if err != nil {
		if errors.Is(err, ErrConflict) {
			tx.mu.Lock()
			tx.failed = err
			tx.mu.Unlock()
			tx.db.stats.conflicts.Add(1)
		}
		return err
	}
	tx.commitTS = req.ts
	tx.db.stats.commits.Add(1)
	return nil
}

// submit prepares req, hands it to the commit pipeline and waits for its
// outcome.
func (db *DB) submit(req *commitReq) error {
	if err := db.prepareCommit(req); err != nil {
		return err
	}
	if db.tryLead(req) {
		return req.err
	}
	select {
	case db.commitCh <- req:
		db.queued.Add(1)
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
// transaction already ended, so `defer tx.Rollback()` is safe. A
// transaction whose BeginTx context ended was rolled back by that end (as
// in database/sql): Rollback then returns an error matching ErrTxnDone and
// the context's error, whether or not a call noticed the end first.
// Inside DB.Update, DB.UpdateTx, DB.View and DB.ViewTx it returns
// ErrManagedTxn and changes nothing.
func (tx *Txn) Rollback() error {
	if tx.managed {
		return ErrManagedTxn
	}
	return tx.rollback()
}

func (tx *Txn) rollback() error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.db.closed.Load() {
		tx.finish()
		return ErrClosed
	}
	if tx.done.Load() && !tx.committing {
		tx.failed = nil
		if tx.cancelled != nil {
			return tx.cancelled
		}
		return ErrTxnDone
	}
	if !tx.done.Load() && tx.ctxCanEnd {
		// The context's end rolled the transaction back, though only a
		// holder of locks is told at once (contextEnded): say so the
		// same way whichever came first.
		if err := tx.ctx.Err(); err != nil {
			return tx.endByContext(err)
		}
	}
	tx.finish() // a Commit waiting for its locks gives up

	tx.db.stats.rollbacks.Add(1)
	return nil
}

// fail ends the transaction after the conflict err, which it returns and
// which later calls keep reporting until Rollback. Called with tx.mu held.
func (tx *Txn) fail(err error) error {
	tx.failed = err
	tx.finish()
	tx.db.stats.conflicts.Add(1)
	return err
}

func (tx *Txn) conflict(key []byte, ts uint64) error {
	return &ConflictError{Kind: WriteConflict, Key: bytes.Clone(key), TS: ts, msg: "key " + quoteKey(key) + " was committed at ts " + itoa(ts) + " after this transaction's snapshot at " + itoa(tx.readTS)}
}
