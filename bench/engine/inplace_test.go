package engine_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/bench/engine"
	"github.com/mvkv/mvkv/mvcc"
)

type pair struct{ k, v string }

// load opens engine name and writes n keys to it.
func load(t *testing.T, name string, n int) engine.Engine {
	t.Helper()
	e, err := engine.Open(name, t.TempDir(), engine.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	require.NoError(t, e.Txn(mvcc.Snapshot, false, func(tx engine.Tx) error {
		for i := range n {
			if err := tx.Put(fmt.Appendf(nil, "k%03d", i), fmt.Appendf(nil, "v%d", i)); err != nil {
				return err
			}
		}
		return nil
	}))
	return e
}

// readAll reads [start, end) by every way tx has, with limit, and requires
// the ways to agree.
func readAll(t *testing.T, tx engine.Tx, start, end string, limit int) []pair {
	t.Helper()
	var b []byte
	if end != "" {
		b = []byte(end)
	}
	var scanned, lent []pair
	var keys []string
	require.NoError(t, tx.Scan([]byte(start), b, limit, func(k, v []byte) bool {
		scanned = append(scanned, pair{string(k), string(v)})
		return true
	}))
	require.NoError(t, tx.(engine.Lender).ScanFunc([]byte(start), b, limit, func(k, v []byte) bool {
		lent = append(lent, pair{string(k), string(v)})
		return true
	}))
	require.NoError(t, tx.(engine.KeyScanner).ScanKeys([]byte(start), b, limit, func(k []byte) bool {
		keys = append(keys, string(k))
		return true
	}))
	assert.Equal(t, scanned, lent, "ScanFunc reads what Scan reads")
	require.Len(t, keys, len(scanned))
	for i, p := range scanned {
		assert.Equal(t, p.k, keys[i], "ScanKeys walks Scan's keys")
	}
	return scanned
}

// The ways of reading the goals compare (engine.Viewer, engine.Lender,
// engine.KeyScanner) read what Tx.Get and Tx.Scan read, on mvkv at each
// level and on bbolt.
func TestInPlaceReadsAgree(t *testing.T) {
	for _, name := range []string{"mvkv", "bbolt"} {
		t.Run(name, func(t *testing.T) {
			e := load(t, name, 50)
			v, ok := e.(engine.Viewer)
			require.True(t, ok, "%s is an engine.Viewer", name)
			for _, level := range []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable} {
				require.NoError(t, v.View(level, func(tx engine.Tx) error {
					got := readAll(t, tx, "k010", "k020", 0)
					require.Len(t, got, 10)
					assert.Equal(t, pair{"k010", "v10"}, got[0])
					assert.Len(t, readAll(t, tx, "k045", "", 0), 5, "an open end runs to the last key")
					assert.Len(t, readAll(t, tx, "", "", 7), 7, "the limit ends the walk")

					var lent string
					require.NoError(t, tx.(engine.Lender).GetFunc([]byte("k007"), func(v []byte) { lent = string(v) }))
					assert.Equal(t, "v7", lent)
					assert.ErrorIs(t, tx.(engine.Lender).GetFunc([]byte("absent"), func([]byte) { t.Error("lent an absent value") }), engine.ErrNotFound)
					return nil
				}), level)
			}
		})
	}
}

// OpenBoltFile reads an mvkv database's own file, read-only: the keys of
// its data bucket are the keys written.
func TestOpenBoltFileReadsMVKVFile(t *testing.T) {
	dir := t.TempDir()
	mv, err := engine.Open("mvkv", dir, engine.Options{})
	require.NoError(t, err)
	require.NoError(t, mv.Txn(mvcc.Snapshot, false, func(tx engine.Tx) error {
		for i := range 20 {
			if err := tx.Put(fmt.Appendf(nil, "k%03d", i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, mv.Close(), "closing checkpoints every commit into the data bucket")

	bb, err := engine.OpenBoltFile(filepath.Join(dir, "mvkv.db"), "data", engine.Options{})
	require.NoError(t, err)
	defer bb.Close()
	require.NoError(t, bb.(engine.Viewer).View(mvcc.Snapshot, func(tx engine.Tx) error {
		var keys []string
		require.NoError(t, tx.(engine.KeyScanner).ScanKeys(nil, nil, 0, func(k []byte) bool {
			keys = append(keys, string(k))
			return true
		}))
		assert.Len(t, keys, 20)
		assert.Equal(t, "k000", keys[0])
		return tx.(engine.Lender).GetFunc([]byte("k019"), func(v []byte) { assert.NotEmpty(t, v) })
	}))
	assert.Error(t, bb.Txn(mvcc.Serializable, false, func(tx engine.Tx) error { return tx.Put([]byte("x"), []byte("y")) }), "read-only")

	_, err = engine.OpenBoltFile(filepath.Join(dir, "mvkv.db"), "no-such-bucket", engine.Options{})
	assert.ErrorContains(t, err, "no bucket")
}
