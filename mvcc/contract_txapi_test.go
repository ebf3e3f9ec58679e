package mvcc_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

func txOpen(t *testing.T, opts *mvcc.Options) *mvcc.DB {
	t.Helper()
	if opts == nil {
		opts = &mvcc.Options{}
	}
	opts.NoSync = true
	db, err := mvcc.Open(filepath.Join(t.TempDir(), "tx.db"), opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func txGetString(t *testing.T, db *mvcc.DB, k string) (string, error) {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), mvcc.TxOptions{Isolation: mvcc.Snapshot, ReadOnly: true})
	require.NoError(t, err)
	defer tx.Rollback()
	v, err := tx.Get([]byte(k))
	return string(v), err
}

func txPutString(t *testing.T, db *mvcc.DB, k, v string) {
	t.Helper()
	tx, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	require.NoError(t, tx.Put([]byte(k), []byte(v)))
	require.NoError(t, tx.Commit())
}

// UpdateTx runs fn once when it fails with an error other than a
// conflict, rolls back, and returns that very error; Commit and Rollback
// inside UpdateTx and ViewTx are ErrManagedTxn, whatever the options.
func TestUpdateTxReturnsOtherErrorsUnchanged(t *testing.T) {
	db := txOpen(t, nil)
	ctx := context.Background()
	boom := errors.New("boom")
	calls := 0
	err := db.UpdateTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot}, func(tx *mvcc.Txn) error {
		calls++
		require.NoError(t, tx.Put([]byte("k"), []byte("v")))
		return boom
	})
	assert.Same(t, boom, err, "the very error, not wrapped")
	assert.Equal(t, 1, calls)
	_, err = txGetString(t, db, "k")
	require.ErrorIs(t, err, mvcc.ErrNotFound)

	for _, o := range []mvcc.TxOptions{{}, {Isolation: mvcc.Serializable, Locking: true}, {Isolation: mvcc.Serializable, ReadOnly: true}} {
		require.NoError(t, db.UpdateTx(ctx, o, func(tx *mvcc.Txn) error {
			require.ErrorIs(t, tx.Commit(), mvcc.ErrManagedTxn)
			require.ErrorIs(t, tx.Rollback(), mvcc.ErrManagedTxn)
			return nil
		}))
		require.NoError(t, db.ViewTx(ctx, o, func(tx *mvcc.Txn) error {
			require.ErrorIs(t, tx.Commit(), mvcc.ErrManagedTxn)
			require.ErrorIs(t, tx.Rollback(), mvcc.ErrManagedTxn)
			return nil
		}))
	}
	// Read-only via UpdateTx.
	err = db.UpdateTx(ctx, mvcc.TxOptions{ReadOnly: true}, func(tx *mvcc.Txn) error {
		return tx.Put([]byte("x"), []byte("y"))
	})
	require.ErrorIs(t, err, mvcc.ErrReadOnly)
}

// Options.MaxUpdateRetries bounds the retries of UpdateTx and ViewTx;
// the last conflict is returned.
func TestUpdateTxRetryLimit(t *testing.T) {
	db := txOpen(t, &mvcc.Options{MaxUpdateRetries: 3})
	calls := 0
	err := db.UpdateTx(context.Background(), mvcc.TxOptions{Isolation: mvcc.Snapshot}, func(tx *mvcc.Txn) error {
		calls++
		return fmt.Errorf("c%d: %w", calls, mvcc.ErrConflict)
	})
	require.ErrorIs(t, err, mvcc.ErrConflict)
	assert.Equal(t, 4, calls)
	assert.Contains(t, err.Error(), "c4")

	db2 := txOpen(t, &mvcc.Options{MaxUpdateRetries: -1})
	calls = 0
	err = db2.ViewTx(context.Background(), mvcc.TxOptions{Isolation: mvcc.Serializable}, func(tx *mvcc.Txn) error {
		calls++
		return fmt.Errorf("c%d: %w", calls, mvcc.ErrConflict)
	})
	require.ErrorIs(t, err, mvcc.ErrConflict)
	assert.Equal(t, 1, calls)
}

