package mvcc_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

func getString(t *testing.T, db *mvcc.DB, key string) (string, error) {
	t.Helper()
	var v []byte
	err := db.View(context.Background(), func(tx *mvcc.Txn) error {
		var err error
		v, err = tx.Get([]byte(key))
		return err
	})
	return string(v), err
}

// UpdateTx runs a locking transaction with Update's retries: two of them
// are scripted into a deadlock (each holds a shared lock the other's
// write needs), the victim runs again, and both commit.
func TestUpdateTxLockingRetriesDeadlockVictim(t *testing.T) {
	db := openTestDB(t)
	put(t, db, "a", "0", "b", "0")
	locking := mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: true}
	var attempts atomic.Int32
	var bothRead sync.WaitGroup
	bothRead.Add(2)
	txn := func(read, write string) func(*mvcc.Txn) error {
		first := true
		return func(tx *mvcc.Txn) error {
			attempts.Add(1)
			assert.Equal(t, mvcc.Serializable, tx.Level())
			if _, err := tx.Get([]byte(read)); err != nil {
				return err
			}
			if first {
				first = false
				bothRead.Done()
				bothRead.Wait() // both shared locks are held: the writes below form a cycle
			}
			return tx.Put([]byte(write), []byte("by "+read))
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, rw := range [][2]string{{"a", "b"}, {"b", "a"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.UpdateTx(context.Background(), locking, txn(rw[0], rw[1]))
		}()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	assert.Equal(t, int32(3), attempts.Load(), "one deadlock victim, run once more")
	a, err := getString(t, db, "a")
	require.NoError(t, err)
	b, err := getString(t, db, "b")
	require.NoError(t, err)
	// Serial: whichever committed second read the other's write.
	assert.True(t, a == "by b" || b == "by a", "a=%q b=%q", a, b)
}

// UpdateTx at Serializable retries a serialization failure: the first
// attempt's read is overwritten by a commit before it commits.
func TestUpdateTxRetriesConflict(t *testing.T) {
	db := openTestDB(t)
	put(t, db, "n", "1")
	attempts := 0
	err := db.UpdateTx(context.Background(), mvcc.TxOptions{Isolation: mvcc.Serializable}, func(tx *mvcc.Txn) error {
		attempts++
		v, err := tx.Get([]byte("n"))
		if err != nil {
			return err
		}
		if attempts == 1 {
			put(t, db, "n", "5") // a concurrent write of what was read
		}
		return tx.Put([]byte("n"), append(v, '0'))
	})
	require.NoError(t, err)
	assert.Equal(t, 2, attempts)
	v, err := getString(t, db, "n")
	require.NoError(t, err)
	assert.Equal(t, "50", v, "the retry read the concurrent write")
}

// ViewTx is read-only at the level asked for, and retries what fn reports
// as a conflict, as Update does.
func TestViewTx(t *testing.T) {
	db := openTestDB(t)
	put(t, db, "k", "v")
	ctx := context.Background()
	for _, level := range []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable} {
		err := db.ViewTx(ctx, mvcc.TxOptions{Isolation: level}, func(tx *mvcc.Txn) error {
			assert.Equal(t, level, tx.Level())
			v, err := tx.Get([]byte("k"))
			require.NoError(t, err)
			assert.Equal(t, "v", string(v))
			require.ErrorIs(t, tx.Put([]byte("k"), []byte("w")), mvcc.ErrReadOnly)
			require.ErrorIs(t, tx.Commit(), mvcc.ErrManagedTxn)
			return nil
		})
		require.NoError(t, err, level)
	}
	attempts := 0
	err := db.ViewTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable}, func(*mvcc.Txn) error {
		if attempts++; attempts == 1 {
			return fmt.Errorf("first attempt: %w", mvcc.ErrConflict)
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 2, attempts)

	boom := errors.New("boom")
	require.ErrorIs(t, db.ViewTx(ctx, mvcc.TxOptions{}, func(*mvcc.Txn) error { return boom }), boom)
	require.ErrorIs(t, db.ViewTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot, Locking: true},
		func(*mvcc.Txn) error { return nil }), mvcc.ErrInvalidLevel)
}

