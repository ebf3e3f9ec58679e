package mvcc_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// Acceptance of the scans that copy less than Scan: ScanFunc and
// ScanReverseFunc (each key and value lent for one step) and ScanKeys (no
// value read) see exactly what Scan and ScanReverse see, and what a model
// of the data says, wherever the data lives (own writes, memory, file,
// spilled versions, after vacuum, after reopen), at every level; they
// take range locks and record range reads as Scan does; they report
// misuse with named errors; and they never serve a damaged value.

// accModel is the data a transaction should see.
type accModel map[string]string

func (m accModel) clone() accModel {
	c := make(accModel, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// in returns the model's keys in [start, end) with their values, ascending.
func (m accModel) in(start, end []byte) []kv {
	var out []kv
	for k, v := range m {
		if (start == nil || k >= string(start)) && (end == nil || k < string(end)) {
			out = append(out, kv{k, v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].k < out[j].k })
	return out
}

func accReversed(list []kv) []kv {
	out := slices.Clone(list)
	slices.Reverse(out)
	return out
}

// accFunc collects what a ScanFunc-like call lends, checking during each
// step that the key and value are what the step after them would not
// disturb: appending to the key must not write into the value.
func accFunc(t *testing.T, scan func(start, end []byte, fn func(k, v []byte) bool) error, start, end []byte, limit int) []kv {
	t.Helper()
	var out []kv
	err := scan(start, end, func(k, v []byte) bool {
		e := kv{string(k), string(v)}
		_ = append(k, 0xff, 0xfe, 0xfd) // allowed: must change nothing lent in this step
		require.Equal(t, e.v, string(v), "appending to the lent key wrote into the lent value")
		out = append(out, e)
		return len(out) != limit
	})
	require.NoError(t, err)
	return out
}

// accCheck holds every scan of tx over each range, complete and stopped
// early, against want (the model tx should see).
func accCheck(t *testing.T, tx *mvcc.Txn, want accModel, ranges [][2][]byte) {
	t.Helper()
	for _, r := range ranges {
		all := want.in(r[0], r[1])
		for _, limit := range []int{-1, 1, 7, 1500} {
			fwd, rev := all, accReversed(all)
			if limit >= 0 && limit < len(all) {
				fwd, rev = fwd[:limit], rev[:limit]
			}
			name := fmt.Sprintf("[%q, %q) limit %d", r[0], r[1], limit)
			require.Equal(t, fwd, collect(tx.Scan(r[0], r[1]), limit), "Scan %s", name)
			require.Equal(t, rev, collect(tx.ScanReverse(r[0], r[1]), limit), "ScanReverse %s", name)
			require.Equal(t, fwd, accFunc(t, tx.ScanFunc, r[0], r[1], limit), "ScanFunc %s", name)
			require.Equal(t, rev, accFunc(t, tx.ScanReverseFunc, r[0], r[1], limit), "ScanReverseFunc %s", name)
			require.Equal(t, kvKeys(fwd), collectKeys(tx.ScanKeys(r[0], r[1]), limit), "ScanKeys %s", name)
		}
	}
	require.NoError(t, tx.Err())
}

func accKey(i int) []byte { return fmt.Appendf(nil, "acc/%06d", i) }

// accValue is key i's value in round r: empty, small, around a hundred
// bytes, or past 4 KiB (bbolt overflow pages, larger than a scan piece).
func accValue(i, r int) []byte {
	n := (i*31 + r*17) % 300
	switch {
	case (i+r)%13 == 0:
		n = 0
	case (i+r)%97 == 5:
		n = 4097 + (i*7919)%5000
	}
	v := make([]byte, n)
	for j := range v {
		v[j] = byte(i + j*r + j)
	}
	return v
}

// accRanges are ranges over the keys 0..n: unbounded, crossing many
// chunks, within one, empty, reversed, past either end.
func accRanges(n int) [][2][]byte {
	return [][2][]byte{
		{nil, nil},
		{accKey(1), accKey(n - 1)},
		{nil, accKey(n / 2)},
		{append(accKey(n/3), '!'), nil}, // a start that is no key
		{accKey(1234), append(accKey(5678), '!')},
		{accKey(17), accKey(18)},                      // one key
		{accKey(17), accKey(17)},                      // start == end
		{accKey(500), accKey(400)},                    // start > end
		{accKey(n + 5), nil},                          // past the last key
		{nil, []byte("acc/")},                         // before the first
		{[]byte("acc/000100!"), []byte("acc/000101")}, // between two keys
		{[]byte{}, accKey(3)},                         // an empty start is the first key
		{accKey(n - 3), []byte{}},                     // an empty end: nothing is below it
		{nil, []byte{}},
	}
}

// accLoad writes n keys in transactions of 500, deletes every eleventh
// and overwrites every seventh, and returns the model.
func accLoad(t *testing.T, db *mvcc.DB, n int) accModel {
	t.Helper()
	ctx := context.Background()
	m := accModel{}
	for lo := 0; lo < n; lo += 500 {
		require.NoError(t, db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
			for i := lo; i < min(lo+500, n); i++ {
				if err := tx.Put(accKey(i), accValue(i, 0)); err != nil {
					return err
				}
			}
			return nil
		}))
		for i := lo; i < min(lo+500, n); i++ {
			m[string(accKey(i))] = string(accValue(i, 0))
		}
	}
	accMutate(t, db, m, n, 1)
	return m
}

// accMutate deletes every eleventh key and overwrites every seventh (to
// round r's value), in one transaction, and applies it to m.
func accMutate(t *testing.T, db *mvcc.DB, m accModel, n, r int) {
	t.Helper()
	require.NoError(t, db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
		for i := r % 3; i < n; i++ {
			var err error
			switch {
			case (i+r)%11 == 0:
				err = tx.Delete(accKey(i))
			case (i+r)%7 == 0:
				err = tx.Put(accKey(i), accValue(i, r))
			}
			if err != nil {
				return err
			}
		}
		return nil
	}))
	for i := r % 3; i < n; i++ {
		switch {
		case (i+r)%11 == 0:
			delete(m, string(accKey(i)))
		case (i+r)%7 == 0:
			m[string(accKey(i))] = string(accValue(i, r))
		}
	}
}

