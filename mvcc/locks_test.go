package mvcc_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

type result struct {
	v   []byte
	err error
}

// goGetForUpdate runs tx.GetForUpdate(key) on its own goroutine.
func goGetForUpdate(tx *mvcc.Txn, key string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		v, err := tx.GetForUpdate([]byte(key))
		ch <- result{v, err}
	}()
	return ch
}

// requireBlocked checks that ch has not delivered: the call is waiting.
func requireBlocked(t *testing.T, ch <-chan result) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("expected the call to wait for the lock, it returned %q, %v", r.v, r.err)
	case <-time.After(50 * time.Millisecond):
	}
}

func await(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the lock wait never ended")
		return result{}
	}
}

func TestGetForUpdateWaitsAndRereads(t *testing.T) {
	cases := []struct {
		level   mvcc.Level
		holder  func(tx *mvcc.Txn) error // how the holder ends
		wantV   string
		wantErr error
	}{
		{mvcc.ReadCommitted, func(tx *mvcc.Txn) error { return tx.Commit() }, "101", nil},
		{mvcc.ReadCommitted, func(tx *mvcc.Txn) error { return tx.Rollback() }, "100", nil},
		{mvcc.Snapshot, func(tx *mvcc.Txn) error { return tx.Commit() }, "", mvcc.ErrConflict},
		{mvcc.Snapshot, func(tx *mvcc.Txn) error { return tx.Rollback() }, "100", nil},
		{mvcc.Serializable, func(tx *mvcc.Txn) error { return tx.Commit() }, "", mvcc.ErrConflict},
		{mvcc.Serializable, func(tx *mvcc.Txn) error { return tx.Rollback() }, "100", nil},
	}
	for _, c := range cases {
		name := c.level.String() + "/commit"
		if c.wantV == "100" {
			name = c.level.String() + "/rollback"
		}
		t.Run(name, func(t *testing.T) {
			db := openTestDB(t)
			put(t, db, "balance", "100")
			t1, t2 := begin(t, db, c.level), begin(t, db, c.level)
			v, err := t1.GetForUpdate([]byte("balance"))
			require.NoError(t, err)
			require.Equal(t, "100", string(v))
			require.NoError(t, t1.Put([]byte("balance"), []byte("101")))
			ch := goGetForUpdate(t2, "balance")
			requireBlocked(t, ch)
			require.NoError(t, c.holder(t1))
			r := await(t, ch)
			if c.wantErr != nil {
				require.ErrorIs(t, r.err, c.wantErr)
				require.ErrorIs(t, t2.Put([]byte("x"), []byte("y")), mvcc.ErrTxnDone)
				return
			}
			require.NoError(t, r.err)
			require.Equal(t, c.wantV, string(r.v))
			require.NoError(t, t2.Commit())
		})
	}
}

// Lost update fixed at read committed: increments through GetForUpdate
// never lose one.
func TestGetForUpdateNoLostUpdates(t *testing.T) {
	db := openTestDB(t)
	put(t, db, "n", "0")
	const workers, each = 4, 50
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			for i := 0; i < each; i++ {
				err := db.Update(context.Background(), mvcc.ReadCommitted, func(tx *mvcc.Txn) error {
					v, err := tx.GetForUpdate([]byte("n"))
					if err != nil {
						return err
					}
					return tx.Put([]byte("n"), []byte(strconv.Itoa(atoi(string(v))+1)))
				})
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < workers; w++ {
		require.NoError(t, <-errs)
	}
	tx := begin(t, db, mvcc.Snapshot)
	require.Equal(t, workers*each, getInt(t, tx, "n"))
}

func TestDeadlockDetected(t *testing.T) {
	for _, level := range []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable} {
		t.Run(level.String(), func(t *testing.T) {
			db := openTestDB(t)
			put(t, db, "a", "1", "b", "1")
			t1, t2 := begin(t, db, level), begin(t, db, level)
			_, err := t1.GetForUpdate([]byte("a"))
			require.NoError(t, err)
			_, err = t2.GetForUpdate([]byte("b"))
			require.NoError(t, err)
			ch := goGetForUpdate(t1, "b") // t1 waits for t2
			requireBlocked(t, ch)
			_, err = t2.GetForUpdate([]byte("a")) // closes the cycle: fails at once
			require.ErrorIs(t, err, mvcc.ErrDeadlock)
			require.ErrorIs(t, err, mvcc.ErrConflict)
			// The victim ended and released b: t1 gets it.
			r := await(t, ch)
			require.NoError(t, r.err)
			require.NoError(t, t1.Commit())
		})
	}
}

