package mvcc_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// Inside Update and View, Commit and Rollback fail with ErrManagedTxn and
// change nothing; Update commits what fn wrote and reports success.
func TestManagedTxnCommitRollbackRefused(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	before := db.Stats()
	err := db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
		require.NoError(t, tx.Put([]byte("k"), []byte("v")))
		requireManaged(t, tx)
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, db.View(ctx, func(tx *mvcc.Txn) error {
		requireManaged(t, tx)
		return nil
	}))
	after := db.Stats()
	require.Equal(t, before.Commits+1, after.Commits, "one commit: Update's; the refused Commit calls count none")

	// fn returning the refusal rolls back: nothing written.
	err = db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
		require.NoError(t, tx.Put([]byte("k2"), []byte("v")))
		return tx.Commit()
	})
	require.ErrorIs(t, err, mvcc.ErrManagedTxn)
	require.NoError(t, db.View(ctx, func(tx *mvcc.Txn) error {
		_, err := tx.Get([]byte("k2"))
		require.ErrorIs(t, err, mvcc.ErrNotFound)
		return nil
	}))
}

// requireManaged checks that Commit and Rollback are refused and that the
// transaction is still usable afterwards: it still reads k=v.
func requireManaged(t *testing.T, tx *mvcc.Txn) {
	t.Helper()
	require.ErrorIs(t, tx.Commit(), mvcc.ErrManagedTxn)
	require.ErrorIs(t, tx.Rollback(), mvcc.ErrManagedTxn)
	v, err := tx.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
}

// The size errors say the size and the limit; conflicts are typed errors
// that name the key.
func TestErrorDetails(t *testing.T) {
	db := openTestDB(t)
	tx, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	defer tx.Rollback()
	err = tx.Put(make([]byte, mvcc.MaxKeySize+1), nil)
	require.ErrorIs(t, err, mvcc.ErrKeyTooLarge)
	require.Contains(t, err.Error(), "32769 bytes, the limit is 32768")
	err = tx.Put([]byte("k"), make([]byte, mvcc.MaxValueSize+1))
	require.ErrorIs(t, err, mvcc.ErrValueTooLarge)
	require.Contains(t, err.Error(), "67108865 bytes, the limit is 67108864")

	require.NoError(t, db.Update(context.Background(), mvcc.Snapshot, func(tx2 *mvcc.Txn) error {
		return tx2.Put([]byte("k"), []byte("other"))
	}))
	err = tx.Put([]byte("k"), []byte("mine"))
	require.ErrorIs(t, err, mvcc.ErrConflict)
	var ce *mvcc.ConflictError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, mvcc.WriteConflict, ce.Kind)
	require.Equal(t, "k", string(ce.Key))
	require.NotZero(t, ce.TS)
	require.NotErrorIs(t, err, mvcc.ErrDeadlock)
}