// A write-write conflict the engine finds (not one fn makes up) is
// retried, and the retry reads the newer value.
func TestUpdateTxRetriesWriteConflict(t *testing.T) {
	db := txOpen(t, nil)
	txPutString(t, db, "n", "0")
	calls := 0
	err := db.UpdateTx(context.Background(), mvcc.TxOptions{Isolation: mvcc.Snapshot}, func(tx *mvcc.Txn) error {
		calls++
		v, err := tx.Get([]byte("n"))
		if err != nil {
			return err
		}
		if calls == 1 {
			txPutString(t, db, "n", "5")
		}
		return tx.Put([]byte("n"), append(v, '1'))
	})
	require.NoError(t, err)
	assert.Equal(t, 2, calls)
	v, err := txGetString(t, db, "n")
	require.NoError(t, err)
	assert.Equal(t, "51", v)
}

// The read-only anomaly scripted: a serializable ViewTx is aborted by SSI
// on its first attempt and retried on a newer snapshot.
func TestViewTxRetriesReadOnlyAnomaly(t *testing.T) {
	db := txOpen(t, nil)
	txPutString(t, db, "x", "0")
	txPutString(t, db, "y", "0")
	t2, err := db.Begin(mvcc.Serializable)
	require.NoError(t, err)
	_, err = t2.Get([]byte("x"))
	require.NoError(t, err)
	_, err = t2.Get([]byte("y"))
	require.NoError(t, err)
	// T1 deposits into y and commits.
	t1, err := db.Begin(mvcc.Serializable)
	require.NoError(t, err)
	_, err = t1.Get([]byte("y"))
	require.NoError(t, err)
	require.NoError(t, t1.Put([]byte("y"), []byte("20")))
	require.NoError(t, t1.Commit())

	calls := 0
	var seen []string
	err = db.ViewTx(context.Background(), mvcc.TxOptions{Isolation: mvcc.Serializable}, func(tx *mvcc.Txn) error {
		calls++
		if calls == 1 {
			require.NoError(t, t2.Put([]byte("x"), []byte("-11")))
			require.NoError(t, t2.Commit())
		}
		seen = seen[:0]
		for _, k := range []string{"y", "x"} {
			v, err := tx.Get([]byte(k))
			if err != nil {
				return err
			}
			seen = append(seen, string(v))
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 2, calls, "SSI aborted the first attempt, which would have seen y=20 with x=0")
	assert.Equal(t, []string{"20", "-11"}, seen)
}

// ViewTx is read-only even when the options leave ReadOnly false, and a
// locking ViewTx reads under shared locks and refuses every write.
func TestViewTxIsReadOnlyWhateverTheOptions(t *testing.T) {
	db := txOpen(t, nil)
	txPutString(t, db, "k", "v")
	ctx := context.Background()
	// ReadOnly false is still read-only.
	err := db.ViewTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot, ReadOnly: false}, func(tx *mvcc.Txn) error {
		return tx.Put([]byte("k"), []byte("w"))
	})
	require.ErrorIs(t, err, mvcc.ErrReadOnly)
	err = db.ViewTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: true}, func(tx *mvcc.Txn) error {
		_, err := tx.GetForUpdate([]byte("k"))
		return err
	})
	require.ErrorIs(t, err, mvcc.ErrReadOnly)
	err = db.ViewTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: true}, func(tx *mvcc.Txn) error {
		v, err := tx.Get([]byte("k"))
		assert.Equal(t, "v", string(v))
		for range tx.Scan(nil, nil) {
		}
		if err != nil {
			return err
		}
		return tx.Delete([]byte("k"))
	})
	require.ErrorIs(t, err, mvcc.ErrReadOnly)
	v, err := txGetString(t, db, "k")
	require.NoError(t, err)
	assert.Equal(t, "v", v)
}

