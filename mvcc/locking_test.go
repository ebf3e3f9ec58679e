package mvcc_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

func beginLocking(t *testing.T, db *mvcc.DB) *mvcc.Txn {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: true})
	require.NoError(t, err)
	return tx
}

func TestLockingNeedsSerializable(t *testing.T) {
	db, _ := ctOpen(t, nil)
	for _, level := range []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot} {
		_, err := db.BeginTx(context.Background(), mvcc.TxOptions{Isolation: level, Locking: true})
		require.ErrorIs(t, err, mvcc.ErrInvalidLevel)
	}
}

// A locking transaction reads the newest committed data under its lock,
// not a snapshot from Begin; its reads block writers until it ends.
func TestLockingReadBlocksWriter(t *testing.T) {
	db, _ := ctOpen(t, nil)
	ctPut(t, db, "k", "1")
	l := beginLocking(t, db)
	ctPut(t, db, "k", "2")
	v, err := l.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "2", string(v))

	w, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	require.NoError(t, w.Put([]byte("k"), []byte("3")))
	ch := goDo(w.Commit)
	requireBlocked(t, ch)
	require.NoError(t, l.Commit())
	require.NoError(t, await(t, ch).err)
	require.Equal(t, "3", string(ctGet(t, db, "k")))
}

// A scan locks the range it covers: an insert into it, by a plain or a
// locking transaction, waits until the scanner ends (no phantom).
func TestLockingScanBlocksInsert(t *testing.T) {
	db, _ := ctOpen(t, nil)
	ctPut(t, db, "a", "1", "c", "1")
	l := beginLocking(t, db)
	n := 0
	for range l.Scan([]byte("a"), []byte("c")) {
		n++
	}
	require.Equal(t, 1, n)

	plain, err := db.Begin(mvcc.Serializable)
	require.NoError(t, err)
	require.NoError(t, plain.Put([]byte("b"), []byte("1")))
	plainCommit := goDo(plain.Commit)
	requireBlocked(t, plainCommit) // queued first: it gets b first
	other := beginLocking(t, db)
	lockingPut := goDo(func() error { return other.Put([]byte("b"), []byte("2")) })
	requireBlocked(t, lockingPut)

	require.NoError(t, ctCommitPut(t, db, "c", "2"), "outside the range: no wait")
	require.NoError(t, l.Commit())
	require.NoError(t, await(t, plainCommit).err)
	require.NoError(t, await(t, lockingPut).err)
	require.NoError(t, other.Commit())
	require.Equal(t, "2", string(ctGet(t, db, "b")))
}

func ctCommitPut(t *testing.T, db *mvcc.DB, key, value string) error {
	t.Helper()
	return db.Update(context.Background(), mvcc.ReadCommitted, func(tx *mvcc.Txn) error {
		return tx.Put([]byte(key), []byte(value))
	})
}

// Write skew under locking: both read both keys, then each writes one;
// the second writer closes a cycle and is the deadlock victim, at once.
func TestLockingWriteSkewDeadlock(t *testing.T) {
	db, _ := ctOpen(t, nil)
	ctPut(t, db, "x", "1", "y", "1")
	t1, t2 := beginLocking(t, db), beginLocking(t, db)
	for _, tx := range []*mvcc.Txn{t1, t2} {
		for _, k := range []string{"x", "y"} {
			_, err := tx.Get([]byte(k))
			require.NoError(t, err)
		}
	}
	put1 := goDo(func() error { return t1.Put([]byte("x"), []byte("0")) })
	requireBlocked(t, put1)
	err := t2.Put([]byte("y"), []byte("0"))
	require.ErrorIs(t, err, mvcc.ErrDeadlock)
	require.ErrorIs(t, err, mvcc.ErrConflict)
	require.NoError(t, await(t, put1).err)
	require.NoError(t, t1.Commit())
	require.Equal(t, "1", string(ctGet(t, db, "y")))
	require.Zero(t, db.Stats().LocksHeld)
}