// A cancelled BeginTx context rolls the transaction back, as in
// database/sql: Commit fails and the write never lands.
func TestCancelledContextRollsBack(t *testing.T) {
	db := openTestDB(t)
	for _, level := range []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable} {
		ctx, cancel := context.WithCancel(context.Background())
		tx, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: level})
		require.NoError(t, err)
		require.NoError(t, tx.Put([]byte("k"), []byte(level.String())))
		cancel()
		err = tx.Commit()
		require.ErrorIs(t, err, context.Canceled, level)
		require.ErrorIs(t, err, mvcc.ErrTxnDone, level)
		_, err = tx.Get([]byte("k"))
		require.ErrorIs(t, err, context.Canceled, "later calls keep saying why")
		require.ErrorIs(t, tx.Rollback(), mvcc.ErrTxnDone)
		_, err = getString(t, db, "k")
		require.ErrorIs(t, err, mvcc.ErrNotFound, level)
	}

	// A deadline that passes ends it the same way.
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Hour))
	defer cancel()
	tx, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot})
	require.NoError(t, err)
	require.NoError(t, tx.Put([]byte("d"), []byte("v")))
	cancel()
	require.ErrorIs(t, tx.Commit(), context.Canceled)

	// Commits before the end stand.
	ctx, cancel = context.WithCancel(context.Background())
	tx, err = db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot})
	require.NoError(t, err)
	require.NoError(t, tx.Put([]byte("kept"), []byte("v")))
	require.NoError(t, tx.Commit())
	cancel()
	v, err := getString(t, db, "kept")
	require.NoError(t, err)
	assert.Equal(t, "v", v)
	assert.Zero(t, db.Stats().ActiveTxns)
}

// The context's end releases the transaction's locks at once, without a
// further call on it.
func TestCancelledContextReleasesLocks(t *testing.T) {
	db := openTestDB(t)
	put(t, db, "k", "v")
	ctx, cancel := context.WithCancel(context.Background())
	holder, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot})
	require.NoError(t, err)
	_, err = holder.GetForUpdate([]byte("k"))
	require.NoError(t, err)

	// The waiter's own bound only turns a bug (a lock never released)
	// into a failure instead of a hang.
	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
	defer wcancel()
	waiter, err := db.BeginTx(wctx, mvcc.TxOptions{Isolation: mvcc.Snapshot})
	require.NoError(t, err)
	defer waiter.Rollback()
	got := make(chan error, 1)
	go func() {
		_, err := waiter.GetForUpdate([]byte("k"))
		got <- err
	}()
	cancel()
	require.NoError(t, <-got)
	require.ErrorIs(t, holder.Commit(), context.Canceled)
}

// Update's function sees its context end: the attempt is rolled back and
// Update returns the context's error, with nothing written.
func TestUpdateTxContextEndsInsideFn(t *testing.T) {
	db := openTestDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	err := db.UpdateTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot}, func(tx *mvcc.Txn) error {
		if err := tx.Put([]byte("k"), []byte("v")); err != nil {
			return err
		}
		cancel()
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	_, err = getString(t, db, "k")
	require.ErrorIs(t, err, mvcc.ErrNotFound)
}

// When ctx ends between retries, Update returns the last conflict and the
// context's error, in one line.
func TestUpdateGivesUpOnContextInOneLine(t *testing.T) {
	db := openTestDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	err := db.Update(ctx, mvcc.Snapshot, func(*mvcc.Txn) error {
		cancel()
		return fmt.Errorf("scripted: %w", mvcc.ErrConflict)
	})
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, mvcc.ErrConflict)
	assert.NotContains(t, err.Error(), "\n")
	assert.Contains(t, err.Error(), "scripted")
}

// The zero TxOptions and Level are ReadCommitted: said, and so.
func TestZeroLevelIsReadCommitted(t *testing.T) {
	db := openTestDB(t)
	require.NoError(t, db.Update(context.Background(), 0, func(tx *mvcc.Txn) error {
		assert.Equal(t, mvcc.ReadCommitted, tx.Level())
		return nil
	}))
	tx, err := db.BeginTx(context.Background(), mvcc.TxOptions{})
	require.NoError(t, err)
	assert.Equal(t, mvcc.ReadCommitted, tx.Level())
	require.NoError(t, tx.Rollback())
}

func TestParseLevelNames(t *testing.T) {
	for name, want := range map[string]mvcc.Level{
		"read-committed": mvcc.ReadCommitted, "READ COMMITTED": mvcc.ReadCommitted, "read_committed": mvcc.ReadCommitted, "rc": mvcc.ReadCommitted,
		"snapshot": mvcc.Snapshot, "repeatable-read": mvcc.Snapshot, "si": mvcc.Snapshot, "RR": mvcc.Snapshot,
		"serializable": mvcc.Serializable, "SSI": mvcc.Serializable, " Serializable ": mvcc.Serializable,
	} {
		got, err := mvcc.ParseLevel(name)
		require.NoError(t, err, name)
		assert.Equal(t, want, got, name)
	}
	_, err := mvcc.ParseLevel("strict")
	require.ErrorIs(t, err, mvcc.ErrInvalidLevel)
	assert.Contains(t, err.Error(), "read-committed, snapshot or serializable")
}
