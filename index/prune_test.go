package index_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/index"
)

type op struct {
	key string
	ts  uint64
	del bool
}

func pput(k string, ts uint64) op { return op{key: k, ts: ts} }
func pdel(k string, ts uint64) op { return op{key: k, ts: ts, del: true} }

// build adds the ops with their values in memory ("key@ts"; a tombstone
// has none).
func build(ops []op) *index.Index {
	ix := index.New()
	for _, o := range ops {
		v := index.Version{TS: o.ts, Tombstone: o.del}
		if !o.del {
			v.Value = fmt.Appendf(nil, "%s@%d", o.key, o.ts)
		}
		ix.Add([]byte(o.key), v)
	}
	return ix
}

// pruneAll prunes until no work is left and returns the sum of the
// results (More: whether any call reported more) and the number of calls.
func pruneAll(ix *index.Index, horizon uint64, limit int) (sum index.PruneResult, calls int) {
	for {
		r := ix.Prune(horizon, limit)
		calls++
		sum.VersionsRemoved += r.VersionsRemoved
		sum.Released += r.Released
		sum.BytesFreed += r.BytesFreed
		sum.KeysExamined += r.KeysExamined
		sum.VersionsExamined += r.VersionsExamined
		sum.KeysRemoved += r.KeysRemoved
		if !r.More {
			return sum, calls
		}
		sum.More = true
	}
}

func TestPrune(t *testing.T) {
	tests := []struct {
		name      string
		ops       []op
		horizon   uint64
		removed   int64 // dead versions gone
		released  int64 // all versions gone from memory
		keysGone  int64 // deleted keys whose tombstone went
		held      map[string][]uint64
		garbage   int64 // left
		versions  int64 // left
		bytesFree int64
	}{
		{"single put leaves memory", []op{pput("a", 1)}, 10, 0, 1, 0, nil, 0, 0, 3},
		{"single put above horizon stays", []op{pput("a", 5)}, 4, 0, 0, 0, map[string][]uint64{"a": {5}}, 0, 1, 0},
		{"overwrites: the whole key leaves", []op{pput("a", 1), pput("a", 2), pput("a", 3)}, 10, 2, 3, 0, nil, 0, 0, 9},
		{"horizon on the newest", []op{pput("a", 1), pput("a", 3)}, 3, 1, 2, 0, nil, 0, 0, 6},
		{"horizon keeps the version it sees", []op{pput("a", 1), pput("a", 2), pput("a", 5)}, 3, 1, 1, 0,
			map[string][]uint64{"a": {2, 5}}, 1, 2, 3},
		{"horizon below every overwrite", []op{pput("a", 1), pput("a", 5)}, 4, 0, 0, 0, map[string][]uint64{"a": {1, 5}}, 1, 2, 0},
		{"delete drops the key", []op{pput("a", 1), pput("a", 2), pdel("a", 3)}, 3, 3, 3, 1, nil, 0, 0, 6},
		{"delete above horizon waits", []op{pput("a", 1), pdel("a", 3)}, 2, 0, 0, 0, map[string][]uint64{"a": {1, 3}}, 2, 2, 0},
		{"tombstone visible at the horizon goes", []op{pput("a", 1), pdel("a", 2), pput("a", 4)}, 3, 2, 2, 0,
			map[string][]uint64{"a": {4}}, 0, 1, 3},
		{"lone tombstone", []op{pdel("a", 2)}, 2, 1, 1, 1, nil, 0, 0, 0},
		{"keys are independent", []op{pput("a", 1), pput("b", 2), pput("a", 3), pdel("b", 4), pput("c", 5)}, 3, 1, 2, 0,
			map[string][]uint64{"b": {2, 4}, "c": {5}}, 2, 3, 6},
		{"all keys leave", []op{pput("a", 1), pput("b", 2), pput("a", 3), pdel("b", 4), pput("c", 5)}, 9, 3, 5, 1, nil, 0, 0, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := build(tt.ops)
			r, _ := pruneAll(ix, tt.horizon, 1000)
			assert.Equal(t, tt.removed, r.VersionsRemoved, "VersionsRemoved")
			assert.Equal(t, tt.released, r.Released, "Released")
			assert.Equal(t, tt.keysGone, r.KeysRemoved, "KeysRemoved")
			assert.Equal(t, tt.bytesFree, r.BytesFreed, "BytesFreed")
			held := map[string][]uint64{}
			ix.Walk(nil, nil, 0, true, func(it index.Item) bool {
				held[string(it.Key)] = it.Newer
				return true
			})
			if tt.held == nil {
				tt.held = map[string][]uint64{}
			}
			assert.Equal(t, tt.held, held)
			assert.Equal(t, len(tt.held), ix.Len())
			assert.Equal(t, tt.versions, ix.Versions())
			assert.Equal(t, tt.garbage, ix.Garbage())
			require.NoError(t, ix.Check())

			again := ix.Prune(tt.horizon, 1000)
			assert.Equal(t, index.PruneResult{}, again, "a second prune at one horizon does nothing")
		})
	}
}

