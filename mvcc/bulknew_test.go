package mvcc_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// A transaction of 256 KiB or more committed while the log is empty
// writes the data bucket itself and leaves the keys it creates out of
// memory: the file's record, with its commit timestamp, is all there is
// of them. These tests hold that every snapshot older than such a commit
// still sees those keys absent, by every way of reading, that every
// conflict rule still meets them, and that a commit racing one reads its
// before-images again.

const bulkKeys = 300 // of bulkValue bytes: over 256 KiB in one transaction

var bulkValue = make([]byte, 1000)

func bulkKey(prefix string, i int) []byte { return fmt.Appendf(nil, "%s%03d", prefix, i) }

// bulkPut commits one transaction writing prefix000..prefix299, then the
// extra pairs.
func bulkPut(t *testing.T, db *mvcc.DB, prefix string, extra ...string) {
	t.Helper()
	require.NoError(t, db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
		for i := range bulkKeys {
			if err := tx.Put(bulkKey(prefix, i), bulkValue); err != nil {
				return err
			}
		}
		for i := 0; i+1 < len(extra); i += 2 {
			if err := tx.Put([]byte(extra[i]), []byte(extra[i+1])); err != nil {
				return err
			}
		}
		return nil
	}))
}

func scanCount(t *testing.T, tx *mvcc.Txn, start, end string) map[string]int {
	t.Helper()
	b := func(s string) []byte {
		if s == "" {
			return nil
		}
		return []byte(s)
	}
	lo, hi := b(start), b(end)
	n := map[string]int{}
	for range tx.Scan(lo, hi) {
		n["Scan"]++
	}
	for range tx.ScanReverse(lo, hi) {
		n["ScanReverse"]++
	}
	require.NoError(t, tx.Err())
	require.NoError(t, tx.ScanFunc(lo, hi, func(k, v []byte) bool { n["ScanFunc"]++; return true }))
	require.NoError(t, tx.ScanReverseFunc(lo, hi, func(k, v []byte) bool { n["ScanReverseFunc"]++; return true }))
	for range tx.ScanKeys(lo, hi) {
		n["ScanKeys"]++
	}
	require.NoError(t, tx.Err())
	return n
}

func TestBulkNewKeysStayOutOfMemory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	db, err := mvcc.Open(path, &mvcc.Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	defer func() { _ = db.Close() }()
	checkAtEnd(t, db)

	bulkPut(t, db, "k", "a", "old")
	// Nothing of the load is in memory, and it reads back whole.
	assert.Zero(t, db.Stats().MemVersions, "a bulk load's new keys are not held in memory")
	assert.EqualValues(t, bulkKeys+1, db.Stats().Keys)

	snap := begin(t, db, mvcc.Snapshot)
	ser := begin(t, db, mvcc.Serializable)
	rc := begin(t, db, mvcc.ReadCommitted)
	forUpdate := begin(t, db, mvcc.Snapshot)
	defer func() {
		for _, tx := range []*mvcc.Txn{snap, ser, rc, forUpdate} {
			_ = tx.Rollback()
		}
	}()
	bulkPut(t, db, "n", "a", "new")
	st := db.Stats()
	assert.LessOrEqual(t, st.MemVersions, int64(2), "only the overwritten key's versions are held")
	assert.EqualValues(t, 2*bulkKeys+1, st.Keys)

	// Older snapshots: the new keys are absent, by every way of reading.
	for _, tx := range []*mvcc.Txn{snap, ser} {
		_, err := tx.Get(bulkKey("n", 5))
		require.ErrorIs(t, err, mvcc.ErrNotFound)
		v, err := tx.Get([]byte("a"))
		require.NoError(t, err)
		assert.Equal(t, "old", string(v))
		for way, n := range scanCount(t, tx, "n", "o") {
			assert.Zero(t, n, "%s over the new keys", way)
		}
		for way, n := range scanCount(t, tx, "", "") {
			assert.Equal(t, bulkKeys+1, n, "%s over everything", way)
		}
	}
	// Read committed reads the newest.
	_, err = rc.Get(bulkKey("n", 5))
	require.NoError(t, err)
	for way, n := range scanCount(t, rc, "n", "o") {
		assert.Equal(t, bulkKeys, n, "%s at read committed", way)
	}

	// First committer wins: a write of a new key fails at once, as does
	// GetForUpdate.
	var ce *mvcc.ConflictError
	err = snap.Put(bulkKey("n", 7), []byte("x"))
	require.ErrorIs(t, err, mvcc.ErrConflict)
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, bulkKey("n", 7), ce.Key)
	_, err = forUpdate.GetForUpdate(bulkKey("n", 8))
	require.ErrorIs(t, err, mvcc.ErrConflict)

	// The serializable reader that saw n005 absent, and writes elsewhere,
	// commits: the load is its only concurrent transaction.
	require.NoError(t, ser.Put([]byte("z"), []byte("1")))
	require.NoError(t, ser.Commit())
	require.NoError(t, rc.Commit())

	// A new snapshot sees it all, and so does the file after a reopen.
	require.NoError(t, db.View(context.Background(), func(tx *mvcc.Txn) error {
		for way, n := range scanCount(t, tx, "", "") {
			assert.Equal(t, 2*bulkKeys+2, n, way)
		}
		return nil
	}))
	require.NoError(t, mvcc.Check(db))
	require.NoError(t, db.Close())
	db, err = mvcc.Open(path, &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	assert.EqualValues(t, 2*bulkKeys+2, db.Stats().Keys)
	require.NoError(t, mvcc.Check(db))
}