func accView(t *testing.T, db *mvcc.DB, want accModel, ranges [][2][]byte) {
	t.Helper()
	require.NoError(t, db.View(context.Background(), func(tx *mvcc.Txn) error {
		accCheck(t, tx, want, ranges)
		return nil
	}))
}

// 10,000 keys of sizes from empty to past 4 KiB, across many chunks: in
// memory, for an old snapshot whose versions memory holds, after vacuum
// (in the file alone), after reopen (read-only too), and for an old
// snapshot whose versions were spilled to disk.
func TestScanAccLargeRanges(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 3000
	}
	ranges := accRanges(n)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "acc.db")
	db, err := mvcc.Open(path, &mvcc.Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	m := accLoad(t, db, n)
	t.Run("memory", func(t *testing.T) { accView(t, db, m, ranges) })

	old, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot, ReadOnly: true})
	require.NoError(t, err)
	oldM := m.clone()
	accMutate(t, db, m, n, 2)
	t.Run("old snapshot", func(t *testing.T) { accCheck(t, old, oldM, ranges) })
	t.Run("newest beside it", func(t *testing.T) { accView(t, db, m, ranges) })
	require.NoError(t, old.Rollback())

	_, err = db.Vacuum(ctx)
	require.NoError(t, err)
	require.Zero(t, db.Stats().MemVersions, "vacuum leaves memory empty")
	t.Run("after vacuum", func(t *testing.T) { accView(t, db, m, ranges) })
	require.NoError(t, mvcc.Check(db))
	require.NoError(t, db.Close())

	ro, err := mvcc.Open(path, &mvcc.Options{ReadOnly: true})
	require.NoError(t, err)
	t.Run("read-only", func(t *testing.T) { accView(t, ro, m, ranges) })
	require.NoError(t, ro.Close())

	db, err = mvcc.Open(path, &mvcc.Options{NoSync: true, NoAutovacuum: true, VersionMemoryLimit: 1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	checkAtEnd(t, db)
	t.Run("after reopen", func(t *testing.T) { accView(t, db, m, ranges) })

	old, err = db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable, ReadOnly: true})
	require.NoError(t, err)
	defer old.Rollback()
	oldM = m.clone()
	accMutate(t, db, m, n, 3)
	accMutate(t, db, m, n, 4)
	require.Positive(t, db.Stats().DiskVersions, "the old snapshot's versions spilled")
	t.Run("spilled", func(t *testing.T) { accCheck(t, old, oldM, ranges) })
	t.Run("newest beside spilled", func(t *testing.T) { accView(t, db, m, ranges) })
}

