package mvcc_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// fingerprint is everything a restart must reproduce exactly.
type fingerprint struct {
	Versions, Keys int64
	LastCommitTS   uint64
	Content        []string
	Gets           map[string]string
}

func takeFingerprint(t *testing.T, db *mvcc.DB, touched map[string]bool) fingerprint {
	t.Helper()
	st := db.Stats()
	fp := fingerprint{Versions: st.Versions, Keys: st.Keys, LastCommitTS: st.LastCommitTS, Gets: map[string]string{}}
	require.NoError(t, db.View(context.Background(), func(tx *mvcc.Txn) error {
		fp.Content = scanAll(tx, nil, nil)
		for k := range touched {
			fp.Gets[k] = getStr(t, tx, k)
		}
		return nil
	}))
	return fp
}

func TestRestartRebuildsExactly(t *testing.T) {
	// Durable, like production; no autovacuum, so that the history kept is
	// the history written.
	db, path := ctOpen(t, &mvcc.Options{NoAutovacuum: true})
	rng := rand.New(rand.NewPCG(7, 7))
	touched := map[string]bool{}
	ctx := context.Background()
	// A history with overwrites, deletes (tombstones), re-puts after a
	// delete, empty values, binary keys, multi-key transactions, and more
	// versions than recovery reads in one chunk.
	keys := []string{"\x00", "\xff\xfe", "a", "a\x00b", "empty"}
	for i := 0; i < 300; i++ {
		keys = append(keys, fmt.Sprintf("key/%03d", i))
	}
	for round := 0; round < 60; round++ {
		require.NoError(t, db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
			for i := 0; i < 120; i++ {
				k := keys[rng.IntN(len(keys))]
				touched[k] = true
				var err error
				switch {
				case k == "empty":
					err = tx.Put([]byte(k), nil)
				case rng.IntN(4) == 0:
					err = tx.Delete([]byte(k))
				default:
					err = tx.Put([]byte(k), bytes.Repeat([]byte{byte(round)}, rng.IntN(300)))
				}
				if err != nil {
					return err
				}
			}
			return nil
		}))
	}
	ctDelete(t, db, "a")
	ctPut(t, db, "a", "back")
	// Failed and abandoned transactions leave nothing behind.
	rb, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	require.NoError(t, rb.Put([]byte("rolled-back"), []byte("x")))
	require.NoError(t, rb.Rollback())
	loser, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	require.NoError(t, loser.Put([]byte("loser"), []byte("x")))
	require.NoError(t, loser.Put([]byte("a"), []byte("loser")))
	ctPut(t, db, "a", "winner")
	require.ErrorIs(t, loser.Commit(), mvcc.ErrConflict)
	open, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	require.NoError(t, open.Put([]byte("never-committed"), []byte("x")))
	for _, k := range []string{"a", "rolled-back", "loser", "never-committed"} {
		touched[k] = true
	}

	before := takeFingerprint(t, db, touched)
	require.Greater(t, before.Versions, int64(4096), "the history has many versions")
	require.Greater(t, before.Versions, before.Keys, "the history has overwrites")
	require.Contains(t, before.Content, "empty=")
	require.NoError(t, db.Close())

	// No snapshot survives a restart, so the versions only snapshots
	// could read (the dead ones) do not either: after a reopen each live
	// key has one version, in the file.
	want := before
	want.Versions = before.Keys
	for i := 0; i < 2; i++ {
		db2, err := mvcc.Open(path, nil)
		require.NoError(t, err)
		after := takeFingerprint(t, db2, touched)
		assert.Equal(t, want, after, "reopen %d", i+1)
		require.NoError(t, db2.Close())
	}

	// Commits go on from the recovered timestamp, and first-committer-wins
	// still sees the recovered versions, tombstones included.
	db3, err := mvcc.Open(path, nil)
	require.NoError(t, err)
	defer db3.Close()
	tx, err := db3.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	assert.Equal(t, before.LastCommitTS, tx.ReadTS())
	ctPut(t, db3, "new", "1")
	assert.Equal(t, before.LastCommitTS+1, db3.Stats().LastCommitTS)
	err = tx.Put([]byte("new"), []byte("2"))
	if err == nil {
		err = tx.Commit()
	}
	assert.ErrorIs(t, err, mvcc.ErrConflict)
}

func TestRestartKeepsDeletes(t *testing.T) {
	// The simplest tombstone case on its own: a key put then deleted must
	// stay deleted after a restart, not come back with its old value.
	db, path := ctOpen(t, nil)
	ctPut(t, db, "k", "v", "j", "v")
	ctDelete(t, db, "k")
	require.NoError(t, db.Close())
	db2, err := mvcc.Open(path, nil)
	require.NoError(t, err)
	defer db2.Close()
	assert.Equal(t, []string{"j=v"}, dump(t, db2))
	assert.Equal(t, int64(1), db2.Stats().Versions, "after a restart only the live key's version is held")
}

func TestSizeLimitsSurviveRestart(t *testing.T) {
	db, path := ctOpen(t, nil)
	maxKey := bytes.Repeat([]byte("k"), mvcc.MaxKeySize)
	big := bytes.Repeat([]byte("v"), 1<<20)
	require.NoError(t, db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
		if err := tx.Put(maxKey, []byte("max key")); err != nil {
			return err
		}
		if err := tx.Put([]byte("big"), big); err != nil {
			return err
		}
		if err := tx.Put([]byte{0}, nil); err != nil {
			return err
		}
		// The largest value is accepted.
		return tx.Put([]byte("max value"), make([]byte, mvcc.MaxValueSize))
	}))
	require.NoError(t, db.Close())
	db2, err := mvcc.Open(path, nil)
	require.NoError(t, err)
	defer db2.Close()
	require.NoError(t, db2.View(context.Background(), func(tx *mvcc.Txn) error {
		v, err := tx.Get(maxKey)
		require.NoError(t, err)
		assert.Equal(t, "max key", string(v))
		v, err = tx.Get([]byte("big"))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(big, v))
		v, err = tx.Get([]byte{0})
		require.NoError(t, err, "an empty value is a value, not a delete")
		assert.Empty(t, v)
		v, err = tx.Get([]byte("max value"))
		require.NoError(t, err)
		assert.Len(t, v, mvcc.MaxValueSize)
		return nil
	}))
}