// The BeginTx context's end rolls the transaction back, as in
// database/sql, at every level and with Locking: every later call
// (Get, Put, Scan, Commit, Rollback) fails with ErrTxnDone and the
// context's error, and nothing it wrote persists; Update, UpdateTx, View
// and ViewTx whose context ends while fn runs return that error.
func TestContextEndEveryWay(t *testing.T) {
	db := txOpen(t, nil)
	txPutString(t, db, "a", "1")
	for _, o := range []mvcc.TxOptions{{}, {Isolation: mvcc.Snapshot}, {Isolation: mvcc.Serializable}, {Isolation: mvcc.Serializable, Locking: true}} {
		ctx, cancel := context.WithCancel(context.Background())
		tx, err := db.BeginTx(ctx, o)
		require.NoError(t, err)
		require.NoError(t, tx.Put([]byte("k"), []byte("v")))
		cancel()
		_, err = tx.Get([]byte("a"))
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, tx.Put([]byte("k2"), []byte("v")), context.Canceled)
		n := 0
		for range tx.Scan(nil, nil) {
			n++
		}
		assert.Zero(t, n)
		require.ErrorIs(t, tx.Err(), context.Canceled)
		err = tx.Commit()
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, err, mvcc.ErrTxnDone)
		err = tx.Rollback()
		require.ErrorIs(t, err, mvcc.ErrTxnDone)
		require.ErrorIs(t, err, context.Canceled)
		_, err = txGetString(t, db, "k")
		require.ErrorIs(t, err, mvcc.ErrNotFound)

		// Put, cancel, Commit with nothing between.
		ctx, cancel = context.WithCancel(context.Background())
		tx, err = db.BeginTx(ctx, o)
		require.NoError(t, err)
		require.NoError(t, tx.Put([]byte("k"), []byte("v")))
		cancel()
		require.ErrorIs(t, tx.Commit(), context.Canceled)
		_, err = txGetString(t, db, "k")
		require.ErrorIs(t, err, mvcc.ErrNotFound)

		// Put, cancel, Rollback.
		ctx, cancel = context.WithCancel(context.Background())
		tx, err = db.BeginTx(ctx, o)
		require.NoError(t, err)
		require.NoError(t, tx.Put([]byte("k"), []byte("v")))
		cancel()
		err = tx.Rollback()
		require.ErrorIs(t, err, mvcc.ErrTxnDone)
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, tx.Commit(), mvcc.ErrTxnDone)

		// A holder of a lock, told by the context's own callback: the
		// same answer whichever goroutine ends it first.
		ctx, cancel = context.WithCancel(context.Background())
		tx, err = db.BeginTx(ctx, o)
		require.NoError(t, err)
		_, err = tx.GetForUpdate([]byte("a"))
		require.NoError(t, err)
		cancel()
		err = tx.Rollback()
		require.ErrorIs(t, err, mvcc.ErrTxnDone)
		require.ErrorIs(t, err, context.Canceled)
	}
	st := db.Stats()
	assert.Zero(t, st.ActiveTxns)
	assert.Zero(t, st.LocksHeld)
	for _, o := range []mvcc.TxOptions{{}, {Isolation: mvcc.Serializable, Locking: true}, {Isolation: mvcc.Serializable}} {
		ctx, cancel := context.WithCancel(context.Background())
		err := db.UpdateTx(ctx, o, func(tx *mvcc.Txn) error {
			require.NoError(t, tx.Put([]byte("m"), []byte("v")))
			cancel()
			return nil
		})
		require.ErrorIs(t, err, context.Canceled)
		_, err = txGetString(t, db, "m")
		require.ErrorIs(t, err, mvcc.ErrNotFound)
	}
	ctx, cancel := context.WithCancel(context.Background())
	err := db.Update(ctx, mvcc.Serializable, func(tx *mvcc.Txn) error {
		require.NoError(t, tx.Put([]byte("m"), []byte("v")))
		cancel()
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	_, err = txGetString(t, db, "m")
	require.ErrorIs(t, err, mvcc.ErrNotFound)
	// An already-cancelled ctx: fn never runs.
	ran := false
	err = db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error { ran = true; return nil })
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, ran)
	err = db.View(ctx, func(tx *mvcc.Txn) error { ran = true; return nil })
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, ran)
	// View whose ctx ends mid-fn.
	ctx, cancel = context.WithCancel(context.Background())
	err = db.View(ctx, func(tx *mvcc.Txn) error { cancel(); return nil })
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, mvcc.ErrTxnDone)
	ctx, cancel = context.WithCancel(context.Background())
	err = db.ViewTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot}, func(tx *mvcc.Txn) error { cancel(); return nil })
	require.ErrorIs(t, err, context.Canceled)
}