func TestPruneSplitsOnlyHugeKeysOldestFirst(t *testing.T) {
	var ops []op
	for ts := uint64(1); ts <= 10; ts++ {
		ops = append(ops, pput("hot", ts))
	}
	ops = append(ops, pdel("hot", 11), pput("a", 12), pput("a", 13))
	ix := build(ops)

	// Limit 4: the hot key (11 removable: it leaves memory whole) is split,
	// oldest first, and its tombstone goes last, so every intermediate
	// state still reads it as deleted at the horizon. a does not fit in
	// the room left by hot's last piece: it waits for the next call.
	type call struct {
		Released, Removed int64
		More              bool
		Hot, A            []uint64
	}
	var calls []call
	for {
		r := ix.Prune(20, 4)
		calls = append(calls, call{r.Released, r.VersionsRemoved, r.More, heldTS(ix, "hot"), heldTS(ix, "a")})
		v, visible, held := ix.Find([]byte("hot"), 20)
		require.True(t, !held || (visible && v.Tombstone), "hot reads deleted at 20")
		require.NoError(t, ix.Check())
		if !r.More {
			break
		}
	}
	require.Equal(t, []call{
		{4, 4, true, []uint64{5, 6, 7, 8, 9, 10, 11}, []uint64{12, 13}},
		{4, 4, true, []uint64{9, 10, 11}, []uint64{12, 13}},
		{3, 3, true, nil, []uint64{12, 13}},
		{2, 1, false, nil, nil},
	}, calls)
	assert.Equal(t, 0, ix.Len())
	assert.Equal(t, int64(0), ix.Versions())
	assert.Equal(t, int64(0), ix.Garbage())

	// A key that fits in a call is never split.
	ix = build([]op{pput("x", 1), pput("x", 2), pput("x", 3), pput("y", 4), pput("y", 5), pput("y", 6)})
	r := ix.Prune(10, 4)
	assert.Equal(t, int64(3), r.Released)
	assert.True(t, r.More)
	assert.Equal(t, []uint64{4, 5, 6}, heldTS(ix, "y"))
	r = ix.Prune(10, 4)
	assert.Equal(t, int64(3), r.Released)
	assert.False(t, r.More)
	require.NoError(t, ix.Check())
}

