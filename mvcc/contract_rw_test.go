package mvcc_test

// Black-box tests of what transactions read and write: isolation levels'
// read semantics, write-write conflicts, own writes in Get and Scan, Scan's
// bounds and ordering, and the lifetime of returned slices.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

func getStr(t testing.TB, tx *mvcc.Txn, key string) string {
	t.Helper()
	v, err := tx.Get([]byte(key))
	if errors.Is(err, mvcc.ErrNotFound) {
		return "<absent>"
	}
	require.NoError(t, err)
	return string(v)
}

func TestReadSemanticsByLevel(t *testing.T) {
	// A transaction reads, then another commits changes; what the first
	// reads next depends on its level: read committed sees the newest
	// committed data at each read, snapshot and serializable keep the
	// snapshot taken at Begin.
	tests := []struct {
		level   mvcc.Level
		seesNew bool
	}{
		{mvcc.ReadCommitted, true},
		{mvcc.Snapshot, false},
		{mvcc.Serializable, false},
	}
	for _, tt := range tests {
		t.Run(tt.level.String(), func(t *testing.T) {
			db, _ := ctOpen(t, nil)
			ctPut(t, db, "k", "v1", "gone", "g1", "stay", "s1")
			tx, err := db.Begin(tt.level)
			require.NoError(t, err)
			defer tx.Rollback()
			require.Equal(t, "v1", getStr(t, tx, "k"))
			require.Equal(t, []string{"gone=g1", "k=v1", "stay=s1"}, scanAll(tx, nil, nil))

			ctPut(t, db, "k", "v2", "new", "n1")
			ctDelete(t, db, "gone")

			// An uncommitted write is never seen, at any level.
			other, err := db.Begin(mvcc.ReadCommitted)
			require.NoError(t, err)
			require.NoError(t, other.Put([]byte("dirty"), []byte("x")))
			require.NoError(t, other.Put([]byte("stay"), []byte("dirty")))

			if tt.seesNew {
				assert.Equal(t, "v2", getStr(t, tx, "k"))
				assert.Equal(t, "n1", getStr(t, tx, "new"))
				assert.Equal(t, "<absent>", getStr(t, tx, "gone"))
				assert.Equal(t, []string{"k=v2", "new=n1", "stay=s1"}, scanAll(tx, nil, nil))
			} else {
				assert.Equal(t, "v1", getStr(t, tx, "k"))
				assert.Equal(t, "<absent>", getStr(t, tx, "new"))
				assert.Equal(t, "g1", getStr(t, tx, "gone"))
				assert.Equal(t, []string{"gone=g1", "k=v1", "stay=s1"}, scanAll(tx, nil, nil))
			}
			assert.Equal(t, "<absent>", getStr(t, tx, "dirty"))
			assert.Equal(t, "s1", getStr(t, tx, "stay"))
			require.NoError(t, other.Rollback())
			require.NoError(t, tx.Commit(), "a read-only use of any level commits")
		})
	}
}

func TestWriteWriteConflict(t *testing.T) {
	// Two concurrent transactions write the same key. Under read committed
	// both commit and the last committer wins; under snapshot and
	// serializable the first committer wins and the other gets ErrConflict
	// (from the write or from Commit), after which it is finished.
	type order int
	const (
		otherCommitsBeforeWrite order = iota // the loser's write comes after the winner's commit
		otherCommitsAfterWrite               // the loser wrote first, the winner committed first
	)
	writes := []struct {
		name string
		do   func(tx *mvcc.Txn) error
		want string // the key's value if this write wins
	}{
		{"put", func(tx *mvcc.Txn) error { return tx.Put([]byte("k"), []byte("loser")) }, "loser"},
		{"delete", func(tx *mvcc.Txn) error { return tx.Delete([]byte("k")) }, "<absent>"},
	}
	for _, level := range levels {
		for _, w := range writes {
			for _, ord := range []order{otherCommitsBeforeWrite, otherCommitsAfterWrite} {
				name := fmt.Sprintf("%s/%s/order%d", level, w.name, ord)
				t.Run(name, func(t *testing.T) {
					db, _ := ctOpen(t, nil)
					ctPut(t, db, "k", "base", "other", "o")
					loser, err := db.Begin(level)
					require.NoError(t, err)
					winner, err := db.Begin(level)
					require.NoError(t, err)
					require.NoError(t, winner.Put([]byte("k"), []byte("winner")))

					var werr, cerr error
					if ord == otherCommitsBeforeWrite {
						require.NoError(t, winner.Commit())
						werr = w.do(loser)
					} else {
						werr = w.do(loser)
						require.NoError(t, werr)
						require.NoError(t, winner.Commit())
					}
					if werr == nil {
						cerr = loser.Commit()
					}
					final := dump(t, db)
					if level == mvcc.ReadCommitted {
						require.NoError(t, werr)
						require.NoError(t, cerr)
						v := w.want
						if v == "<absent>" {
							assert.Equal(t, []string{"other=o"}, final)
						} else {
							assert.Equal(t, []string{"k=" + v, "other=o"}, final, "last committer wins")
						}
						return
					}
					err = werr
					if err == nil {
						err = cerr
					}
					require.ErrorIs(t, err, mvcc.ErrConflict)
					assert.NotErrorIs(t, err, mvcc.ErrDeadlock)
					assert.Equal(t, []string{"k=winner", "other=o"}, final, "first committer wins")
					_, gerr := loser.Get([]byte("other"))
					assert.ErrorIs(t, gerr, mvcc.ErrTxnDone)
					assert.ErrorIs(t, loser.Commit(), mvcc.ErrTxnDone)
					assert.ErrorIs(t, loser.Rollback(), mvcc.ErrTxnDone)
				})
			}
		}
	}
}

