package mvcc_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// A transaction its caller abandons when its context ends (`defer
// cancel()` and no Rollback, as database/sql allows) is rolled back
// without another call: its snapshot stops holding the vacuum horizon, so
// the versions only it could see go, and its next call reports the end.
func TestAbandonedContextReleasesSnapshot(t *testing.T) {
	for _, opts := range []mvcc.TxOptions{
		{Isolation: mvcc.ReadCommitted},
		{Isolation: mvcc.Snapshot},
		{Isolation: mvcc.Snapshot, ReadOnly: true},
		{Isolation: mvcc.Serializable},
		{Isolation: mvcc.Serializable, ReadOnly: true},
		{Isolation: mvcc.Serializable, Locking: true},
	} {
		name := opts.Isolation.String()
		if opts.ReadOnly {
			name += "/read-only"
		}
		if opts.Locking {
			name += "/locking"
		}
		t.Run(name, func(t *testing.T) {
			db, err := mvcc.Open(filepath.Join(t.TempDir(), "ctx.db"), &mvcc.Options{NoSync: true, NoAutovacuum: true})
			require.NoError(t, err)
			defer db.Close()
			bg := context.Background()
			put := func(v string) {
				require.NoError(t, db.Update(bg, mvcc.Snapshot, func(tx *mvcc.Txn) error {
					return tx.Put([]byte("k"), []byte(v))
				}))
			}
			put("v1")

			ctx, cancel := context.WithCancel(bg)
			tx, err := db.BeginTx(ctx, opts)
			require.NoError(t, err)
			v, err := tx.Get([]byte("k"))
			require.NoError(t, err)
			require.Equal(t, "v1", string(v))
			if !opts.Locking { // a locking reader's shared lock would hold the writer
				put("v2")
			}
			require.Equal(t, 1, db.Stats().ActiveTxns)

			cancel()
			require.Eventually(t, func() bool { return db.Stats().ActiveTxns == 0 }, 30*time.Second, time.Millisecond,
				"the abandoned transaction still holds its snapshot")
			assert.Zero(t, db.Stats().LocksHeld, "its locks went with it")
			if !opts.Locking {
				st, err := db.Vacuum(bg)
				require.NoError(t, err)
				assert.Positive(t, st.VersionsRemoved, "v1, which only the abandoned snapshot could see, is removed")
			}
			_, err = tx.Get([]byte("k"))
			require.ErrorIs(t, err, mvcc.ErrTxnDone)
			require.ErrorIs(t, err, context.Canceled)
			require.ErrorIs(t, tx.Commit(), context.Canceled)
			require.ErrorIs(t, tx.Rollback(), context.Canceled)
		})
	}
}

// The sweep never ends a transaction inside a Scan loop: its snapshot
// protects what the loop still reads. The loop runs to its end; the next
// call reports the context's end.
func TestContextSweepLeavesScanLoops(t *testing.T) {
	db, err := mvcc.Open(filepath.Join(t.TempDir(), "ctx.db"), &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	defer db.Close()
	bg := context.Background()
	const n = 50
	require.NoError(t, db.Update(bg, mvcc.Snapshot, func(tx *mvcc.Txn) error {
		for i := range n {
			if err := tx.Put(fmt.Appendf(nil, "k%03d", i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	}))
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	tx, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot, ReadOnly: true})
	require.NoError(t, err)
	seen := 0
	for range tx.Scan(nil, nil) {
		if seen == 0 {
			cancel()
			// Long enough for several sweeps: one that ended the
			// transaction here would stop the loop short.
			time.Sleep(5 * 100 * time.Millisecond)
		}
		seen++
	}
	assert.Equal(t, n, seen)
	require.ErrorIs(t, tx.Err(), context.Canceled)
	require.Eventually(t, func() bool { return db.Stats().ActiveTxns == 0 }, 30*time.Second, time.Millisecond)
}