func TestPruneHotKeyOncePerPass(t *testing.T) {
	ix := index.New()
	for ts := uint64(1); ts <= 5000; ts++ {
		ix.Add([]byte("hot"), index.Version{TS: ts, Value: []byte("v")})
	}
	require.Equal(t, int64(4999), ix.Garbage())
	require.Equal(t, int64(5000), ix.Reclaimable(5000))
	require.Equal(t, int64(100), ix.Reclaimable(100), "it counts the version kept at the horizon too")

	// Horizon 4000: the versions below 4000 go at the first queue entry;
	// the other 3999 entries up to 4000 are stale and only skipped.
	r := ix.Prune(4000, 10000)
	assert.Equal(t, index.PruneResult{VersionsRemoved: 3999, Released: 3999, BytesFreed: 3999, KeysExamined: 1, VersionsExamined: 5000}, r)
	assert.Equal(t, int64(0), ix.Reclaimable(4000))
	assert.Equal(t, int64(1001), ix.Versions())
	v, _, _ := ix.Find([]byte("hot"), 4000)
	assert.Equal(t, uint64(4000), v.TS)

	// Horizon 5000: the key leaves memory whole; the stale entries are
	// consumed within the step budget.
	r, calls := pruneAll(ix, 5000, 10000)
	assert.Equal(t, 1, calls)
	assert.Equal(t, index.PruneResult{VersionsRemoved: 1000, Released: 1001, BytesFreed: 1001, KeysExamined: 1, VersionsExamined: 1001}, r)
	_, _, held := ix.Find([]byte("hot"), 5000)
	assert.False(t, held)
	assert.Equal(t, int64(0), ix.Reclaimable(5000))

	// The queue keeps working after it compacted: new commits count from 0.
	for ts := uint64(5001); ts <= 5010; ts++ {
		ix.Add([]byte("hot"), index.Version{TS: ts, Value: []byte("v")})
	}
	assert.Equal(t, int64(10), ix.Reclaimable(6000))
	assert.Equal(t, int64(5), ix.Reclaimable(5005))
	require.NoError(t, ix.Check())
}

func TestPruneStepBudget(t *testing.T) {
	// A small limit over a long run of stale entries: each call does a
	// bounded number of steps and reports More until the run is consumed.
	ix := index.New()
	for ts := uint64(1); ts <= 1000; ts++ {
		ix.Add([]byte("hot"), index.Version{TS: ts})
	}
	r, calls := pruneAll(ix, 1000, 10)
	assert.Equal(t, int64(1000), r.Released)
	assert.Greater(t, calls, 100, "the key leaves in pieces of 10")
	assert.Equal(t, 0, ix.Len())
	assert.Equal(t, int64(0), ix.Reclaimable(1000))
}

func TestReclaimable(t *testing.T) {
	ix := build([]op{pput("a", 1), pput("a", 2), pput("b", 3), pdel("b", 4), pput("c", 5), pput("c", 6)})
	// dead: a@1, b@3, b@4, c@5
	assert.Equal(t, int64(4), ix.Garbage())
	for h, want := range map[uint64]int64{0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 100: 6} {
		assert.Equal(t, want, ix.Reclaimable(h), "horizon %d", h)
	}
	r, _ := pruneAll(ix, 4, 1000)
	assert.Equal(t, int64(4), r.Released, "a and b leave memory")
	assert.Equal(t, int64(2), ix.Reclaimable(100))
	assert.Equal(t, int64(0), ix.Reclaimable(4))
	assert.Equal(t, int64(1), ix.Garbage())
	r, _ = pruneAll(ix, 100, 1000)
	assert.Equal(t, int64(2), r.Released)
	assert.Equal(t, int64(0), ix.Reclaimable(100))
}