// At every level, a transaction's scans see its own writes (puts,
// overwrites, empty values, deletes, a put then deleted: a tombstone of a
// key the store never held) over the state its level reads: the snapshot
// of its Begin, or under read committed and locking the latest commits;
// and never what commits while the scan runs.
func TestScanAccLevels(t *testing.T) {
	ctx := context.Background()
	const n = 400
	ranges := accRanges(n)
	levels := []mvcc.TxOptions{
		{Isolation: mvcc.ReadCommitted},
		{Isolation: mvcc.Snapshot},
		{Isolation: mvcc.Serializable},
		{Isolation: mvcc.Serializable, Locking: true},
	}
	for _, vacuumed := range []bool{false, true} {
		for _, opts := range levels {
			t.Run(fmt.Sprintf("%v/locking=%v/vacuumed=%v", opts.Isolation, opts.Locking, vacuumed), func(t *testing.T) {
				db := openTestDB(t)
				base := accLoad(t, db, n)
				if vacuumed {
					_, err := db.Vacuum(ctx)
					require.NoError(t, err)
				}
				tx, err := db.BeginTx(ctx, opts)
				require.NoError(t, err)
				defer tx.Rollback()
				// Committed after tx began.
				latest := base.clone()
				accMutate(t, db, latest, n, 5)
				seen := base
				if opts.Isolation == mvcc.ReadCommitted || opts.Locking {
					seen = latest
				}
				want := seen.clone()
				for i := 3; i < n; i += 19 {
					if (i+5)%11 == 0 || (i+5)%7 == 0 {
						continue // written since tx began: a write-write conflict
					}
					k := accKey(i)
					switch i % 4 {
					case 0:
						require.NoError(t, tx.Put(k, []byte("own")))
						want[string(k)] = "own"
					case 1:
						require.NoError(t, tx.Put(k, []byte{}))
						want[string(k)] = ""
					case 2:
						require.NoError(t, tx.Delete(k))
						delete(want, string(k))
					default:
						nk, gone := string(k)+"+", string(k)+"++"
						require.NoError(t, tx.Put([]byte(nk), []byte("new")))
						require.NoError(t, tx.Put([]byte(gone), []byte("gone")))
						require.NoError(t, tx.Delete([]byte(gone)))
						want[nk] = "new"
					}
				}
				accCheck(t, tx, want, ranges)

				if opts.Locking {
					return // a commit into the range would wait for tx (TestScanAccLocking)
				}
				// A commit during the scan changes nothing it yields.
				for _, way := range []string{"Scan", "ScanFunc", "ScanReverseFunc", "ScanKeys"} {
					before := want.in(accKey(10), accKey(300))
					if way == "ScanReverseFunc" {
						before = accReversed(before)
					}
					var got []kv
					step := func(k, v []byte) bool {
						if len(got) == 0 {
							require.NoError(t, db.Update(ctx, mvcc.ReadCommitted, func(w *mvcc.Txn) error {
								if err := w.Put(accKey(151), []byte("during")); err != nil {
									return err
								}
								if err := w.Put(append(accKey(201), '-'), []byte("during")); err != nil {
									return err
								}
								return w.Delete(accKey(251))
							}))
						}
						got = append(got, kv{string(k), string(v)})
						return true
					}
					switch way {
					case "Scan":
						for k, v := range tx.Scan(accKey(10), accKey(300)) {
							step(k, v)
						}
					case "ScanFunc":
						require.NoError(t, tx.ScanFunc(accKey(10), accKey(300), step))
					case "ScanReverseFunc":
						require.NoError(t, tx.ScanReverseFunc(accKey(10), accKey(300), step))
					case "ScanKeys":
						for k := range tx.ScanKeys(accKey(10), accKey(300)) {
							step(k, nil)
						}
						for i := range before {
							before[i].v = ""
						}
					}
					require.Equal(t, before, got, "%s while a commit lands", way)
					require.NoError(t, tx.Err())
					if opts.Isolation == mvcc.ReadCommitted {
						// The next statement sees it.
						want[string(accKey(151))] = "during"
						want[string(append(accKey(201), '-'))] = "during"
						delete(want, string(accKey(251)))
						accCheck(t, tx, want, ranges[:2])
					}
				}
			})
		}
	}
}

// Under Locking, ScanFunc, ScanReverseFunc and ScanKeys lock the range
// they scan: an insert into it waits until the scanner ends; one outside
// does not.
func TestScanAccLocking(t *testing.T) {
	ways := map[string]func(tx *mvcc.Txn, start, end []byte) error{
		"ScanFunc": func(tx *mvcc.Txn, start, end []byte) error {
			return tx.ScanFunc(start, end, func(_, _ []byte) bool { return true })
		},
		"ScanReverseFunc": func(tx *mvcc.Txn, start, end []byte) error {
			return tx.ScanReverseFunc(start, end, func(_, _ []byte) bool { return true })
		},
		"ScanKeys": func(tx *mvcc.Txn, start, end []byte) error {
			for range tx.ScanKeys(start, end) {
			}
			return tx.Err()
		},
	}
	for name, scan := range ways {
		t.Run(name, func(t *testing.T) {
			db, _ := ctOpen(t, nil)
			ctPut(t, db, "a", "1", "c", "1", "e", "1")
			l := beginLocking(t, db)
			require.NoError(t, scan(l, []byte("b"), []byte("d")))
			require.NoError(t, ctCommitPut(t, db, "e", "2"), "outside the range: no wait")
			ins := goDo(func() error { return ctCommitPut(t, db, "bb", "2") })
			waitForWaiters(t, db, 1)
			v, err := l.Get([]byte("bb"))
			require.ErrorIs(t, err, mvcc.ErrNotFound, "the insert waits for the scanner: %q", v)
			require.NoError(t, l.Commit())
			require.NoError(t, await(t, ins).err)
			require.Equal(t, "2", string(ctGet(t, db, "bb")))
		})
	}
}

