package mvcc_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

type kv struct{ k, v string }

func collect(seq func(func([]byte, []byte) bool), limit int) []kv {
	var out []kv
	for k, v := range seq {
		out = append(out, kv{string(k), string(v)})
		if len(out) == limit {
			break
		}
	}
	return out
}

// ScanReverse yields what Scan yields, reversed, across many file chunks
// and with versions in memory that a snapshot must read instead of the
// file's (updates, deletes and inserts after it began), own writes
// included, for bounded and unbounded ranges.
func TestScanReverseMatchesScan(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	const n = 3000
	key := func(i int) []byte { return fmt.Appendf(nil, "k%05d", i) }
	for lo := 0; lo < n; lo += 1000 {
		require.NoError(t, db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
			for i := lo; i < lo+1000; i += 2 { // even keys only
				if err := tx.Put(key(i), fmt.Appendf(nil, "v%d", i)); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	old := snapshotThenMutate(t, db, n, key)
	mine, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	defer mine.Rollback()
	for i := 5; i < n; i += 97 {
		require.NoError(t, mine.Put(key(i), []byte("own")))
		require.NoError(t, mine.Delete(key(i+1)))
	}
	ranges := [][2][]byte{{nil, nil}, {key(100), key(2900)}, {key(1), key(2)}, {nil, key(1500)}, {key(1501), nil}, {key(2999), nil}, {[]byte("z"), nil}}
	for _, tx := range []*mvcc.Txn{old, mine} {
		for _, r := range ranges {
			fwd := collect(tx.Scan(r[0], r[1]), -1)
			rev := collect(tx.ScanReverse(r[0], r[1]), -1)
			slices.Reverse(rev)
			require.Equal(t, fwd, rev, "range [%q, %q)", r[0], r[1])
			if len(fwd) > 0 {
				// A loop that stops early yields the top of the range.
				top := collect(tx.ScanReverse(r[0], r[1]), 100)
				want := slices.Clone(fwd[max(0, len(fwd)-100):])
				slices.Reverse(want)
				require.Equal(t, want, top)
			}
		}
	}
	require.NoError(t, old.Err())
}

// ScanPrefix is Scan over the keys that begin with the prefix, up to the
// all-0xff edge, where the range has no end.
func TestScanPrefix(t *testing.T) {
	db := openTestDB(t)
	put(t, db, "a", "1", "ab", "2", "abc", "3", "ac", "4", "b", "5",
		"\xff", "6", "\xff\xff", "7", "\xff\xff\x00", "8", "\xfe\xff", "9", "\xff\x00", "10")
	require.NoError(t, db.View(context.Background(), func(tx *mvcc.Txn) error {
		keys := func(prefix string) []string {
			var out []string
			for k := range tx.ScanPrefix([]byte(prefix)) {
				out = append(out, string(k))
			}
			return out
		}
		require.Equal(t, []string{"ab", "abc"}, keys("ab"))
		require.Equal(t, []string{"a", "ab", "abc", "ac"}, keys("a"))
		require.Equal(t, []string{"\xfe\xff"}, keys("\xfe"))
		require.Equal(t, []string{"\xff", "\xff\x00", "\xff\xff", "\xff\xff\x00"}, keys("\xff"))
		require.Equal(t, []string{"\xff\xff", "\xff\xff\x00"}, keys("\xff\xff"))
		require.Len(t, keys(""), 10)
		require.Empty(t, keys("abcd"))
		return nil
	}))
}

// A reverse scan at serializable records its range: an insert into it by
// a concurrent transaction is a conflict; one below where the loop
// stopped is not.
func TestScanReversePhantom(t *testing.T) {
	for _, stopEarly := range []bool{false, true} {
		t.Run(fmt.Sprint("stopEarly=", stopEarly), func(t *testing.T) {
			db := openTestDB(t)
			put(t, db, "b", "1", "d", "1", "f", "1")
			t1, err := db.Begin(mvcc.Serializable)
			require.NoError(t, err)
			t2, err := db.Begin(mvcc.Serializable)
			require.NoError(t, err)
			limit := -1
			if stopEarly {
				limit = 1 // reads f, and e on its way down: not c
			}
			require.NotEmpty(t, collect(t1.ScanReverse([]byte("a"), []byte("z")), limit))
			require.NoError(t, t1.Put([]byte("x"), []byte("t1")))
			// t2 read x (t1 writes it) and inserts c into t1's range.
			_, err = t2.Get([]byte("x"))
			require.ErrorIs(t, err, mvcc.ErrNotFound)
			require.NoError(t, t2.Put([]byte("c"), []byte("t2")))
			require.NoError(t, t2.Commit())
			err = t1.Commit()
			if stopEarly {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, mvcc.ErrConflict)
			}
		})
	}
}

// Every way of scanning the file reads back records of every size, from
// empty values to values larger than a piece of copies and than a chunk's
// buffer, with keys of every length (so records start at every offset a
// chunk lays them at), each yield capped to its length.
func TestScanRecordSizes(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	key := func(i int) []byte { return fmt.Appendf(nil, "k%0*d", 3+i%9, i) }
	val := func(i int) []byte {
		n := (i * 37) % 300
		switch i % 50 {
		case 7:
			n = 0
		case 11:
			n = 5000 // more than a piece of Scan's copies
		case 23:
			n = 70000 // more than the first chunk's buffer
		}
		v := make([]byte, n)
		for j := range v {
			v[j] = byte(i + j)
		}
		return v
	}
	const n = 600
	require.NoError(t, db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
		for i := range n {
			if err := tx.Put(key(i), val(i)); err != nil {
				return err
			}
		}
		return nil
	}))
	_, err := db.Vacuum(ctx)
	require.NoError(t, err)
	var want []kv
	for i := range n {
		want = append(want, kv{string(key(i)), string(val(i))})
	}
	slices.SortFunc(want, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	require.NoError(t, db.View(ctx, func(tx *mvcc.Txn) error {
		var got, lent []kv
		for k, v := range tx.Scan(nil, nil) {
			require.Equal(t, len(k), cap(k))
			require.Equal(t, len(v), cap(v))
			require.NotNil(t, v)
			got = append(got, kv{string(k), string(v)})
		}
		require.Equal(t, want, got)
		require.NoError(t, tx.ScanFunc(nil, nil, func(k, v []byte) bool {
			require.Equal(t, len(v), cap(v))
			lent = append(lent, kv{string(k), string(v)})
			return true
		}))
		require.Equal(t, want, lent)
		i := 0
		for k := range tx.ScanKeys(nil, nil) {
			require.Equal(t, want[i].k, string(k))
			require.Equal(t, len(k), cap(k))
			i++
		}
		require.Equal(t, len(want), i)
		return nil
	}))
}

// snapshotThenMutate begins a read-only serializable transaction on db
// (rolled back when the test ends), then, in a transaction of its own,
// updates, deletes and inserts around every 7th of the n keys: the old
// transaction must read memory's older versions instead of the file's.
func snapshotThenMutate(t *testing.T, db *mvcc.DB, n int, key func(int) []byte) *mvcc.Txn {
	t.Helper()
	ctx := context.Background()
	old, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable, ReadOnly: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = old.Rollback() })
	require.NoError(t, db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
		for i := 0; i < n; i += 7 {
			var err error
			switch i % 3 {
			case 0:
				err = tx.Put(key(i), []byte("updated"))
			case 1:
				err = tx.Delete(key(i))
			default:
				err = tx.Put(key(i+1), []byte("inserted"))
			}
			if err != nil {
				return err
			}
		}
		return nil
	}))
	return old
}