func TestPruneKeyRecreated(t *testing.T) {
	// Deleted, pruned away, written again: a new key.
	ix := build([]op{pput("a", 1), pdel("a", 2)})
	r, _ := pruneAll(ix, 2, 10)
	assert.Equal(t, int64(1), r.KeysRemoved)
	require.Equal(t, 0, ix.Len())
	ix.Add([]byte("a"), index.Version{TS: 3, Value: []byte("new")})
	ix.Add([]byte("a"), index.Version{TS: 4, Value: []byte("newer")})
	r, _ = pruneAll(ix, 3, 10)
	assert.Equal(t, int64(0), r.Released, "a@3 is what snapshot 3 reads")
	r, _ = pruneAll(ix, 4, 10)
	assert.Equal(t, index.PruneResult{VersionsRemoved: 1, Released: 2, BytesFreed: 8, KeysExamined: 1, VersionsExamined: 2}, r)

	// Deleted and written again before the prune: the tombstone the
	// horizon sees goes with what it hid, not the key.
	ix = build([]op{pput("a", 1), pdel("a", 2), pput("a", 3), pput("a", 4)})
	r, _ = pruneAll(ix, 2, 10)
	assert.Equal(t, int64(2), r.VersionsRemoved)
	assert.Equal(t, int64(0), r.KeysRemoved, "the key lives on")
	assert.Equal(t, []uint64{3, 4}, heldTS(ix, "a"))

	// With the file: a key let go is written again; its chain starts with
	// the file's version.
	s := newStore(t)
	s.put("a", 1, "one")
	s.put("a", 2, "two")
	pruneAll(s.ix, 2, 10)
	require.Equal(t, 0, s.ix.Len())
	s.put("a", 5, "five")
	assert.Equal(t, []uint64{2, 5}, heldTS(s.ix, "a"))
	s.checkSnapshots(2, 5, "re-created")
	require.NoError(t, s.ix.Check())
}

func TestPruneBytesFreed(t *testing.T) {
	s := newStore(t)
	s.put("a", 1, "1234")       // InFile: no value held...
	s.put("a", 2, "123456")     // ...until superseded: a@1 gets "1234"
	s.del("a", 3)               // a@2 gets "123456"
	s.put("b", 4, "0123456789") // InFile, never superseded
	s.seed("c", 0, "file")      // in the file only
	s.put("c", 5, "x")          // c@0 gets "file" as its before-image
	r, _ := pruneAll(s.ix, 5, 100)
	assert.Equal(t, int64(4+6+4), r.BytesFreed, "held values only: InFile and tombstones hold none")
	assert.Equal(t, int64(6), r.Released)
	assert.Equal(t, int64(4), r.VersionsRemoved, "a@1, a@2, a's tombstone, c@0")
}

// TestPruneKeepsEverySnapshot is the rule itself, on random histories
// committed as the engine commits (InFile puts, before-images from the
// file, failed commits undone by Remove): after each prune at a growing
// horizon, every snapshot at or above it reads the history's truth (a key
// not held reading the file), sees exactly the newer commits, and the
// counters match a recount (Check).
func TestPruneKeepsEverySnapshot(t *testing.T) {
	for seed := range uint64(120) {
		rng := rand.New(rand.NewPCG(seed, 1))
		s := newStore(t)
		nkeys := 1 + rng.IntN(8)
		key := func() string { return string(rune('a' + rng.IntN(nkeys))) }
		for i := range nkeys {
			if rng.IntN(2) == 0 {
				s.seed(string(rune('a'+i)), 1, fmt.Sprintf("seed%d", i))
			}
		}
		last, horizon := uint64(1), uint64(1)
		msg := func(what string) string { return fmt.Sprintf("seed %d horizon %d %s", seed, horizon, what) }
		for range 80 {
			last++
			var ws []write
			seen := map[string]bool{}
			for range 1 + rng.IntN(3) {
				k := key()
				if seen[k] {
					continue
				}
				seen[k] = true
				ws = append(ws, write{key: k, val: fmt.Sprint(last, k), del: rng.IntN(4) == 0})
			}
			if rng.IntN(8) == 0 {
				s.fail(last, ws...)
			} else {
				s.commit(last, ws...)
			}
			require.NoError(t, s.ix.Check(), msg("after a commit"))
			if rng.IntN(6) == 0 {
				horizon += rng.Uint64N(last - horizon + 1)
				s.checkSnapshots(horizon, last, msg("before prune"))
				r, _ := pruneAll(s.ix, horizon, 1+rng.IntN(5))
				require.NoError(t, s.ix.Check(), msg("after prune"))
				s.checkSnapshots(horizon, last, msg("after prune"))
				require.GreaterOrEqual(t, r.Released, r.VersionsRemoved)
			}
		}
		// With the horizon at the newest commit, memory empties: the file
		// holds everything.
		horizon = last
		pruneAll(s.ix, last, 3)
		s.checkSnapshots(last, last, msg("final"))
		assert.Equal(t, 0, s.ix.Len(), "seed %d", seed)
		assert.Equal(t, int64(0), s.ix.Versions(), "seed %d", seed)
		assert.Equal(t, int64(0), s.ix.Garbage(), "seed %d", seed)
		assert.Equal(t, int64(0), s.ix.Reclaimable(last), "seed %d", seed)
		require.NoError(t, s.ix.Check())
	}
}