// Under Serializable the range read by ScanFunc, ScanReverseFunc and
// ScanKeys is recorded up to where the caller stopped: an insert into
// what was read, by a transaction that also read what this one writes,
// makes one of the two fail; an insert past where the loop stopped does
// not. With own writes in the range (merged with the store) too.
func TestScanAccPhantom(t *testing.T) {
	type tc struct {
		way      string
		stopAt   string // the key whose step returns false ("" none)
		insert   string
		conflict bool
	}
	var cases []tc
	for _, way := range []string{"ScanFunc", "ScanReverseFunc", "ScanKeys"} {
		desc := way == "ScanReverseFunc"
		before, after := "cc", "ee" // ascending: read before d, not read past it
		if desc {
			before, after = after, before
		}
		cases = append(cases,
			tc{way, "", before, true}, tc{way, "", after, true},
			tc{way, "d", before, true}, tc{way, "d", after, false})
	}
	for _, own := range []bool{false, true} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/stop=%q/insert=%s/own=%v", c.way, c.stopAt, c.insert, own), func(t *testing.T) {
				db := openTestDB(t)
				put(t, db, "b", "1", "d", "1", "f", "1")
				t1 := begin(t, db, mvcc.Serializable)
				defer t1.Rollback()
				t2 := begin(t, db, mvcc.Serializable)
				defer t2.Rollback()
				if own {
					require.NoError(t, t1.Put([]byte("dd"), []byte("own")))
				}
				step := func(k, _ []byte) bool { return string(k) != c.stopAt }
				switch c.way {
				case "ScanFunc":
					require.NoError(t, t1.ScanFunc([]byte("a"), []byte("z"), step))
				case "ScanReverseFunc":
					require.NoError(t, t1.ScanReverseFunc([]byte("a"), []byte("z"), step))
				default:
					for k := range t1.ScanKeys([]byte("a"), []byte("z")) {
						if !step(k, nil) {
							break
						}
					}
				}
				require.NoError(t, t1.Put([]byte("x"), []byte("t1")))
				_, err := t2.Get([]byte("x"))
				require.ErrorIs(t, err, mvcc.ErrNotFound)
				require.NoError(t, t2.Put([]byte(c.insert), []byte("t2")))
				require.NoError(t, t2.Commit())
				err = t1.Commit()
				if c.conflict {
					require.ErrorIs(t, err, mvcc.ErrConflict)
				} else {
					require.NoError(t, err)
				}
			})
		}
	}
}

// Bounds, early stops and misuse: nil fn, a finished transaction, a
// closed DB; a transaction that ends during the scan.
func TestScanAccErrorsAndStops(t *testing.T) {
	ctx := context.Background()
	db, _ := ctOpen(t, nil)
	ctPut(t, db, "a", "1", "b", "2", "c", "3", "d", "4")
	never := func(k, _ []byte) bool { t.Errorf("fn called with %q", k); return true }

	tx := begin(t, db, mvcc.Snapshot)
	for _, r := range [][2]string{{"b", "b"}, {"c", "b"}, {"bb", "bc"}, {"e", ""}, {"", "a"}} {
		start, end := []byte(r[0]), []byte(r[1])
		if r[1] == "" {
			end = nil
		}
		if r[0] == "" {
			start = nil
		}
		require.NoError(t, tx.ScanFunc(start, end, never), "empty range %q", r)
		require.NoError(t, tx.ScanReverseFunc(start, end, never), "empty range %q", r)
		require.Empty(t, collectKeys(tx.ScanKeys(start, end), -1), "empty range %q", r)
	}
	// A false stops the scan at once, with no error, and the
	// transaction goes on.
	for _, fn := range []func([]byte, []byte, func(k, v []byte) bool) error{tx.ScanFunc, tx.ScanReverseFunc} {
		calls := 0
		require.NoError(t, fn(nil, nil, func(_, _ []byte) bool { calls++; return calls < 2 }))
		require.Equal(t, 2, calls)
	}
	require.NoError(t, tx.Put([]byte("e"), []byte("5")))
	calls := 0
	require.NoError(t, tx.ScanFunc([]byte("d"), nil, func(_, _ []byte) bool { calls++; return false }))
	require.Equal(t, 1, calls, "stops on the store's key with own writes after it")
	require.NoError(t, tx.Err())

	// A nil fn.
	require.ErrorIs(t, tx.ScanFunc(nil, nil, nil), mvcc.ErrNilArgument)
	require.ErrorIs(t, tx.ScanReverseFunc(nil, nil, nil), mvcc.ErrNilArgument)
	require.NoError(t, tx.Err(), "a nil fn does not end the transaction")
	require.NoError(t, tx.Commit())

	// After Commit and Rollback.
	require.ErrorIs(t, tx.ScanFunc(nil, nil, never), mvcc.ErrTxnDone)
	require.ErrorIs(t, tx.ScanReverseFunc(nil, nil, never), mvcc.ErrTxnDone)
	require.Empty(t, collectKeys(tx.ScanKeys(nil, nil), -1))
	ro, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot, ReadOnly: true})
	require.NoError(t, err)
	require.NoError(t, ro.Rollback())
	require.ErrorIs(t, ro.ScanFunc(nil, nil, never), mvcc.ErrTxnDone)

	// The transaction ends during the scan: the scan stops there and says
	// so; it does not go on lending.
	for _, with := range []string{"own", "none"} {
		tx = begin(t, db, mvcc.Serializable)
		if with == "own" {
			require.NoError(t, tx.Put([]byte("bb"), []byte("own")))
		}
		var seen []string
		err = tx.ScanFunc(nil, nil, func(k, _ []byte) bool {
			seen = append(seen, string(k))
			if len(seen) == 2 {
				require.NoError(t, tx.Rollback())
			}
			return true
		})
		require.ErrorIs(t, err, mvcc.ErrTxnDone, with)
		require.Equal(t, []string{"a", "b"}, seen, with)
	}

	// A closed DB.
	tx = begin(t, db, mvcc.ReadCommitted)
	require.NoError(t, db.Close())
	require.ErrorIs(t, tx.ScanFunc(nil, nil, never), mvcc.ErrClosed)
	require.ErrorIs(t, tx.ScanReverseFunc(nil, nil, never), mvcc.ErrClosed)
	require.Empty(t, collectKeys(tx.ScanKeys(nil, nil), -1))
	require.ErrorIs(t, tx.Err(), mvcc.ErrClosed)
}

