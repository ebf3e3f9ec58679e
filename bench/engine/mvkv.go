package engine

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/mvkv/mvkv/mvcc"
)

// mvkvEngine runs transactions on an mvkv database; with locking (the
// engine "mvkv-locking"), serializable ones by two-phase locking.
type mvkvEngine struct {
	db      *mvcc.DB
	locking bool
}

func openMVKV(dir string, opts Options, locking bool) (*mvkvEngine, error) {
	db, err := mvcc.Open(filepath.Join(dir, "mvkv.db"), &mvcc.Options{NoSync: !opts.Durable, InitialMmapSize: opts.MmapSize})
	if err != nil {
		return nil, err
	}
	return &mvkvEngine{db: db, locking: locking}, nil
}

// DB returns the underlying database (for stats).
func (e *mvkvEngine) DB() *mvcc.DB { return e.db }

func (e *mvkvEngine) Name() string {
	if e.locking {
		return "mvkv-locking"
	}
	return "mvkv"
}

func (e *mvkvEngine) Levels() []mvcc.Level { return engineInfo[e.Name()].levels }
func (e *mvkvEngine) Note() string         { return engineInfo[e.Name()].note }

func (e *mvkvEngine) Txn(level mvcc.Level, readOnly bool, fn func(Tx) error) error {
	tx, err := e.db.BeginTx(context.Background(), mvcc.TxOptions{Isolation: level, ReadOnly: readOnly, Locking: e.locking})
	if err != nil {
		return err
	}
	if err := fn(mvkvTx{tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// View runs fn in a read-only transaction ended by Rollback: DB.View at
// Snapshot, a read-only BeginTx at the other levels.
func (e *mvkvEngine) View(level mvcc.Level, fn func(Tx) error) error {
	if level == mvcc.Snapshot && !e.locking {
		return e.db.View(context.Background(), func(tx *mvcc.Txn) error { return fn(mvkvTx{tx}) })
	}
	tx, err := e.db.BeginTx(context.Background(), mvcc.TxOptions{Isolation: level, ReadOnly: true, Locking: e.locking})
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a read-only transaction has nothing to undo
	return fn(mvkvTx{tx})
}

func (e *mvkvEngine) Abort(err error) string {
	var ce *mvcc.ConflictError
	if !errors.As(err, &ce) {
		return ""
	}
	switch ce.Kind {
	case mvcc.DeadlockFailure:
		return "deadlock"
	case mvcc.SerializationFailure:
		return "serialization"
	}
	return "write-write"
}

func (e *mvkvEngine) Versions() int64 { return e.db.Stats().Versions }

func (e *mvkvEngine) Vacuum() (int64, error) {
	st, err := e.db.Vacuum(context.Background())
	return st.VersionsRemoved, err
}

func (e *mvkvEngine) Close() error { return e.db.Close() }

type mvkvTx struct{ tx *mvcc.Txn }

func (t mvkvTx) Get(key []byte) ([]byte, error) { return t.tx.Get(key) }
func (t mvkvTx) Put(key, value []byte) error    { return t.tx.Put(key, value) }
func (t mvkvTx) Delete(key []byte) error        { return t.tx.Delete(key) }

// Scan lends each key and value for one step (mvcc.Txn.ScanFunc), as
// bbolt's cursor and Badger's Item.Value lend theirs (see Tx.Scan): a
// workload that keeps nothing pays for no copy on any engine.
func (t mvkvTx) Scan(start, end []byte, limit int, fn func(key, value []byte) bool) error {
	return t.ScanFunc(start, end, limit, fn)
}

// ScanCopies is mvcc.Txn.Scan: every key and value a copy the caller owns.
func (t mvkvTx) ScanCopies(start, end []byte, limit int, fn func(key, value []byte) bool) error {
	n := 0
	for k, v := range t.tx.Scan(start, end) {
		if !fn(k, v) {
			break
		}
		if n++; limit > 0 && n >= limit {
			break
		}
	}
	// A serializable scan that meets a dangerous structure ends the
	// transaction; Err says so.
	return t.tx.Err()
}

// GetFunc is Get: mvkv has no read in place (every value it returns is
// checked against its CRC and copied), so it lends its copy.
func (t mvkvTx) GetFunc(key []byte, fn func(value []byte)) error {
	v, err := t.tx.Get(key)
	if err == nil {
		fn(v)
	}
	return err
}

// ScanFunc is mvcc.Txn.ScanFunc; without a limit fn goes to it as it is,
// with no step between.
func (t mvkvTx) ScanFunc(start, end []byte, limit int, fn func(key, value []byte) bool) error {
	if limit <= 0 {
		return t.tx.ScanFunc(start, end, fn)
	}
	n := 0
	return t.tx.ScanFunc(start, end, func(k, v []byte) bool {
		n++
		return fn(k, v) && n < limit
	})
}

// ScanKeys is mvcc.Txn.ScanKeys: no value is read.
func (t mvkvTx) ScanKeys(start, end []byte, limit int, fn func(key []byte) bool) error {
	n := 0
	for k := range t.tx.ScanKeys(start, end) {
		if !fn(k) {
			break
		}
		if n++; limit > 0 && n >= limit {
			break
		}
	}
	return t.tx.Err()
}