// Remove (undoing an Apply that could not be persisted) keeps the garbage
// count exact, and pruning afterwards still follows the rule.
func TestRemoveKeepsGarbageExact(t *testing.T) {
	ix := build([]op{pput("a", 1), pput("b", 2), pput("a", 3)})
	require.Equal(t, int64(1), ix.Garbage())
	undo := []index.Entry{
		{Key: []byte("a"), Version: index.Version{TS: 4, Tombstone: true}},
		{Key: []byte("b"), Version: index.Version{TS: 4, Seq: 1, Value: []byte("b4")}},
		{Key: []byte("c"), Version: index.Version{TS: 4, Seq: 2, Value: []byte("c4")}},
	}
	ix.Apply(undo)
	require.Equal(t, int64(1+2+1), ix.Garbage())
	ix.Remove(undo)
	assert.Equal(t, int64(1), ix.Garbage())
	assert.Equal(t, int64(3), ix.Versions())
	assert.Equal(t, 2, ix.Len())
	require.NoError(t, ix.Check())
	r, _ := pruneAll(ix, 3, 100)
	assert.Equal(t, int64(1), r.VersionsRemoved)
	assert.Equal(t, int64(3), r.Released)
	assert.Equal(t, int64(0), ix.Garbage())
	assert.Equal(t, int64(0), ix.Versions())
	require.NoError(t, ix.Check())
}

// TestConcurrentPruneAndRead: readers at the horizon's snapshot, a
// committer above it and a pruner at it run together (run with -race); a
// reader at the horizon reads every key it finds held at its version
// there.
func TestConcurrentPruneAndRead(t *testing.T) {
	const keys, horizon = 300, 100
	ix := index.New()
	for ts := uint64(1); ts < horizon; ts++ {
		put(ix, fmt.Sprintf("k%03d", ts%keys), ts, "old")
	}
	var base []index.Entry
	file := map[string]index.Version{} // the committer's
	for i := range keys {
		v := index.Version{TS: horizon, Seq: uint32(i), Value: []byte("base")}
		base = append(base, index.Entry{Key: fmt.Appendf(nil, "k%03d", i), Version: v})
		file[fmt.Sprintf("k%03d", i)] = v
	}
	ix.Apply(base)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ts := uint64(horizon + 1); ts < horizon+2000; ts++ {
			k := fmt.Sprintf("k%03d", ts*7%keys)
			before := file[k]
			ix.Write(func(w index.Writer) {
				assert.NoError(t, w.Install([]byte(k), &before, index.Version{TS: ts, InFile: true}))
			})
			file[k] = index.Version{TS: ts, Value: []byte("new")}
			if ts%50 == 0 {
				ix.Prune(horizon, 20)
			}
		}
		pruneAll(ix, horizon, 20)
	}()
	for i := 0; ; i++ {
		ix.Walk(nil, nil, horizon, true, func(it index.Item) bool {
			require.True(t, it.Visible, "%s", it.Key)
			require.Equal(t, index.Version{TS: horizon, Seq: it.Version.Seq, Value: []byte("base")}, it.Version)
			return true
		})
		v, visible, held := ix.Find(fmt.Appendf(nil, "k%03d", i%keys), horizon)
		require.True(t, !held || (visible && v.TS == horizon))
		select {
		case <-done:
			require.NoError(t, ix.Check())
			return
		default:
		}
	}
}