// A bit flipped in one record's value in the file: Scan, ScanReverse,
// ScanFunc and ScanReverseFunc over it end with ErrCorrupt and never yield
// that value; Get reports it; ScanKeys, which reads no value, yields
// every key. For a small value and for one past 4 KiB (overflow pages).
func TestScanAccBitFlipInValue(t *testing.T) {
	for _, size := range []int{100, 6000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "flip.db")
			db, err := mvcc.Open(path, &mvcc.Options{NoSync: true})
			require.NoError(t, err)
			m := accModel{}
			marker := bytes.Repeat([]byte("MARKER-"), size/7+1)[:size]
			require.NoError(t, db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
				for i := range 300 {
					v := accValue(i, 0)
					if i == 150 {
						v = marker
					}
					m[string(accKey(i))] = string(v)
					if err := tx.Put(accKey(i), v); err != nil {
						return err
					}
				}
				return nil
			}))
			_, err = db.Vacuum(ctx)
			require.NoError(t, err)
			require.NoError(t, db.Close())

			data, err := os.ReadFile(path)
			require.NoError(t, err)
			at := bytes.Index(data, marker)
			require.GreaterOrEqual(t, at, 0, "the value is in the file")
			require.Equal(t, -1, bytes.Index(data[at+1:], marker), "the value is in the file once")
			data[at+size/2] ^= 0x10
			require.NoError(t, os.WriteFile(path, data, 0o600))

			db, err = mvcc.Open(path, &mvcc.Options{NoSync: true})
			require.NoError(t, err)
			defer db.Close()
			damaged := string(accKey(150))
			view := func(fn func(tx *mvcc.Txn) error) error {
				tx, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot, ReadOnly: true})
				require.NoError(t, err)
				defer tx.Rollback()
				return fn(tx)
			}
			served := func(k, v string) {
				if k == damaged {
					t.Errorf("the damaged record was served: %d bytes", len(v))
				} else {
					require.Equal(t, m[k], v, "key %s", k)
				}
			}
			for _, r := range [][2][]byte{{nil, nil}, {accKey(100), accKey(200)}, {accKey(150), accKey(151)}} {
				require.ErrorIs(t, view(func(tx *mvcc.Txn) error {
					for k, v := range tx.Scan(r[0], r[1]) {
						served(string(k), string(v))
					}
					return tx.Err()
				}), mvcc.ErrCorrupt, "Scan")
				require.ErrorIs(t, view(func(tx *mvcc.Txn) error {
					for k, v := range tx.ScanReverse(r[0], r[1]) {
						served(string(k), string(v))
					}
					return tx.Err()
				}), mvcc.ErrCorrupt, "ScanReverse")
				for name, way := range map[string]func(tx *mvcc.Txn) func([]byte, []byte, func(k, v []byte) bool) error{
					"ScanFunc":        func(tx *mvcc.Txn) func([]byte, []byte, func(k, v []byte) bool) error { return tx.ScanFunc },
					"ScanReverseFunc": func(tx *mvcc.Txn) func([]byte, []byte, func(k, v []byte) bool) error { return tx.ScanReverseFunc },
				} {
					require.ErrorIs(t, view(func(tx *mvcc.Txn) error {
						err := way(tx)(r[0], r[1], func(k, v []byte) bool {
							served(string(k), string(v))
							return true
						})
						require.ErrorIs(t, tx.Err(), mvcc.ErrCorrupt, "%s: Err agrees", name)
						return err
					}), mvcc.ErrCorrupt, name)
				}
				require.NoError(t, view(func(tx *mvcc.Txn) error {
					want := kvKeys(m.in(r[0], r[1]))
					require.Equal(t, want, collectKeys(tx.ScanKeys(r[0], r[1]), -1), "ScanKeys reads no value")
					return tx.Err()
				}))
			}
			require.ErrorIs(t, view(func(tx *mvcc.Txn) error {
				_, err := tx.Get([]byte(damaged))
				return err
			}), mvcc.ErrCorrupt, "Get")
			require.NoError(t, view(func(tx *mvcc.Txn) error {
				v, err := tx.Get(accKey(149))
				require.Equal(t, m[string(accKey(149))], string(v))
				return err
			}), "a sound neighbour")
			require.ErrorIs(t, db.Check(ctx), mvcc.ErrCorrupt, "Check finds it")
		})
	}
}

