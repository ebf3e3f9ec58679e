package mvcc

import (
	"fmt"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Reading the file.
//
// A bbolt read transaction costs about a microsecond to begin and end, as
// much as the read it serves, so readers share one (as etcd's backend
// does): the view. The commit pipeline retires the view before it commits
// a group and installs a new one after, before it publishes the group:
// every reader that holds a snapshot at or after a commit therefore reads
// a view that includes it.
//
// A view is held only for the time of one point read or one chunk of a
// scan, never while a caller's code runs: a long scan or a long-lived
// snapshot never pins bbolt pages, and bbolt's remap (it needs every read
// transaction closed) waits for at most one chunk. Between a retirement
// and the next install, a reader opens a private read transaction.

// view is a shared bbolt read transaction with a reference count: one
// reference is the DB's while the view is current, one per reader using
// it; the last to let go rolls it back.
type view struct {
	tx   *bolt.Tx
	data *bolt.Bucket // read-only bucket: safe for concurrent cursors
	leaf leafCheck    // for cursors of data: the mapping's address and page size
	refs atomic.Int64
}

func (v *view) release() {
	if v.refs.Add(-1) == 0 {
		_ = v.tx.Rollback()
	}
}

// beginView opens a read transaction as a view holding one reference.
func (db *DB) beginView() (*view, error) {
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
	v.refs.Store(1)
	return v, nil
}

// acquireView returns the current view with a reference taken, or a
// private one while none is current. Call release when done.
func (db *DB) acquireView() (*view, error) {
	for {
		v := db.view.Load()
		if v == nil {
			return db.beginView()
		}
		n := v.refs.Load()
		if n <= 0 {
			continue // being retired: the pointer changes next
		}
		if v.refs.CompareAndSwap(n, n+1) {
			return v, nil
		}
	}
}

// retireView drops the DB's reference to the current view: it closes
// when its last reader lets go. Called by the commit pipeline before a
// bbolt commit (which may need to remap the file) and by Close.
func (db *DB) retireView() {
	if v := db.view.Swap(nil); v != nil {
		v.release()
	}
}

// renewView installs a view of the file as it is now. Called by the
// commit pipeline after a group, before publishing it. A failure to begin
// one leaves readers on private read transactions.
func (db *DB) renewView() {
	db.retireView()
	if v, err := db.beginView(); err == nil {
		db.view.Store(v)
	}
}
