package mvcc_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// TestMaxSnapshotAge: a snapshot past the limit fails its next call with
// ErrSnapshotTooOld, and a forgotten one stops holding the horizon.
func TestMaxSnapshotAge(t *testing.T) {
	const maxAge = 30 * time.Millisecond
	db, err := mvcc.Open(filepath.Join(t.TempDir(), "a.db"), &mvcc.Options{NoSync: true, MaxSnapshotAge: maxAge})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	checkAtEnd(t, db)
	ctx := context.Background()
	// The test's own writes may take longer than the limit on a loaded
	// machine: they retry what the limit ends.
	put := func(t *testing.T, db *mvcc.DB, k, v string) {
		t.Helper()
		for {
			err := db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error { return tx.Put([]byte(k), []byte(v)) })
			if !errors.Is(err, mvcc.ErrSnapshotTooOld) {
				require.NoError(t, err)
				return
			}
		}
	}
	put(t, db, "k", "v1")

	for _, level := range []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable} {
		tx, err := db.Begin(level)
		require.NoError(t, err)
		time.Sleep(2 * maxAge) // past the limit, however slow the machine
		_, err = tx.Get([]byte("k"))
		assert.ErrorIs(t, err, mvcc.ErrSnapshotTooOld, level)
		assert.ErrorIs(t, err, mvcc.ErrTxnDone, level)
		assert.ErrorIs(t, tx.Put([]byte("k"), []byte("x")), mvcc.ErrSnapshotTooOld, level)
		assert.ErrorIs(t, tx.Commit(), mvcc.ErrSnapshotTooOld, level)
		require.ErrorIs(t, tx.Rollback(), mvcc.ErrTxnDone)
	}

	// A forgotten snapshot: the reaper ends it, vacuum goes past it.
	forgotten, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot, ReadOnly: true})
	require.NoError(t, err)
	for i := range 10 {
		put(t, db, "k", string(rune('a'+i)))
	}
	require.Eventually(t, func() bool { return db.Stats().ActiveTxns == 0 }, 10*time.Second, maxAge)
	_, err = db.Vacuum(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(0), db.Stats().DeadVersions, "nothing is held for the ended snapshot")
	_, err = forgotten.Get([]byte("k"))
	assert.ErrorIs(t, err, mvcc.ErrSnapshotTooOld)
}

// The oldest snapshot's age in Stats is that of the snapshot a
// transaction reads at: a read committed transaction takes a new one per
// statement, so its age counts from its last statement, not its Begin; a
// snapshot transaction's counts from its Begin.
func TestStatsOldestSnapshotAgeReadCommitted(t *testing.T) {
	db, err := mvcc.Open(filepath.Join(t.TempDir(), "a.db"), &mvcc.Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	put := func(v string) {
		require.NoError(t, db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
			return tx.Put([]byte("k"), []byte(v))
		}))
	}
	put("v1")
	for _, level := range []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot} {
		t.Run(level.String(), func(t *testing.T) {
			tx, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: level, ReadOnly: true})
			require.NoError(t, err)
			defer tx.Rollback()
			begun := time.Now() // the snapshot was taken before this
			time.Sleep(50 * time.Millisecond)
			put("v2") // a newer snapshot to move to
			read := time.Now()
			_, err = tx.Get([]byte("k"))
			require.NoError(t, err)
			age := db.Stats().OldestSnapshotAge
			measured := time.Now()
			if level == mvcc.ReadCommitted {
				// Taken after read and measured before measured, so at
				// most measured-read; Begin's age would exceed that by
				// the 50 ms slept (a stall of the machine only widens
				// the bound, it cannot fail it).
				assert.LessOrEqual(t, age, measured.Sub(read), "the statement's snapshot, not Begin's")
			} else {
				// Taken before begun and measured after read.
				assert.GreaterOrEqual(t, age, read.Sub(begun), "the snapshot taken at Begin")
			}
		})
	}
}
