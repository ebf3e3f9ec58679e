package mvcc_test

// Black-box tests of the public contract (package mvcc's documentation):
// errors for every bad input, nothing changed by a failed operation, levels. The read/write
// semantics, Update/View and restart live in the other contract_*_test.go
// files.

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// checkAtEnd runs the DB's consistency check (memory against the file)
// when the test ends, before the DB closes.
func checkAtEnd(t testing.TB, db *mvcc.DB) {
	t.Cleanup(func() {
		if err := mvcc.Check(db); err != nil {
			t.Errorf("at the end of the test: %v", err)
		}
	})
}

// ctOpen opens a fresh database in a test directory, closed at cleanup.
// opts nil means NoSync (contract tests do not need fsync).
func ctOpen(t testing.TB, opts *mvcc.Options) (*mvcc.DB, string) {
	t.Helper()
	if opts == nil {
		opts = &mvcc.Options{NoSync: true}
	}
	path := filepath.Join(t.TempDir(), "db")
	db, err := mvcc.Open(path, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	checkAtEnd(t, db)
	return db, path
}

// ctPut commits the key, value pairs kvs in one transaction.
func ctPut(t testing.TB, db *mvcc.DB, kvs ...string) {
	t.Helper()
	require.Zero(t, len(kvs)%2, "key/value pairs")
	err := db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
		for i := 0; i < len(kvs); i += 2 {
			if err := tx.Put([]byte(kvs[i]), []byte(kvs[i+1])); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
}

// ctDelete deletes keys in one transaction.
func ctDelete(t testing.TB, db *mvcc.DB, keys ...string) {
	t.Helper()
	err := db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
		for _, k := range keys {
			if err := tx.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
}

// scanAll returns what tx's Scan(start, end) yields as "k=v" strings.
func scanAll(tx *mvcc.Txn, start, end []byte) []string {
	var out []string
	for k, v := range tx.Scan(start, end) {
		out = append(out, string(k)+"="+string(v))
	}
	return out
}

// dump returns the whole committed content seen by a fresh snapshot.
func dump(t testing.TB, db *mvcc.DB) []string {
	t.Helper()
	var out []string
	require.NoError(t, db.View(context.Background(), func(tx *mvcc.Txn) error {
		out = scanAll(tx, nil, nil)
		return nil
	}))
	return out
}

var levels = []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable}

var bigValue = sync.OnceValue(func() []byte { return make([]byte, mvcc.MaxValueSize+1) })

// txOp is one call on a transaction, reduced to its error.
type txOp struct {
	name     string
	write    bool  // rejected by read-only transactions (writes and locks)
	inputErr error // the error for its bad input, nil when the input is fine
	run      func(tx *mvcc.Txn) error
}

func txOps() []txOp {
	big := bytes.Repeat([]byte("k"), mvcc.MaxKeySize+1)
	maxKey := bytes.Repeat([]byte("m"), mvcc.MaxKeySize)
	return []txOp{
		{"Get", false, nil, func(tx *mvcc.Txn) error { _, err := tx.Get([]byte("a")); return err }},
		{"Get max-size key", false, mvcc.ErrNotFound, func(tx *mvcc.Txn) error { _, err := tx.Get(maxKey); return err }},
		{"Get nil key", false, mvcc.ErrEmptyKey, func(tx *mvcc.Txn) error { _, err := tx.Get(nil); return err }},
		{"Get empty key", false, mvcc.ErrEmptyKey, func(tx *mvcc.Txn) error { _, err := tx.Get([]byte{}); return err }},
		{"Get key too large", false, mvcc.ErrKeyTooLarge, func(tx *mvcc.Txn) error { _, err := tx.Get(big); return err }},
		{"Put", true, nil, func(tx *mvcc.Txn) error { return tx.Put([]byte("new"), []byte("v")) }},
		{"Put nil value", true, nil, func(tx *mvcc.Txn) error { return tx.Put([]byte("new"), nil) }},
		{"Put max-size key", true, nil, func(tx *mvcc.Txn) error { return tx.Put(maxKey, []byte("v")) }},
		{"Put nil key", true, mvcc.ErrEmptyKey, func(tx *mvcc.Txn) error { return tx.Put(nil, []byte("v")) }},
		{"Put empty key", true, mvcc.ErrEmptyKey, func(tx *mvcc.Txn) error { return tx.Put([]byte{}, []byte("v")) }},
		{"Put key too large", true, mvcc.ErrKeyTooLarge, func(tx *mvcc.Txn) error { return tx.Put(big, []byte("v")) }},
		{"Put value too large", true, mvcc.ErrValueTooLarge, func(tx *mvcc.Txn) error { return tx.Put([]byte("a"), bigValue()) }},
		{"Put both too large", true, mvcc.ErrKeyTooLarge, func(tx *mvcc.Txn) error { return tx.Put(big, bigValue()) }},
		{"Delete", true, nil, func(tx *mvcc.Txn) error { return tx.Delete([]byte("a")) }},
		{"Delete absent", true, nil, func(tx *mvcc.Txn) error { return tx.Delete([]byte("absent")) }},
		{"Delete nil key", true, mvcc.ErrEmptyKey, func(tx *mvcc.Txn) error { return tx.Delete(nil) }},
		{"Delete empty key", true, mvcc.ErrEmptyKey, func(tx *mvcc.Txn) error { return tx.Delete([]byte{}) }},
		{"Delete key too large", true, mvcc.ErrKeyTooLarge, func(tx *mvcc.Txn) error { return tx.Delete(big) }},
		// GetForUpdate's locking is tested with it; here only its inputs
		// and preconditions (a read-only transaction cannot lock).
		{"GetForUpdate", true, nil, func(tx *mvcc.Txn) error { _, err := tx.GetForUpdate([]byte("a")); return err }},
		{"GetForUpdate nil key", true, mvcc.ErrEmptyKey, func(tx *mvcc.Txn) error { _, err := tx.GetForUpdate(nil); return err }},
		{"GetForUpdate empty key", true, mvcc.ErrEmptyKey, func(tx *mvcc.Txn) error { _, err := tx.GetForUpdate([]byte{}); return err }},
		{"GetForUpdate key too large", true, mvcc.ErrKeyTooLarge, func(tx *mvcc.Txn) error { _, err := tx.GetForUpdate(big); return err }},
		{"Commit", false, nil, func(tx *mvcc.Txn) error { return tx.Commit() }},
		{"Rollback", false, nil, func(tx *mvcc.Txn) error { return tx.Rollback() }},
	}
}

// txState is how a transaction is prepared before the op runs on it. The
// database holds a=1, b=2; an active transaction has also written c=3 and
// deleted b, so that "nothing changed" covers its own pending writes.
type txState struct {
	name     string
	readOnly bool
	prepare  func(t *testing.T, db *mvcc.DB, tx *mvcc.Txn)
	// ctxEnds cancels the transaction's BeginTx context after prepare.
	ctxEnds bool
	// want is the error every op gets in this state; nil means the op's
	// own outcome (its inputErr, or ErrReadOnly for writes when readOnly).
	want error
}

func txStates() []txState {
	return []txState{
		{name: "active", prepare: func(*testing.T, *mvcc.DB, *mvcc.Txn) {}},
		{name: "read-only", readOnly: true, prepare: func(*testing.T, *mvcc.DB, *mvcc.Txn) {}},
		{name: "committed", want: mvcc.ErrTxnDone, prepare: func(t *testing.T, _ *mvcc.DB, tx *mvcc.Txn) {
			require.NoError(t, tx.Commit())
		}},
		{name: "rolled back", want: mvcc.ErrTxnDone, prepare: func(t *testing.T, _ *mvcc.DB, tx *mvcc.Txn) {
			require.NoError(t, tx.Rollback())
		}},
		{name: "conflicted", want: mvcc.ErrTxnDone, prepare: func(t *testing.T, db *mvcc.DB, tx *mvcc.Txn) {
			ctPut(t, db, "a", "concurrent")
			err := tx.Put([]byte("a"), []byte("mine"))
			if err == nil {
				err = tx.Commit()
			}
			require.ErrorIs(t, err, mvcc.ErrConflict)
		}},
		{name: "context cancelled", want: mvcc.ErrTxnDone, ctxEnds: true, prepare: func(*testing.T, *mvcc.DB, *mvcc.Txn) {}},
		{name: "db closed", want: mvcc.ErrClosed, prepare: func(t *testing.T, db *mvcc.DB, _ *mvcc.Txn) {
			require.NoError(t, db.Close())
		}},
		{name: "committed then db closed", want: mvcc.ErrClosed, prepare: func(t *testing.T, db *mvcc.DB, tx *mvcc.Txn) {
			require.NoError(t, tx.Commit())
			require.NoError(t, db.Close())
		}},
	}
}

func TestErrorsEveryMethodEveryState(t *testing.T) {
	for _, st := range txStates() {
		for _, op := range txOps() {
			t.Run(st.name+"/"+op.name, func(t *testing.T) {
				db, _ := ctOpen(t, nil)
				ctPut(t, db, "a", "1", "b", "2")
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				tx, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot, ReadOnly: st.readOnly})
				require.NoError(t, err)
				if !st.readOnly {
					require.NoError(t, tx.Put([]byte("c"), []byte("3")))
					require.NoError(t, tx.Delete([]byte("b")))
				}
				st.prepare(t, db, tx)
				if st.ctxEnds {
					cancel()
				}
				before := scanAll(tx, nil, nil)

				want := st.want
				if want == nil {
					want = op.inputErr
					if st.readOnly && op.write {
						want = mvcc.ErrReadOnly
					}
				}
				got := op.run(tx)
				if want == nil {
					require.NoError(t, got)
					return
				}
				require.ErrorIs(t, got, want)
				if want == mvcc.ErrNotFound {
					return // a miss is not a failure
				}
				// A failed operation changes nothing: the transaction reads
				// the same, and if it can still commit, it commits exactly
				// what it had.
				assert.Equal(t, before, scanAll(tx, nil, nil))
				if st.want != nil {
					return
				}
				require.NoError(t, tx.Commit())
				wantDB := []string{"a=1", "b=2"}
				if !st.readOnly {
					wantDB = []string{"a=1", "c=3"}
				}
				assert.Equal(t, wantDB, dump(t, db))
			})
		}
	}
}