// Open's and Update's errors read as a user needs them: a negative
// LockTimeout does not claim a wait of "-1ns", a missing parent directory
// is named (not a temporary file), a permission error names the path
// once, and Update's error on a deadline is one line.
func TestErrorMessagesReadOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.db")
	db, err := mvcc.Open(path, &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	defer db.Close()
	_, err = mvcc.Open(path, &mvcc.Options{LockTimeout: -1})
	require.ErrorIs(t, err, mvcc.ErrLocked)
	assert.NotContains(t, err.Error(), "-1ns")
	assert.Equal(t, 1, strings.Count(err.Error(), path), err.Error())

	missing := filepath.Join(dir, "nope", "sub", "y.db")
	_, err = mvcc.Open(missing, nil)
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), filepath.Join(dir, "nope", "sub")+":", "the directory that is missing")
	assert.NotContains(t, err.Error(), ".tmp")
	_, err = os.Stat(filepath.Join(dir, "nope"))
	require.ErrorIs(t, err, os.ErrNotExist, "Open creates no directory")

	if os.Geteuid() != 0 { // root opens any file: no permission error to see
		ro := filepath.Join(dir, "ro")
		require.NoError(t, os.Mkdir(ro, 0o500))
		_, err = mvcc.Open(filepath.Join(ro, "z.db"), nil)
		require.ErrorIs(t, err, os.ErrPermission)
		assert.Equal(t, 1, strings.Count(err.Error(), filepath.Join(ro, "z.db")), err.Error())
		f := filepath.Join(dir, "f.db")
		require.NoError(t, os.WriteFile(f, nil, 0o000))
		_, err = mvcc.Open(f, nil)
		require.ErrorIs(t, err, os.ErrPermission)
		assert.Equal(t, 1, strings.Count(err.Error(), f), err.Error())
	}

	// Update gives up on its deadline while retrying: one line, matching
	// both the deadline and the last conflict.
	db2, err := mvcc.Open(filepath.Join(dir, "retry.db"), &mvcc.Options{NoSync: true, MaxUpdateRetries: 1 << 30})
	require.NoError(t, err)
	defer db2.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	attempts := 0
	err = db2.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
		if attempts++; attempts == 3 {
			cancel()
		}
		return fmt.Errorf("attempt %d: %w", attempts, mvcc.ErrConflict)
	})
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, mvcc.ErrConflict)
	assert.Equal(t, 3, attempts)
	assert.NotContains(t, err.Error(), "\n")
	assert.Contains(t, err.Error(), "attempt 3")
}

// A nil function or writer is refused with ErrNilArgument, never a panic.
func TestNilArgumentsAreRefused(t *testing.T) {
	db := txOpen(t, nil)
	txPutString(t, db, "k", "v")
	ctx := context.Background()
	require.ErrorIs(t, db.Update(ctx, mvcc.Snapshot, nil), mvcc.ErrNilArgument)
	require.ErrorIs(t, db.UpdateTx(ctx, mvcc.TxOptions{}, nil), mvcc.ErrNilArgument)
	require.ErrorIs(t, db.View(ctx, nil), mvcc.ErrNilArgument)
	require.ErrorIs(t, db.ViewTx(ctx, mvcc.TxOptions{}, nil), mvcc.ErrNilArgument)
	_, err := db.Backup(ctx, nil)
	require.ErrorIs(t, err, mvcc.ErrNilArgument)
	tx, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	require.ErrorIs(t, tx.ScanFunc(nil, nil, nil), mvcc.ErrNilArgument)
	require.ErrorIs(t, tx.ScanReverseFunc(nil, nil, nil), mvcc.ErrNilArgument)
	require.NoError(t, tx.Rollback())
}

// ParseLevel takes every name its documentation lists; the zero Level
// and the zero TxOptions are ReadCommitted.
func TestParseLevelEveryName(t *testing.T) {
	for _, s := range []string{"read-committed", "snapshot", "serializable", "repeatable-read", "rc", "si", "ssi", "rr", "Read-Committed", "SERIALIZABLE", "read committed", "read_committed"} {
		_, err := mvcc.ParseLevel(s)
		require.NoError(t, err, s)
	}
	for _, l := range []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable} {
		got, err := mvcc.ParseLevel(l.String())
		require.NoError(t, err)
		assert.Equal(t, l, got)
	}
	_, err := mvcc.ParseLevel("")
	require.ErrorIs(t, err, mvcc.ErrInvalidLevel)
	assert.Equal(t, mvcc.ReadCommitted, mvcc.Level(0))
	assert.Equal(t, mvcc.ReadCommitted, mvcc.TxOptions{}.Isolation)
}
