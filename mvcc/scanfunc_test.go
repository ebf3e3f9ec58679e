package mvcc_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// collectFunc collects what a ScanFunc-like call lends, cloned, up to
// limit keys (-1: all).
func collectFunc(t *testing.T, scan func(start, end []byte, fn func(k, v []byte) bool) error, start, end []byte, limit int) []kv {
	t.Helper()
	var out []kv
	require.NoError(t, scan(start, end, func(k, v []byte) bool {
		out = append(out, kv{string(k), string(v)})
		return len(out) != limit
	}))
	return out
}

func collectKeys(seq func(func([]byte) bool), limit int) []string {
	var out []string
	for k := range seq {
		out = append(out, string(k))
		if len(out) == limit {
			break
		}
	}
	return out
}

func kvKeys(list []kv) []string {
	var out []string
	for _, e := range list {
		out = append(out, e.k)
	}
	return out
}

// ScanFunc, ScanReverseFunc and ScanKeys see exactly what Scan and
// ScanReverse see, across many file chunks, with versions in memory a
// snapshot must read instead of the file's, own writes (puts, overwrites,
// deletes), empty values, at every level, for bounded and unbounded
// ranges, and when the loop stops early; and on data in the file alone
// (after Vacuum).
func TestScanFuncMatchesScan(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	const n = 3000
	key := func(i int) []byte { return fmt.Appendf(nil, "k%05d", i) }
	for lo := 0; lo < n; lo += 1000 {
		require.NoError(t, db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
			for i := lo; i < lo+1000; i += 2 { // even keys only
				v := fmt.Appendf(nil, "v%d", i)
				if i%10 == 0 {
					v = []byte{}
				}
				if err := tx.Put(key(i), v); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	ranges := [][2][]byte{{nil, nil}, {key(100), key(2900)}, {key(1), key(2)}, {nil, key(1500)}, {key(1501), nil}, {key(2999), nil}, {[]byte("z"), nil}}
	check := func(t *testing.T, tx *mvcc.Txn) {
		t.Helper()
		for _, r := range ranges {
			for _, limit := range []int{-1, 1, 100, 1100} {
				fwd := collect(tx.Scan(r[0], r[1]), limit)
				require.Equal(t, fwd, collectFunc(t, tx.ScanFunc, r[0], r[1], limit), "ScanFunc [%q, %q) limit %d", r[0], r[1], limit)
				require.Equal(t, kvKeys(fwd), collectKeys(tx.ScanKeys(r[0], r[1]), limit), "ScanKeys [%q, %q) limit %d", r[0], r[1], limit)
				rev := collect(tx.ScanReverse(r[0], r[1]), limit)
				require.Equal(t, rev, collectFunc(t, tx.ScanReverseFunc, r[0], r[1], limit), "ScanReverseFunc [%q, %q) limit %d", r[0], r[1], limit)
			}
		}
		require.NoError(t, tx.Err())
	}
	t.Run("file", func(t *testing.T) {
		_, err := db.Vacuum(ctx)
		require.NoError(t, err)
		require.NoError(t, db.View(ctx, func(tx *mvcc.Txn) error { check(t, tx); return nil }))
	})
	old := snapshotThenMutate(t, db, n, key)
	t.Run("memory", func(t *testing.T) { check(t, old) })
	for _, opts := range []mvcc.TxOptions{
		{Isolation: mvcc.ReadCommitted},
		{Isolation: mvcc.Snapshot},
		{Isolation: mvcc.Serializable},
		{Isolation: mvcc.Serializable, Locking: true},
	} {
		t.Run(fmt.Sprintf("own/%v/locking=%v", opts.Isolation, opts.Locking), func(t *testing.T) {
			mine, err := db.BeginTx(ctx, opts)
			require.NoError(t, err)
			defer mine.Rollback()
			for i := 5; i < n; i += 97 {
				require.NoError(t, mine.Put(key(i), []byte("own")))
				require.NoError(t, mine.Put(key(i+3), []byte{}))
				require.NoError(t, mine.Delete(key(i+1)))
			}
			check(t, mine)
		})
	}
}

// ScanFunc and ScanKeys record their range at serializable, as Scan does:
// an insert into it by a concurrent transaction is a conflict; one past
// where the loop stopped is not.
func TestScanFuncPhantom(t *testing.T) {
	for _, way := range []string{"ScanFunc", "ScanReverseFunc", "ScanKeys"} {
		for _, stopEarly := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stopEarly=%v", way, stopEarly), func(t *testing.T) {
				db := openTestDB(t)
				put(t, db, "b", "1", "d", "1", "f", "1")
				t1, err := db.Begin(mvcc.Serializable)
				require.NoError(t, err)
				t2, err := db.Begin(mvcc.Serializable)
				require.NoError(t, err)
				limit := -1
				if stopEarly {
					limit = 1 // reads b (or f, descending): not e (or c)
				}
				insert := "e"
				switch way {
				case "ScanFunc":
					require.NotEmpty(t, collectFunc(t, t1.ScanFunc, []byte("a"), []byte("z"), limit))
				case "ScanReverseFunc":
					require.NotEmpty(t, collectFunc(t, t1.ScanReverseFunc, []byte("a"), []byte("z"), limit))
					insert = "c"
				default:
					require.NotEmpty(t, collectKeys(t1.ScanKeys([]byte("a"), []byte("z")), limit))
				}
				require.NoError(t, t1.Put([]byte("x"), []byte("t1")))
				_, err = t2.Get([]byte("x"))
				require.ErrorIs(t, err, mvcc.ErrNotFound)
				require.NoError(t, t2.Put([]byte(insert), []byte("t2")))
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
}

// ScanFunc reports why it could not scan, and stops when the transaction
// ends during the scan.
func TestScanFuncErrors(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	put(t, db, "a", "1", "b", "2", "c", "3")
	never := func(k, v []byte) bool { t.Errorf("fn called with %q", k); return true }

	tx, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback())
	require.ErrorIs(t, tx.ScanFunc(nil, nil, never), mvcc.ErrTxnDone)
	require.ErrorIs(t, tx.ScanReverseFunc(nil, nil, never), mvcc.ErrTxnDone)
	require.Empty(t, collectKeys(tx.ScanKeys(nil, nil), -1))

	tx, err = db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	var seen []string
	err = tx.ScanFunc(nil, nil, func(k, _ []byte) bool {
		seen = append(seen, string(k))
		require.NoError(t, tx.Rollback())
		return true
	})
	require.ErrorIs(t, err, mvcc.ErrTxnDone)
	require.Equal(t, []string{"a"}, seen)

	require.NoError(t, db.View(ctx, func(tx *mvcc.Txn) error {
		calls := 0
		require.NoError(t, tx.ScanFunc(nil, nil, func(_, _ []byte) bool { calls++; return false }))
		require.Equal(t, 1, calls)
		return nil
	}))

	tx, err = db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.ErrorIs(t, tx.ScanFunc(nil, nil, never), mvcc.ErrClosed)
}

// What ScanFunc lends is the scan's own memory: a caller that writes to
// it, appends to it or keeps it past its step changes nothing in the
// database, in its own buffered writes, or in what concurrent readers
// see. Run with -race: the scribblers' writes must never touch memory
// another goroutine reads.
func TestScanFuncMisuseCannotCorrupt(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	const n = 2000
	key := func(i int) []byte { return fmt.Appendf(nil, "k%05d", i) }
	val := func(i int) []byte { return fmt.Appendf(nil, "value-%05d-%s", i, bytes.Repeat([]byte{'x'}, i%50)) }
	for lo := 0; lo < n; lo += 500 {
		require.NoError(t, db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
			for i := lo; i < lo+500; i++ {
				if err := tx.Put(key(i), val(i)); err != nil {
					return err
				}
			}
			return nil
		}))
		if lo == 1000 {
			// Half the data in the file alone, half still in memory.
			_, err := db.Vacuum(ctx)
			require.NoError(t, err)
		}
	}
	intact := func(tx *mvcc.Txn) error {
		i := 0
		for k, v := range tx.Scan(nil, nil) {
			if !bytes.Equal(k, key(i)) || !bytes.Equal(v, val(i)) {
				return fmt.Errorf("read %q=%q, want %q=%q", k, v, key(i), val(i))
			}
			i++
		}
		if i != n {
			return fmt.Errorf("read %d keys, want %d", i, n)
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	var kept [][]byte
	var keptMu sync.Mutex
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				// A writer's own buffered writes are lent through the
				// same scratch memory: scribbling on them must not
				// change what it commits.
				err := db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
					if g%2 == 0 {
						if err := tx.Put(key(g), val(g)); err != nil {
							return err
						}
					}
					var mine [][]byte
					scribble := func(k, v []byte) bool {
						for i := range k {
							k[i] = 0xff
						}
						for i := range v {
							v[i] = 0
						}
						_ = append(k, "grown"...)
						_ = append(v, "grown"...)
						mine = append(mine, k, v)
						return true
					}
					if err := tx.ScanFunc(nil, nil, scribble); err != nil {
						return err
					}
					if err := tx.ScanReverseFunc(nil, nil, scribble); err != nil {
						return err
					}
					// Kept past their step: overwritten later, and still
					// written to by this goroutine alone.
					for _, s := range mine {
						for i := range s {
							s[i]++
						}
					}
					keptMu.Lock()
					kept = append(kept, mine[:min(len(mine), 10)]...)
					keptMu.Unlock()
					return intact(tx)
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if err := db.View(ctx, intact); err != nil {
					errs <- err
					return
				}
				for i := 0; i < n; i += 101 {
					err := db.View(ctx, func(tx *mvcc.Txn) error {
						v, err := tx.Get(key(i))
						if err == nil && !bytes.Equal(v, val(i)) {
							err = fmt.Errorf("Get %q = %q", key(i), v)
						}
						return err
					})
					if err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	require.NoError(t, db.View(ctx, intact))
	assert.NotEmpty(t, kept)
}

// What Scan yields is the caller's: capped to its length, so appending to
// a key or value never writes into a neighbour's memory.
func TestScanYieldsCappedCopies(t *testing.T) {
	db := openTestDB(t)
	put(t, db, "a", "1", "b", "22", "c", "333")
	require.NoError(t, db.View(context.Background(), func(tx *mvcc.Txn) error {
		var keys, vals [][]byte
		for k, v := range tx.Scan(nil, nil) {
			require.Equal(t, len(k), cap(k))
			require.Equal(t, len(v), cap(v))
			keys, vals = append(keys, k), append(vals, v)
		}
		for i := range keys {
			_ = append(keys[i], 'x')
			_ = append(vals[i], 'y')
		}
		require.Equal(t, []kv{{"a", "1"}, {"b", "22"}, {"c", "333"}}, collect(tx.Scan(nil, nil), -1))
		got := slices.Collect(func(yield func(string) bool) {
			for i := range keys {
				if !yield(string(keys[i]) + "=" + string(vals[i])) {
					return
				}
			}
		})
		require.Equal(t, []string{"a=1", "b=22", "c=333"}, got)
		return nil
	}))
}