func TestScanOnFinishedTxnYieldsNothing(t *testing.T) {
	for _, st := range txStates() {
		if st.want == nil {
			continue
		}
		t.Run(st.name, func(t *testing.T) {
			db, _ := ctOpen(t, nil)
			ctPut(t, db, "a", "1", "b", "2")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tx, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot})
			require.NoError(t, err)
			require.NoError(t, tx.Put([]byte("c"), []byte("3")))
			st.prepare(t, db, tx)
			if st.ctxEnds {
				cancel()
			}
			assert.Empty(t, scanAll(tx, nil, nil))
		})
	}
}

func TestDBMethodsAfterClose(t *testing.T) {
	db, _ := ctOpen(t, nil)
	ctPut(t, db, "a", "1")
	require.NoError(t, db.Close())
	ctx := context.Background()
	called := false
	fn := func(*mvcc.Txn) error { called = true; return nil }
	tests := []struct {
		name string
		run  func() error
	}{
		{"Begin", func() error { _, err := db.Begin(mvcc.Snapshot); return err }},
		{"BeginTx", func() error { _, err := db.BeginTx(ctx, mvcc.TxOptions{}); return err }},
		{"BeginTx read-only", func() error { _, err := db.BeginTx(ctx, mvcc.TxOptions{ReadOnly: true}); return err }},
		{"Update", func() error { return db.Update(ctx, mvcc.Snapshot, fn) }},
		{"View", func() error { return db.View(ctx, fn) }},
		{"Vacuum", func() error { _, err := db.Vacuum(ctx); return err }},
	}
	for _, tt := range tests {
		require.ErrorIs(t, tt.run(), mvcc.ErrClosed, tt.name)
	}
	assert.False(t, called, "no function runs on a closed DB")
	assert.NoError(t, db.Close(), "Close again returns the first result")
	assert.NotPanics(t, func() { _ = db.Stats() })
}