func TestDeadlockThreeWay(t *testing.T) {
	db := openTestDB(t)
	keys := []string{"a", "b", "c"}
	txs := make([]*mvcc.Txn, 3)
	for i := range txs {
		txs[i] = begin(t, db, mvcc.ReadCommitted)
		_, err := txs[i].GetForUpdate([]byte(keys[i]))
		require.ErrorIs(t, err, mvcc.ErrNotFound)
	}
	ch0 := goGetForUpdate(txs[0], "b")
	requireBlocked(t, ch0)
	ch1 := goGetForUpdate(txs[1], "c")
	requireBlocked(t, ch1)
	_, err := txs[2].GetForUpdate([]byte("a"))
	require.ErrorIs(t, err, mvcc.ErrDeadlock)
	require.ErrorIs(t, await(t, ch1).err, mvcc.ErrNotFound) // txs[1] got c
	require.NoError(t, txs[1].Commit())
	require.ErrorIs(t, await(t, ch0).err, mvcc.ErrNotFound)
	require.NoError(t, txs[0].Commit())
}

func TestLockWaitEndsWithContext(t *testing.T) {
	db := openTestDB(t)
	t1 := begin(t, db, mvcc.ReadCommitted)
	_, _ = t1.GetForUpdate([]byte("k"))
	ctx, cancel := context.WithCancel(context.Background())
	t2, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.ReadCommitted})
	require.NoError(t, err)
	ch := goGetForUpdate(t2, "k")
	requireBlocked(t, ch)
	cancel()
	r := await(t, ch)
	require.ErrorIs(t, r.err, context.Canceled)
	require.ErrorIs(t, t2.Commit(), mvcc.ErrTxnDone)
	require.NoError(t, t1.Commit())
	require.Zero(t, db.Stats().LocksHeld)
}

func TestLockWaitEndsWithClose(t *testing.T) {
	db := openTestDB(t)
	t1 := begin(t, db, mvcc.ReadCommitted)
	_, _ = t1.GetForUpdate([]byte("k"))
	t2 := begin(t, db, mvcc.ReadCommitted)
	ch := goGetForUpdate(t2, "k")
	requireBlocked(t, ch)
	require.NoError(t, db.Close())
	require.ErrorIs(t, await(t, ch).err, mvcc.ErrClosed)
}

func TestGetForUpdateRules(t *testing.T) {
	db := openTestDB(t)
	put(t, db, "k", "v")
	ro, err := db.BeginTx(context.Background(), mvcc.TxOptions{Isolation: mvcc.Snapshot, ReadOnly: true})
	require.NoError(t, err)
	_, err = ro.GetForUpdate([]byte("k"))
	require.ErrorIs(t, err, mvcc.ErrReadOnly)

	tx := begin(t, db, mvcc.Snapshot)
	_, err = tx.GetForUpdate(nil)
	require.ErrorIs(t, err, mvcc.ErrEmptyKey)
	v, err := tx.GetForUpdate([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
	v, err = tx.GetForUpdate([]byte("k")) // re-entrant
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
	require.NoError(t, tx.Put([]byte("k"), []byte("w")))
	v, err = tx.GetForUpdate([]byte("k")) // sees its own write
	require.NoError(t, err)
	require.Equal(t, "w", string(v))
	require.Equal(t, 1, db.Stats().LocksHeld)
	require.NoError(t, tx.Commit())
	require.Zero(t, db.Stats().LocksHeld)
	_, err = tx.GetForUpdate([]byte("k"))
	require.ErrorIs(t, err, mvcc.ErrTxnDone)
}