// A committer that read its before-images before a bulk load created its
// key, and queues after it: its commit must meet the load's version, as
// it meets any other, for the key count, for the snapshots between the
// two, and for first-committer-wins.
func TestCommitRacingBulkNewKeys(t *testing.T) {
	for _, level := range []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot} {
		t.Run(level.String(), func(t *testing.T) {
			db, _ := ctOpen(t, &mvcc.Options{NoSync: true, NoAutovacuum: true})
			bulkPut(t, db, "k")
			key := bulkKey("n", 50)

			var armed atomic.Bool
			reached, release := make(chan struct{}), make(chan struct{})
			mvcc.SetBeforesHook(db, func() {
				if armed.CompareAndSwap(true, false) {
					close(reached)
					<-release
				}
			})
			racer := begin(t, db, level)
			require.NoError(t, racer.Put(key, []byte("racer")))
			armed.Store(true)
			done := make(chan error, 1)
			go func() { done <- racer.Commit() }()
			<-reached
			bulkPut(t, db, "n") // creates key, committed first
			between := begin(t, db, mvcc.Snapshot)
			defer func() { _ = between.Rollback() }()
			close(release)
			err := <-done

			if level == mvcc.Snapshot {
				require.ErrorIs(t, err, mvcc.ErrConflict, "the racer's snapshot predates the load that wrote its key")
				assert.Equal(t, bulkValue, get(t, db, key))
				assert.EqualValues(t, 2*bulkKeys, db.Stats().Keys)
				return
			}
			require.NoError(t, err)
			assert.EqualValues(t, 2*bulkKeys, db.Stats().Keys, "the racer overwrote a key, it did not create one")
			v, err := between.Get(key)
			require.NoError(t, err, "a snapshot between the two commits sees the load's version")
			assert.Equal(t, bulkValue, v)
			assert.Equal(t, []byte("racer"), get(t, db, key))
		})
	}
}

// get returns key's committed value (nil when absent).
func get(t *testing.T, db *mvcc.DB, key []byte) []byte {
	t.Helper()
	var v []byte
	require.NoError(t, db.View(context.Background(), func(tx *mvcc.Txn) error {
		var err error
		v, err = tx.Get(key)
		if errors.Is(err, mvcc.ErrNotFound) {
			return nil
		}
		return err
	}))
	return v
}

// A serializable bulk load that SSI refuses at commit (write skew with
// another bulk load) leaves nothing behind: neither its new keys, which it
// did not put in memory, nor anything of the group.
func TestBulkNewKeysSerializationFailure(t *testing.T) {
	db, _ := ctOpen(t, &mvcc.Options{NoSync: true, NoAutovacuum: true})
	put := func(tx *mvcc.Txn, prefix, key string) {
		t.Helper()
		for _, k := range []string{"x", "y"} {
			_, err := tx.Get([]byte(k))
			require.ErrorIs(t, err, mvcc.ErrNotFound)
		}
		require.NoError(t, tx.Put([]byte(key), []byte("1")))
		for i := range bulkKeys {
			require.NoError(t, tx.Put(bulkKey(prefix, i), bulkValue))
		}
	}
	t1 := begin(t, db, mvcc.Serializable)
	t2 := begin(t, db, mvcc.Serializable)
	put(t1, "p", "x")
	put(t2, "q", "y")
	require.NoError(t, t1.Commit())
	err := t2.Commit()
	require.ErrorIs(t, err, mvcc.ErrConflict, "write skew: each read what the other wrote")

	require.NoError(t, db.View(context.Background(), func(tx *mvcc.Txn) error {
		n := scanCount(t, tx, "", "")
		for way, c := range n {
			assert.Equal(t, bulkKeys+1, c, "%s: t1's keys and x only", way)
		}
		_, err := tx.Get([]byte("y"))
		assert.ErrorIs(t, err, mvcc.ErrNotFound)
		return nil
	}))
	assert.EqualValues(t, bulkKeys+1, db.Stats().Keys)
	require.NoError(t, mvcc.Check(db))
}
