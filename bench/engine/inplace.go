package engine

import "github.com/mvkv/mvkv/mvcc"

// The optional ways of reading that the performance goals compare (mvkv's
// copying Scan, ScanFunc and ScanKeys against bbolt's cursor walks, View against
// bbolt's View). An engine implements those it can express; the workloads
// never need them, so the peers without them (Badger, PostgreSQL, etcd,
// noop) run every workload all the same.

// Viewer is implemented by engines with a read-only transaction of their
// own that ends without a commit: mvkv's (DB.View at Snapshot, a read-only
// BeginTx ended by Rollback at the other levels) and bbolt's DB.View. What
// it reads it has read at level; it never reports a serialization
// failure, which only a commit would (use Engine.Txn for that).
type Viewer interface {
	View(level mvcc.Level, fn func(Tx) error) error
}

// Lender is implemented by the Tx of engines that can lend what they read
// instead of copying it.
type Lender interface {
	// GetFunc calls fn with key's value, valid only until fn returns, or
	// returns ErrNotFound.
	GetFunc(key []byte, fn func(value []byte)) error
	// ScanFunc is Tx.Scan with key and value valid only until fn returns
	// (mvcc.Txn.ScanFunc; a bbolt cursor's slices).
	ScanFunc(start, end []byte, limit int, fn func(key, value []byte) bool) error
}

// KeyScanner is implemented by the Tx of engines that can walk keys
// without reading a value (mvcc.Txn.ScanKeys; a bbolt cursor walk that
// never looks at its values). The key is valid only until fn returns.
type KeyScanner interface {
	ScanKeys(start, end []byte, limit int, fn func(key []byte) bool) error
}

// CopyScanner is implemented by the Tx of engines whose scan can also hand
// the caller copies it owns (mvcc.Txn.Scan), which the goals measure
// beside the lent scan.
type CopyScanner interface {
	ScanCopies(start, end []byte, limit int, fn func(key, value []byte) bool) error
}