// fn may use its transaction: read, scan again (nested scans lend memory
// of their own, so the outer step's slices stay valid), write (the
// running scan yields what it would have without the write, the next scan
// sees it), commit (the scan stops there with ErrTxnDone), or panic (the
// panic is the caller's; the transaction and later scans go on).
func TestScanAccReentrant(t *testing.T) {
	db, _ := ctOpen(t, nil)
	ctPut(t, db, "a", "1", "b", "2", "c", "3", "d", "4")
	for _, level := range []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable} {
		t.Run(level.String(), func(t *testing.T) {
			tx := begin(t, db, level)
			defer tx.Rollback()
			var got []kv
			require.NoError(t, tx.ScanFunc(nil, nil, func(k, v []byte) bool {
				ks, vs := string(k), string(v)
				inner := accFunc(t, tx.ScanReverseFunc, nil, nil, -1)
				require.Len(t, inner, 4+len(got))
				require.Len(t, collectKeys(tx.ScanKeys([]byte("a"), []byte("e")), -1), 4+len(got))
				got2, err := tx.Get(k)
				require.NoError(t, err)
				require.Equal(t, vs, string(got2))
				require.Equal(t, ks, string(k), "the outer key survived the nested scans")
				require.Equal(t, vs, string(v), "the outer value survived the nested scans")
				require.NoError(t, tx.Put(append([]byte(ks), '+'), []byte("w")))
				got = append(got, kv{ks, vs})
				return true
			}))
			require.Equal(t, []kv{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}}, got, "writes during the scan are not yielded by it")
			require.Len(t, collect(tx.Scan(nil, nil), -1), 8, "the next scan sees them")

			func() {
				defer func() { require.Equal(t, "caller's", recover()) }()
				_ = tx.ScanFunc(nil, nil, func(_, _ []byte) bool { panic("caller's") })
			}()
			require.NoError(t, tx.Err())
			require.Len(t, accFunc(t, tx.ScanFunc, nil, nil, -1), 8)
		})
	}
	tx := begin(t, db, mvcc.Snapshot)
	calls := 0
	err := tx.ScanFunc(nil, nil, func(_, _ []byte) bool {
		calls++
		require.NoError(t, tx.Commit())
		return true
	})
	require.ErrorIs(t, err, mvcc.ErrTxnDone, "the scan stopped at the commit")
	require.Equal(t, 1, calls)
}

