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

func build(ops []op) *index.Index {
	ix := index.New()
	for _, o := range ops {
		ix.Add([]byte(o.key), index.Version{TS: o.ts, Tombstone: o.del, Value: []byte(fmt.Sprintf("%s@%d", o.key, o.ts))})
	}
	return ix
}

// pruneAll prunes until no work is left and returns the removed versions
// as "key@ts" strings, in removal order.
func pruneAll(ix *index.Index, horizon uint64, limit int) []string {
	var out []string
	for {
		r := ix.Prune(horizon, limit)
		for _, rm := range r.Removed {
			out = append(out, fmt.Sprintf("%s@%d", rm.Key, rm.TS))
		}
		if !r.More {
			return out
		}
	}
}

func TestPrune(t *testing.T) {
	tests := []struct {
		name        string
		ops         []op
		horizon     uint64
		removed     []string
		keys        int
		versions    int64
		garbageLeft int64
	}{
		{"single put stays", []op{pput("a", 1)}, 10, nil, 1, 1, 0},
		{"overwrites keep the newest", []op{pput("a", 1), pput("a", 2), pput("a", 3)}, 10, []string{"a@1", "a@2"}, 1, 1, 0},
		{"horizon keeps the version it sees", []op{pput("a", 1), pput("a", 2), pput("a", 5)}, 3, []string{"a@1"}, 1, 2, 1},
		{"horizon below every overwrite", []op{pput("a", 1), pput("a", 5)}, 4, nil, 1, 2, 1},
		{"delete drops the key", []op{pput("a", 1), pput("a", 2), pdel("a", 3)}, 3, []string{"a@1", "a@2", "a@3"}, 0, 0, 0},
		{"delete above horizon waits", []op{pput("a", 1), pdel("a", 3)}, 2, nil, 1, 2, 2},
		{"tombstone below a newer put goes", []op{pput("a", 1), pdel("a", 2), pput("a", 4)}, 3, []string{"a@1", "a@2"}, 1, 1, 0},
		{"keys are independent", []op{pput("a", 1), pput("b", 2), pput("a", 3), pdel("b", 4), pput("c", 5)}, 9,
			[]string{"a@1", "b@2", "b@4"}, 2, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := build(tt.ops)
			got := pruneAll(ix, tt.horizon, 1000)
			assert.ElementsMatch(t, tt.removed, got)
			assert.Equal(t, tt.keys, ix.Len())
			assert.Equal(t, tt.versions, ix.Versions())
			assert.Equal(t, tt.garbageLeft, ix.Garbage())
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

	// Limit 4: the hot key (11 removable) is split, oldest first, and its
	// tombstone goes in the last of its calls; a small key fills the room.
	var calls [][]string
	for {
		r := ix.Prune(20, 4)
		var c []string
		for _, rm := range r.Removed {
			c = append(c, fmt.Sprintf("%s@%d", rm.Key, rm.TS))
		}
		calls = append(calls, c)
		if !r.More {
			break
		}
	}
	require.Equal(t, [][]string{
		{"hot@1", "hot@2", "hot@3", "hot@4"},
		{"hot@5", "hot@6", "hot@7", "hot@8"},
		{"hot@9", "hot@10", "hot@11", "a@12"},
	}, calls)
	assert.Equal(t, 1, ix.Len())
	assert.Equal(t, int64(1), ix.Versions())
	assert.Equal(t, int64(0), ix.Garbage())

	// A key that fits in a call is never split: limit 3 with two keys of two
	// removable versions each takes one key per call.
	ix = build([]op{pput("x", 1), pput("x", 2), pput("x", 3), pput("y", 4), pput("y", 5), pput("y", 6)})
	r := ix.Prune(10, 3)
	assert.Len(t, r.Removed, 2)
	assert.True(t, r.More)
	r = ix.Prune(10, 3)
	assert.Len(t, r.Removed, 2)
	assert.False(t, r.More)
}

func TestPruneHotKeyOncePerPass(t *testing.T) {
	ix := index.New()
	for ts := uint64(1); ts <= 5000; ts++ {
		ix.Add([]byte("hot"), index.Version{TS: ts, Value: []byte("v")})
	}
	require.Equal(t, int64(4999), ix.Garbage())
	require.Equal(t, int64(4999), ix.Reclaimable(5000))
	require.Equal(t, int64(99), ix.Reclaimable(100))

	r := ix.Prune(5000, 10000)
	assert.Len(t, r.Removed, 4999)
	// 4999 queue entries, one chain: it is examined once; the rest are stale.
	assert.Equal(t, int64(1), r.KeysExamined)
	assert.Equal(t, int64(5000), r.VersionsExamined)
	assert.False(t, r.More)
	assert.Equal(t, int64(0), ix.Reclaimable(5000))
	v, ok := ix.Get([]byte("hot"), 5000)
	require.True(t, ok)
	assert.Equal(t, uint64(5000), v.TS)
}

func TestReclaimable(t *testing.T) {
	ix := build([]op{pput("a", 1), pput("a", 2), pput("b", 3), pdel("b", 4), pput("c", 5), pput("c", 6)})
	// garbage: a@1 (at 2), b@3 and b@4 (at 4), c@5 (at 6)
	assert.Equal(t, int64(4), ix.Garbage())
	for h, want := range map[uint64]int64{1: 0, 2: 1, 3: 1, 4: 3, 5: 3, 6: 4, 100: 4} {
		assert.Equal(t, want, ix.Reclaimable(h), "horizon %d", h)
	}
	pruneAll(ix, 4, 1000)
	assert.Equal(t, int64(1), ix.Reclaimable(100))
	assert.Equal(t, int64(1), ix.Garbage())
}

func TestPruneKeyRecreated(t *testing.T) {
	ix := build([]op{pput("a", 1), pdel("a", 2)})
	pruneAll(ix, 2, 10)
	require.Equal(t, 0, ix.Len())
	ix.Add([]byte("a"), index.Version{TS: 3, Value: []byte("new")})
	ix.Add([]byte("a"), index.Version{TS: 4, Value: []byte("newer")})
	assert.Equal(t, []string{"a@3"}, pruneAll(ix, 4, 10))
	v, ok := ix.Get([]byte("a"), 4)
	require.True(t, ok)
	assert.Equal(t, "newer", string(v.Value))
}

// TestPruneKeepsEverySnapshot is the rule itself, on random histories:
// after pruning at a horizon, every snapshot at or above it reads exactly
// what it read before, and the counters match a recount.
func TestPruneKeepsEverySnapshot(t *testing.T) {
	for seed := uint64(0); seed < 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		ix := index.New()
		nkeys := 1 + rng.IntN(8)
		last := uint64(0)
		prune := func() {
			h := rng.Uint64N(last + 1)
			before := snapshotAll(ix, nkeys, h, last)
			removed := pruneAll(ix, h, 1+rng.IntN(5))
			after := snapshotAll(ix, nkeys, h, last)
			require.Equal(t, before, after, "seed %d horizon %d removed %v", seed, h, removed)
		}
		for range 60 {
			last++
			k := []byte{byte('a' + rng.IntN(nkeys))}
			ix.Add(k, index.Version{TS: last, Tombstone: rng.IntN(4) == 0, Value: []byte(fmt.Sprint(last))})
			if rng.IntN(10) == 0 {
				prune()
			}
		}
		prune()
		// Recount: versions and garbage from the chains themselves.
		var versions, garbage int64
		for i := range nkeys {
			n, tomb := chainShape(ix, []byte{byte('a' + i)}, last)
			versions += int64(n)
			if n > 0 {
				garbage += int64(n - 1)
				if tomb {
					garbage++
				}
			}
		}
		assert.Equal(t, versions, ix.Versions(), "seed %d", seed)
		assert.Equal(t, garbage, ix.Garbage(), "seed %d", seed)
		// With the horizon at the newest commit, only live newest versions stay.
		pruneAll(ix, last, 3)
		assert.Equal(t, int64(0), ix.Garbage(), "seed %d", seed)
		assert.Equal(t, int64(ix.Len()), ix.Versions(), "seed %d", seed)
		assert.Equal(t, int64(0), ix.Reclaimable(last), "seed %d", seed)
	}
}

// snapshotAll reads every key at every ts in [from, to].
func snapshotAll(ix *index.Index, nkeys int, from, to uint64) []string {
	var out []string
	for ts := from; ts <= to; ts++ {
		for i := range nkeys {
			v, ok := ix.Get([]byte{byte('a' + i)}, ts)
			switch {
			case !ok || v.Tombstone:
				out = append(out, "-")
			default:
				out = append(out, string(v.Value))
			}
		}
	}
	return out
}

// chainShape returns the number of versions of key (probing every ts) and
// whether the newest is a tombstone.
func chainShape(ix *index.Index, key []byte, last uint64) (n int, tomb bool) {
	seen := map[uint64]bool{}
	for ts := uint64(0); ts <= last; ts++ {
		if v, ok := ix.Get(key, ts); ok {
			seen[v.TS] = true
		}
	}
	v, ok := ix.Latest(key)
	return len(seen), ok && v.Tombstone
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
	assert.Equal(t, []string{"a@1"}, pruneAll(ix, 10, 100))
	assert.Equal(t, int64(0), ix.Garbage())
	assert.Equal(t, int64(2), ix.Versions())
}
