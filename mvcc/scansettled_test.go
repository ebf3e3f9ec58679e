package mvcc_test

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// Scans with memory holding every key's version (a load, autovacuum off),
// most of them what the file holds (memory's walk leaves them out), and
// versions newer than a reader's snapshot inside the range, at its edges
// (the first key, the last before end, end itself) and just outside it:
// every way of scanning, both directions, reads what a model of each
// snapshot holds, with the transaction's own writes on top; a snapshot
// taken before the changes still reads the old values.
func TestScanMergesUnsettledOnly(t *testing.T) {
	db, err := mvcc.Open(filepath.Join(t.TempDir(), "test.db"), &mvcc.Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	checkAtEnd(t, db)
	ctx := context.Background()
	key := func(i int) string { return fmt.Sprintf("k%05d", i) }
	const n = 2500
	before := map[string]string{}
	for lo := 0; lo < n; lo += 500 {
		require.NoError(t, db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
			for i := lo; i < lo+500; i++ {
				before[key(i)] = "v" + key(i)
				if err := tx.Put([]byte(key(i)), []byte(before[key(i)])); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	require.Positive(t, db.Stats().MemVersions, "memory holds the loaded versions")
	old, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable, ReadOnly: true})
	require.NoError(t, err)
	defer func() { _ = old.Rollback() }()
	_, err = old.Get([]byte(key(0))) // its snapshot is taken at its first read
	require.NoError(t, err)

	start, end := 500, 1700 // more than a chunk of the file
	after := maps.Clone(before)
	changes := map[string]*string{} // nil: deleted
	set := func(k string, v *string) {
		changes[k] = v
		if v == nil {
			delete(after, k)
		} else {
			after[k] = *v
		}
	}
	str := func(s string) *string { return &s }
	for _, i := range []int{0, 499, 500, 501, 563, 564, 565, 1000, 1588, 1589, 1699, 1700, 1701, n - 1} {
		set(key(i), str("new"+key(i)))
	}
	for _, i := range []int{502, 777, 1698, 1702} {
		set(key(i), nil)
	}
	set(key(500)+"a", str("inserted")) // new keys inside and at the end
	set(key(1699)+"a", str("inserted"))
	require.NoError(t, db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
		for k, v := range changes {
			var err error
			if v == nil {
				err = tx.Delete([]byte(k))
			} else {
				err = tx.Put([]byte(k), []byte(*v))
			}
			if err != nil {
				return err
			}
		}
		return nil
	}))

	inRange := func(m map[string]string, desc bool) []kv {
		var out []kv
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if k >= key(start) && k < key(end) {
				out = append(out, kv{k, m[k]})
			}
		}
		if desc {
			slices.Reverse(out)
		}
		return out
	}
	check := func(tx *mvcc.Txn, model map[string]string, what string) {
		t.Helper()
		lo, hi := []byte(key(start)), []byte(key(end))
		want := inRange(model, false)
		require.Equal(t, want, collect(tx.Scan(lo, hi), -1), "%s: Scan", what)
		require.Equal(t, want, collectFunc(t, tx.ScanFunc, lo, hi, -1), "%s: ScanFunc", what)
		require.Equal(t, kvKeys(want), collectKeys(tx.ScanKeys(lo, hi), -1), "%s: ScanKeys", what)
		rev := inRange(model, true)
		require.Equal(t, rev, collect(tx.ScanReverse(lo, hi), -1), "%s: ScanReverse", what)
		require.Equal(t, rev, collectFunc(t, tx.ScanReverseFunc, lo, hi, -1), "%s: ScanReverseFunc", what)
	}
	check(old, before, "snapshot before the changes")
	for _, level := range []mvcc.Level{mvcc.Snapshot, mvcc.Serializable} {
		tx, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: level})
		require.NoError(t, err)
		check(tx, after, fmt.Sprintf("%v: after the changes", level))
		// Own writes over both settled and changed keys, at the edges too.
		own := maps.Clone(after)
		for _, i := range []int{500, 503, 564, 1000, 1699} {
			own[key(i)] = "own"
			require.NoError(t, tx.Put([]byte(key(i)), []byte("own")))
		}
		for _, i := range []int{501, 1200, 1589} {
			delete(own, key(i))
			require.NoError(t, tx.Delete([]byte(key(i))))
		}
		check(tx, own, fmt.Sprintf("%v: own writes", level))
		require.NoError(t, tx.Rollback())
	}
}