func TestDisjointWritesNeverConflict(t *testing.T) {
	// Transactions that touch disjoint keys and ranges commit at every
	// level, however they interleave.
	for _, level := range levels {
		t.Run(level.String(), func(t *testing.T) {
			db, _ := ctOpen(t, nil)
			ctPut(t, db, "a/1", "0", "b/1", "0")
			var txs []*mvcc.Txn
			for _, p := range []string{"a/", "b/", "c/"} {
				tx, err := db.Begin(level)
				require.NoError(t, err)
				_, _ = tx.Get([]byte(p + "1"))
				_ = scanAll(tx, []byte(p), []byte(p+"\xff"))
				require.NoError(t, tx.Put([]byte(p+"1"), []byte("1")))
				require.NoError(t, tx.Put([]byte(p+"2"), []byte("1")))
				txs = append(txs, tx)
			}
			for _, tx := range txs {
				require.NoError(t, tx.Commit())
			}
			assert.Equal(t, []string{"a/1=1", "a/2=1", "b/1=1", "b/2=1", "c/1=1", "c/2=1"}, dump(t, db))
		})
	}
}

func TestOwnWrites(t *testing.T) {
	for _, level := range levels {
		t.Run(level.String(), func(t *testing.T) {
			db, _ := ctOpen(t, nil)
			ctPut(t, db, "a", "1", "b", "2", "c", "3", "d", "4")
			tx, err := db.Begin(level)
			require.NoError(t, err)
			steps := []struct {
				op, key, val string
			}{
				{"put", "b", "B"},   // overwrite a committed key
				{"del", "c", ""},    // delete a committed key
				{"put", "bb", "BB"}, // insert between committed keys
				{"put", "e", "E"},   // insert after the last
				{"put", "0", "Z"},   // insert before the first
				{"put", "a", "A"},
				{"put", "a", "A2"}, // overwrite an own write
				{"put", "f", "F"},
				{"del", "f", ""}, // delete an own insert
				{"del", "d", ""},
				{"put", "d", "D2"}, // re-put after an own delete
				{"del", "zz", ""},  // delete of an absent key: no error
				{"put", "empty", ""},
			}
			for _, s := range steps {
				if s.op == "put" {
					require.NoError(t, tx.Put([]byte(s.key), []byte(s.val)))
				} else {
					require.NoError(t, tx.Delete([]byte(s.key)))
				}
			}
			want := map[string]string{
				"0": "Z", "a": "A2", "b": "B", "bb": "BB", "c": "<absent>", "d": "D2",
				"e": "E", "f": "<absent>", "zz": "<absent>", "empty": "",
			}
			for k, v := range want {
				assert.Equal(t, v, getStr(t, tx, k), "Get(%q)", k)
			}
			all := []string{"0=Z", "a=A2", "b=B", "bb=BB", "d=D2", "e=E", "empty="}
			assert.Equal(t, all, scanAll(tx, nil, nil))
			assert.Equal(t, []string{"b=B", "bb=BB"}, scanAll(tx, []byte("b"), []byte("c")))
			assert.Equal(t, []string{"bb=BB", "d=D2"}, scanAll(tx, []byte("bb"), []byte("d\x00")))
			assert.Equal(t, []string{"d=D2", "e=E", "empty="}, scanAll(tx, []byte("c"), nil))
			assert.Equal(t, []string{"0=Z", "a=A2"}, scanAll(tx, nil, []byte("b")))

			// Nobody else sees them before Commit, everybody after.
			assert.Equal(t, []string{"a=1", "b=2", "c=3", "d=4"}, dump(t, db))
			require.NoError(t, tx.Commit())
			assert.Equal(t, all, dump(t, db))
		})
	}
}