// Scans of a snapshot while writers commit, the checkpointer applies,
// vacuum runs and versions spill: every block of keys is written whole by
// one transaction (every key the same generation, or every key deleted),
// so a snapshot's scan must see each block whole, and ScanFunc,
// ScanReverseFunc and ScanKeys must see exactly what Scan sees in the
// same transaction.
func TestScanAccConcurrentCommits(t *testing.T) {
	const blocks, per = 20, 100
	commits := 400
	if testing.Short() {
		commits = 120
	}
	ctx := context.Background()
	db, err := mvcc.Open(filepath.Join(t.TempDir(), "c.db"), &mvcc.Options{
		NoSync: true, VersionMemoryLimit: 64 << 10, CheckpointBytes: 16 << 10,
		AutovacuumThreshold: 50, AutovacuumInterval: time.Millisecond,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	checkAtEnd(t, db)
	key := func(b, i int) []byte { return fmt.Appendf(nil, "blk%02d/%03d", b, i) }
	write := func(b, gen int) error {
		return db.Update(ctx, mvcc.ReadCommitted, func(tx *mvcc.Txn) error {
			for i := range per {
				var err error
				if gen%5 == 4 {
					err = tx.Delete(key(b, i))
				} else {
					v := fmt.Appendf(nil, "%d/", gen)
					v = append(v, bytes.Repeat([]byte{byte(i)}, (gen*7+i)%200)...)
					err = tx.Put(key(b, i), v)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	for b := range blocks {
		require.NoError(t, write(b, 0))
	}
	done := make(chan struct{})
	writeErr := make(chan error, 1)
	go func() {
		defer close(done)
		for g := 1; g <= commits; g++ {
			if err := write(g%blocks, g); err != nil {
				writeErr <- err
				return
			}
		}
	}()
	// whole checks that each block is whole in a scan's keys and values.
	whole := func(list []kv, withValues bool) error {
		gens := map[string]string{}
		count := map[string]int{}
		for _, e := range list {
			blk := e.k[:5]
			count[blk]++
			if !withValues {
				continue
			}
			g, _, _ := strings.Cut(e.v, "/")
			if prev, ok := gens[blk]; ok && prev != g {
				return fmt.Errorf("block %s mixes generations %s and %s", blk, prev, g)
			}
			gens[blk] = g
		}
		for blk, c := range count {
			if c != per {
				return fmt.Errorf("block %s has %d keys of %d", blk, c, per)
			}
		}
		return nil
	}
	levels := []mvcc.Level{mvcc.Snapshot, mvcc.Serializable, mvcc.ReadCommitted}
	for round := 0; ; round++ {
		finished := false
		select {
		case <-done:
			finished = true
		default:
		}
		level := levels[round%len(levels)]
		tx, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: level, ReadOnly: true})
		require.NoError(t, err)
		lo, hi := key(round%blocks, 0), key((round+7)%blocks, 50)
		if bytes.Compare(lo, hi) > 0 {
			lo, hi = nil, nil
		}
		scan := collect(tx.Scan(nil, nil), -1)
		require.NoError(t, whole(scan, true), "Scan at %v", level)
		if level != mvcc.ReadCommitted { // a read committed statement reads the newest commits
			require.Equal(t, scan, accFunc(t, tx.ScanFunc, nil, nil, -1), "ScanFunc at %v", level)
			require.Equal(t, accReversed(scan), accFunc(t, tx.ScanReverseFunc, nil, nil, -1), "ScanReverseFunc at %v", level)
			require.Equal(t, kvKeys(scan), collectKeys(tx.ScanKeys(nil, nil), -1), "ScanKeys at %v", level)
			require.Equal(t, collect(tx.Scan(lo, hi), -1), accFunc(t, tx.ScanFunc, lo, hi, -1), "ScanFunc [%q, %q) at %v", lo, hi, level)
		} else {
			require.NoError(t, whole(accFunc(t, tx.ScanFunc, nil, nil, -1), true), "ScanFunc at %v", level)
			require.NoError(t, whole(accReversed(accFunc(t, tx.ScanReverseFunc, nil, nil, -1)), true), "ScanReverseFunc at %v", level)
			var keys []kv
			for _, k := range collectKeys(tx.ScanKeys(nil, nil), -1) {
				keys = append(keys, kv{k: k})
			}
			require.NoError(t, whole(keys, false), "ScanKeys at %v", level)
		}
		require.NoError(t, tx.Err())
		require.NoError(t, tx.Rollback())
		if finished {
			break
		}
	}
	select {
	case err := <-writeErr:
		require.NoError(t, err)
	default:
	}
}

// A transaction that ends during its scan (fn commits it, rolls it back,
// or closes the DB) ends the scan at that step: no further key is yielded,
// neither the store's nor the transaction's own writes (those past the
// store's last key included), whether the data is in memory or in the
// file; ScanFunc returns the error Err reports.
func TestScanAccStopsWhenTxnEnds(t *testing.T) {
	ctx := context.Background()
	ways := []string{"Scan", "ScanReverse", "ScanFunc", "ScanReverseFunc", "ScanKeys"}
	for _, end := range []string{"Rollback", "Commit", "Close"} {
		for _, vacuumed := range []bool{false, true} {
			for _, own := range []string{"none", "after", "among"} {
				for _, way := range ways {
					t.Run(fmt.Sprintf("%s/vacuumed=%v/own=%s/%s", end, vacuumed, own, way), func(t *testing.T) {
						db, _ := ctOpen(t, nil)
						var kvs []string
						for i := range 300 {
							kvs = append(kvs, string(accKey(i)), "v")
						}
						ctPut(t, db, kvs...)
						if vacuumed {
							_, err := db.Vacuum(ctx)
							require.NoError(t, err)
						}
						tx := begin(t, db, mvcc.Snapshot)
						defer tx.Rollback()
						switch own {
						case "after": // past the store's keys at either end
							require.NoError(t, tx.Put([]byte("zz1"), []byte("own")))
							require.NoError(t, tx.Put([]byte("zz2"), []byte("own")))
							require.NoError(t, tx.Put([]byte("a1"), []byte("own")))
							require.NoError(t, tx.Put([]byte("a2"), []byte("own")))
						case "among":
							for i := 0; i < 300; i += 3 {
								require.NoError(t, tx.Put(append(accKey(i), '+'), []byte("own")))
							}
						}
						const at = 5
						var stop int
						if own == "after" {
							stop = 303 // the scan ends among the own writes past the store's keys
						} else {
							stop = at
						}
						n := 0
						step := func(_, _ []byte) bool {
							n++
							if n == stop {
								switch end {
								case "Rollback":
									require.NoError(t, tx.Rollback())
								case "Commit":
									require.NoError(t, tx.Commit())
								default:
									require.NoError(t, db.Close())
								}
							}
							return true
						}
						var err error
						switch way {
						case "Scan":
							for k, v := range tx.Scan(nil, nil) {
								step(k, v)
							}
							err = tx.Err()
						case "ScanReverse":
							for k, v := range tx.ScanReverse(nil, nil) {
								step(k, v)
							}
							err = tx.Err()
						case "ScanFunc":
							err = tx.ScanFunc(nil, nil, step)
							require.Equal(t, tx.Err(), err)
						case "ScanReverseFunc":
							err = tx.ScanReverseFunc(nil, nil, step)
							require.Equal(t, tx.Err(), err)
						default:
							for k := range tx.ScanKeys(nil, nil) {
								step(k, nil)
							}
							err = tx.Err()
						}
						require.Equal(t, stop, n, "keys yielded after the transaction ended")
						if end == "Close" {
							require.ErrorIs(t, err, mvcc.ErrClosed)
						} else {
							require.ErrorIs(t, err, mvcc.ErrTxnDone)
						}
					})
				}
			}
		}
	}
}

// A serialization failure a Serializable scan finds (its read of a key
// written by a committed pivot whose own out-conflict committed first)
// does not cut the scan short: every key is yielded, then ScanFunc and
// ScanReverseFunc return it (ErrConflict), as Err does after Scan and
// ScanKeys.
func TestScanAccSerializationFailure(t *testing.T) {
	for _, way := range []string{"Scan", "ScanFunc", "ScanReverseFunc", "ScanKeys"} {
		t.Run(way, func(t *testing.T) {
			db, _ := ctOpen(t, nil)
			ctPut(t, db, "a", "1", "k", "1", "m", "1", "y", "1")
			t1 := begin(t, db, mvcc.Serializable)
			defer t1.Rollback()
			t2 := begin(t, db, mvcc.Serializable)
			t3 := begin(t, db, mvcc.Serializable)
			_, err := t2.Get([]byte("y"))
			require.NoError(t, err)
			require.NoError(t, t3.Put([]byte("y"), []byte("3")))
			require.NoError(t, t3.Commit())
			require.NoError(t, t2.Put([]byte("k"), []byte("2")))
			require.NoError(t, t2.Commit())
			var keys []string
			step := func(k, _ []byte) bool { keys = append(keys, string(k)); return true }
			switch way {
			case "Scan":
				for k, v := range t1.Scan([]byte("a"), []byte("x")) {
					step(k, v)
				}
				err = t1.Err()
			case "ScanFunc":
				err = t1.ScanFunc([]byte("a"), []byte("x"), step)
			case "ScanReverseFunc":
				err = t1.ScanReverseFunc([]byte("a"), []byte("x"), step)
				slices.Reverse(keys)
			default:
				for k := range t1.ScanKeys([]byte("a"), []byte("x")) {
					step(k, nil)
				}
				err = t1.Err()
			}
			require.Equal(t, []string{"a", "k", "m"}, keys, "the snapshot's keys, all of them")
			require.ErrorIs(t, err, mvcc.ErrConflict)
			require.ErrorIs(t, t1.Commit(), mvcc.ErrConflict)
		})
	}
}

// Under Locking, a scan whose range lock cannot be had (its wait ended by
// the transaction's context) fails before lending anything: the context's
// end rolls the transaction back, ScanFunc and ScanReverseFunc return
// ErrTxnDone and the context's error, ScanKeys yields nothing, and Err
// and Commit report the same, whichever saw the context's end first: the
// wait or the transaction's watch of its context.
func TestScanAccLockWaitFails(t *testing.T) {
	never := func(k, _ []byte) bool { panic(fmt.Sprintf("fn called with %q", k)) }
	for _, way := range []string{"ScanFunc", "ScanReverseFunc", "ScanKeys", "GetForUpdate", "Commit"} {
		t.Run(way, func(t *testing.T) {
			db, _ := ctOpen(t, nil)
			ctPut(t, db, "a", "1", "b", "1", "c", "1")
			holder := beginLocking(t, db)
			defer holder.Rollback()
			require.NoError(t, holder.Put([]byte("b"), []byte("2"))) // an exclusive lock on b
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			l, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: way != "Commit"})
			require.NoError(t, err)
			defer l.Rollback()
			if way == "Commit" { // a plain writer waits at Commit for the lock on b
				require.NoError(t, l.Put([]byte("b"), []byte("3")))
			}
			res := goDo(func() error {
				switch way {
				case "ScanFunc":
					return l.ScanFunc([]byte("a"), []byte("c"), never)
				case "ScanReverseFunc":
					return l.ScanReverseFunc([]byte("a"), []byte("c"), never)
				case "GetForUpdate":
					_, err := l.GetForUpdate([]byte("b"))
					return err
				case "Commit":
					return l.Commit()
				default:
					for k := range l.ScanKeys([]byte("a"), []byte("c")) {
						never(k, nil)
					}
					return l.Err()
				}
			})
			waitForWaiters(t, db, 1)
			cancel()
			err = await(t, res).err
			require.ErrorIs(t, err, mvcc.ErrTxnDone)
			require.ErrorIs(t, err, context.Canceled)
			require.ErrorIs(t, l.Err(), mvcc.ErrTxnDone)
			require.ErrorIs(t, l.Err(), context.Canceled)
			require.ErrorIs(t, l.Commit(), context.Canceled)
			require.NoError(t, holder.Rollback())
			require.Zero(t, db.Stats().LocksHeld, "nothing of the ended transaction is held")
			require.Zero(t, db.Stats().ActiveTxns, "nothing of the ended transaction is held")
		})
	}
}