func TestBeginBadInput(t *testing.T) {
	db, _ := ctOpen(t, nil)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	fn := func(*mvcc.Txn) error { called = true; return nil }
	tests := []struct {
		name string
		run  func() error
		want error
	}{
		{"Begin bad level", func() error { _, err := db.Begin(mvcc.Level(3)); return err }, mvcc.ErrInvalidLevel},
		{"Begin level 255", func() error { _, err := db.Begin(mvcc.Level(255)); return err }, mvcc.ErrInvalidLevel},
		{"BeginTx bad level", func() error {
			_, err := db.BeginTx(context.Background(), mvcc.TxOptions{Isolation: 9})
			return err
		}, mvcc.ErrInvalidLevel},
		{"BeginTx canceled ctx", func() error { _, err := db.BeginTx(canceled, mvcc.TxOptions{}); return err }, context.Canceled},
		{"Update bad level", func() error { return db.Update(context.Background(), 7, fn) }, mvcc.ErrInvalidLevel},
		{"Update canceled ctx", func() error { return db.Update(canceled, mvcc.Snapshot, fn) }, context.Canceled},
		{"View canceled ctx", func() error { return db.View(canceled, fn) }, context.Canceled},
	}
	for _, tt := range tests {
		require.ErrorIs(t, tt.run(), tt.want, tt.name)
	}
	assert.False(t, called)
	st := db.Stats()
	assert.Zero(t, st.ActiveTxns, "a failed Begin leaves no transaction behind")
	assert.Zero(t, st.LastCommitTS)
}