func TestReadCommittedSeesOwnWritesOverNewerCommits(t *testing.T) {
	db, _ := ctOpen(t, nil)
	ctPut(t, db, "k", "base", "j", "base")
	tx, err := db.Begin(mvcc.ReadCommitted)
	require.NoError(t, err)
	require.NoError(t, tx.Put([]byte("k"), []byte("mine")))
	require.NoError(t, tx.Delete([]byte("j")))
	ctPut(t, db, "k", "theirs", "j", "theirs", "l", "theirs")
	assert.Equal(t, "mine", getStr(t, tx, "k"), "own write shadows a newer commit")
	assert.Equal(t, "<absent>", getStr(t, tx, "j"))
	assert.Equal(t, []string{"k=mine", "l=theirs"}, scanAll(tx, nil, nil))
	require.NoError(t, tx.Commit())
	assert.Equal(t, []string{"k=mine", "l=theirs"}, dump(t, db), "last committer wins")
}

func TestScanBounds(t *testing.T) {
	db, _ := ctOpen(t, nil)
	keys := []string{"\x00", "a", "a\x00", "ab", "b", "ba", "c", "\xff", "\xff\xff"}
	var kvs []string
	for _, k := range keys {
		kvs = append(kvs, k, "v")
	}
	ctPut(t, db, kvs...)
	b := func(s string) []byte { return []byte(s) }
	tests := []struct {
		name       string
		start, end []byte
		want       []string
	}{
		{"unbounded", nil, nil, keys},
		{"empty start is unbounded", []byte{}, nil, keys},
		{"start inclusive", b("a"), nil, keys[1:]},
		{"end exclusive", nil, b("b"), keys[:4]},
		{"a prefix range", b("a"), b("b"), []string{"a", "a\x00", "ab"}},
		{"start between keys", b("a\x01"), b("c"), []string{"ab", "b", "ba"}},
		{"end just after a key", nil, b("a\x00\x00"), []string{"\x00", "a", "a\x00"}},
		{"single key", b("b"), b("b\x00"), []string{"b"}},
		{"start == end", b("b"), b("b"), nil},
		{"start > end", b("c"), b("a"), nil},
		{"high bytes", b("\xff"), nil, []string{"\xff", "\xff\xff"}},
		{"past everything", b("\xff\xff\x00"), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := db.Begin(mvcc.Snapshot)
			require.NoError(t, err)
			defer tx.Rollback()
			var got []string
			for k, v := range tx.Scan(tt.start, tt.end) {
				require.Equal(t, "v", string(v))
				got = append(got, string(k))
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// model is the expected content of a transaction's view: committed data
// plus its own writes.
type model map[string]string

func (m model) scan(start, end []byte) []string {
	var out []string
	for k, v := range m {
		if (start == nil || k >= string(start)) && (end == nil || k < string(end)) {
			out = append(out, k+"="+v)
		}
	}
	sort.Strings(out)
	return out
}

func TestScanMatchesModel(t *testing.T) {
	// Random committed data and random own writes (puts, overwrites,
	// deletes) across several of the index's scan chunks; every Scan with
	// random bounds, and every early break, must match the model.
	rng := rand.New(rand.NewPCG(1, 2))
	key := func() string { return fmt.Sprintf("k%03d", rng.IntN(400)) }
	for _, level := range levels {
		t.Run(level.String(), func(t *testing.T) {
			db, _ := ctOpen(t, nil)
			committed := model{}
			for round := 0; round < 5; round++ {
				var kvs []string
				for i := 0; i < 60; i++ {
					k, v := key(), fmt.Sprintf("c%d", rng.IntN(1000))
					kvs = append(kvs, k, v)
				}
				ctPut(t, db, kvs...)
				for i := 0; i < len(kvs); i += 2 {
					committed[kvs[i]] = kvs[i+1]
				}
				var dels []string
				for i := 0; i < 15; i++ {
					k := key()
					dels = append(dels, k)
					delete(committed, k)
				}
				ctDelete(t, db, dels...)
			}
			tx, err := db.Begin(level)
			require.NoError(t, err)
			defer tx.Rollback()
			view := model{}
			for k, v := range committed {
				view[k] = v
			}
			for i := 0; i < 300; i++ {
				k := key()
				if rng.IntN(3) == 0 {
					require.NoError(t, tx.Delete([]byte(k)))
					delete(view, k)
				} else {
					v := fmt.Sprintf("t%d", i)
					require.NoError(t, tx.Put([]byte(k), []byte(v)))
					view[k] = v
				}
			}
			require.Equal(t, view.scan(nil, nil), scanAll(tx, nil, nil))
			for i := 0; i < 50; i++ {
				var start, end []byte
				if rng.IntN(4) > 0 {
					start = []byte(key())
				}
				if rng.IntN(4) > 0 {
					end = []byte(key())
				}
				want := view.scan(start, end)
				require.Equal(t, want, scanAll(tx, start, end), "Scan(%q, %q)", start, end)
				// Breaking out after n items yields exactly the first n.
				n := 0
				if len(want) > 0 {
					n = rng.IntN(len(want) + 1)
				}
				var got []string
				for k, v := range tx.Scan(start, end) {
					if len(got) == n {
						break
					}
					got = append(got, string(k)+"="+string(v))
				}
				require.Len(t, got, n)
				if n > 0 {
					require.Equal(t, want[:n], got)
				}
			}
		})
	}
}

func TestScanBreakAndWriteInsideLoop(t *testing.T) {
	db, _ := ctOpen(t, nil)
	ctPut(t, db, "a", "1", "b", "2", "c", "3")
	tx, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	require.NoError(t, tx.Put([]byte("bb"), []byte("own")))
	// Writing and reading inside the loop neither deadlocks nor disturbs
	// the walk's order.
	var seen []string
	for k := range tx.Scan(nil, nil) {
		seen = append(seen, string(k))
		require.NoError(t, tx.Put(append([]byte("z"), k...), []byte("copy")))
		_, _ = tx.Get(k)
	}
	assert.True(t, slices.IsSorted(seen), "%q", seen)
	assert.Subset(t, seen, []string{"a", "b", "bb", "c"})
	// An early break releases whatever the loop held: the transaction
	// goes on working.
	for range tx.Scan(nil, nil) {
		break
	}
	require.NoError(t, tx.Put([]byte("after"), []byte("x")))
	require.NoError(t, tx.Commit())
	assert.Contains(t, dump(t, db), "za=copy")
}

func TestSlicesStayValid(t *testing.T) {
	db, _ := ctOpen(t, nil)
	// The engine keeps its own copies of what it is given: the caller may
	// reuse its buffers after Put returns.
	kbuf, vbuf := []byte("key1"), []byte("value1")
	require.NoError(t, db.Update(nil, mvcc.Snapshot, func(tx *mvcc.Txn) error { //nolint:staticcheck // nil ctx is accepted
		if err := tx.Put(kbuf, vbuf); err != nil {
			return err
		}
		copy(kbuf, "XXXX")
		copy(vbuf, "YYYYYY")
		return tx.Put([]byte("key2"), []byte("value2"))
	}))
	require.Equal(t, []string{"key1=value1", "key2=value2"}, dump(t, db))

	// Slices returned or yielded stay valid after the transaction ends and
	// after later commits overwrite and delete their keys.
	tx, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	got, err := tx.Get([]byte("key1"))
	require.NoError(t, err)
	var ks, vs [][]byte
	for k, v := range tx.Scan(nil, nil) {
		ks, vs = append(ks, k), append(vs, v)
	}
	require.NoError(t, tx.Put([]byte("key3"), []byte("own")))
	own, err := tx.Get([]byte("key3"))
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	for i := 0; i < 20; i++ {
		ctPut(t, db, "key1", fmt.Sprintf("new%02d", i), "key2", "x", "key3", "y")
	}
	ctDelete(t, db, "key1", "key2", "key3")
	assert.Equal(t, "value1", string(got))
	assert.Equal(t, "own", string(own))
	require.Len(t, ks, 2)
	assert.Equal(t, "key1", string(ks[0]))
	assert.Equal(t, "value1", string(vs[0]))
	assert.Equal(t, "key2", string(ks[1]))
	assert.Equal(t, "value2", string(vs[1]))
}