func TestLevels(t *testing.T) {
	names := map[mvcc.Level]string{
		mvcc.ReadCommitted: "read-committed",
		mvcc.Snapshot:      "snapshot",
		mvcc.Serializable:  "serializable",
	}
	require.Len(t, levels, 3)
	for l, name := range names {
		assert.Equal(t, name, l.String())
		got, err := mvcc.ParseLevel(name)
		require.NoError(t, err)
		assert.Equal(t, l, got)
	}
	assert.NotEqual(t, mvcc.ReadCommitted, mvcc.Snapshot)
	assert.NotEqual(t, mvcc.Snapshot, mvcc.Serializable)

	rr, err := mvcc.ParseLevel("repeatable-read")
	require.NoError(t, err)
	assert.Equal(t, mvcc.Snapshot, rr)

	for _, bad := range []string{"", "read-uncommitted", "snapshot-isolation-please", "level(3)"} {
		_, err := mvcc.ParseLevel(bad)
		assert.ErrorIs(t, err, mvcc.ErrInvalidLevel, "%q", bad)
	}
}

func TestErrorsAreDistinct(t *testing.T) {
	all := []error{mvcc.ErrNotFound, mvcc.ErrConflict, mvcc.ErrDeadlock, mvcc.ErrTxnDone,
		mvcc.ErrReadOnly, mvcc.ErrClosed, mvcc.ErrEmptyKey, mvcc.ErrKeyTooLarge, mvcc.ErrValueTooLarge,
		mvcc.ErrManagedTxn, mvcc.ErrInvalidLevel, mvcc.ErrCorrupt, mvcc.ErrSnapshotTooOld, mvcc.ErrHistoryGone,
		mvcc.ErrLocked, mvcc.ErrNilArgument}
	for i, a := range all {
		for j, b := range all {
			assert.Equal(t, i == j, errors.Is(a, b), "%v vs %v", a, b)
		}
	}
}

func TestCloseWithOpenTransactions(t *testing.T) {
	db, _ := ctOpen(t, nil)
	ctPut(t, db, "a", "1")
	rw, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	require.NoError(t, rw.Put([]byte("b"), []byte("2")))
	ro, err := db.BeginTx(context.Background(), mvcc.TxOptions{ReadOnly: true})
	require.NoError(t, err)
	v, err := ro.Get([]byte("a"))
	require.NoError(t, err)

	require.NoError(t, db.Close())
	assert.Equal(t, "1", string(v), "slices read before Close stay valid")
	_, err = ro.Get([]byte("a"))
	assert.ErrorIs(t, err, mvcc.ErrClosed)
	assert.ErrorIs(t, rw.Commit(), mvcc.ErrClosed)
	assert.ErrorIs(t, rw.Rollback(), mvcc.ErrClosed)
	assert.ErrorIs(t, ro.Rollback(), mvcc.ErrClosed)
}
