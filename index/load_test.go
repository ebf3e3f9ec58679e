package index_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/index"
)

// loadEntries makes versions of keys of varied lengths (prefixes of one
// another, longer than 16 bytes, sharing long prefixes), several per key,
// in a shuffled order.
func loadEntries(r *rand.Rand) []index.Entry { return loadEntriesN(r, 200) }

// loadEntriesN: keys short and long, with common prefixes, written in four
// rounds that skip a third of them, some as tombstones, shuffled.
func loadEntriesN(r *rand.Rand, n int) []index.Entry {
	var out []index.Entry
	ts := uint64(0)
	keys := []string{"a", "a\x00", "ab", "abcdefghijklmnop", "abcdefghijklmnopq", "abcdefghijklmnopr", "b", "zzzzzzzzzzzzzzzzzzzzzzzz"}
	for i := range n {
		keys = append(keys, fmt.Sprintf("key%05d", i), fmt.Sprintf("long/common/prefix/%05d", i))
	}
	for round := range 4 {
		for _, k := range keys {
			if r.IntN(3) == 0 {
				continue
			}
			ts++
			out = append(out, index.Entry{Key: []byte(k), Version: index.Version{
				TS: ts, Seq: uint32(round), Tombstone: r.IntN(5) == 0, Value: []byte(fmt.Sprintf("%s@%d", k, ts)),
			}})
		}
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

type loadedKV struct {
	key, value string
	tomb       bool
}

func dumpLoaded(ix *index.Index, ts uint64) []loadedKV {
	var out []loadedKV
	ix.Ascend(nil, nil, ts, func(k []byte, v index.Version) bool {
		out = append(out, loadedKV{string(k), string(v.Value), v.Tombstone})
		return true
	})
	return out
}

// requireLoadMatchesApply loads entries into a new index and requires it
// to equal the index that adding them one by one gives, at each of the
// snapshots tss. It returns the loaded index.
func requireLoadMatchesApply(t *testing.T, entries []index.Entry, tss ...uint64) *index.Index {
	t.Helper()
	loaded, applied := index.New(), index.New()
	loaded.Load(entries)
	for _, e := range entries {
		applied.Add(e.Key, e.Version)
	}
	require.Equal(t, applied.Len(), loaded.Len())
	require.Equal(t, applied.Versions(), loaded.Versions())
	require.Equal(t, applied.Garbage(), loaded.Garbage())
	for _, ts := range tss {
		require.Equal(t, dumpLoaded(applied, ts), dumpLoaded(loaded, ts), "ts %d", ts)
	}
	return loaded
}

// TestLoadMatchesApply: a bulk load gives the index that applying the
// same versions one by one gives, at every snapshot.
func TestLoadMatchesApply(t *testing.T) {
	for seed := range uint64(5) {
		entries := loadEntries(rand.New(rand.NewPCG(seed, 1)))
		loaded := requireLoadMatchesApply(t, entries, 0, 1, 50, 200, 400, 1<<40)
		// The loaded index takes later commits like any other.
		e := index.Entry{Key: []byte("key00007"), Version: index.Version{TS: 1 << 30, Value: []byte("new")}}
		loaded.Apply([]index.Entry{e})
		v, ok := loaded.Get(e.Key, 1<<31)
		require.True(t, ok)
		require.Equal(t, "new", string(v.Value))
	}
}

// TestLoadMatchesApplyLarge: enough entries for Load to sort on several
// cores and to fill many batches.
func TestLoadMatchesApplyLarge(t *testing.T) {
	entries := loadEntriesN(rand.New(rand.NewPCG(9, 9)), 12_000)
	requireLoadMatchesApply(t, entries, 0, 1000, uint64(len(entries))/2, 1<<40)
}

// TestLoadIntoNonEmptyIndex adds to what is there.
func TestLoadIntoNonEmptyIndex(t *testing.T) {
	ix := index.New()
	ix.Add([]byte("k"), index.Version{TS: 1, Value: []byte("one")})
	ix.Load([]index.Entry{
		{Key: []byte("k"), Version: index.Version{TS: 2, Value: []byte("two")}},
		{Key: []byte("j"), Version: index.Version{TS: 2, Seq: 1, Value: []byte("jay")}},
	})
	require.Equal(t, int64(3), ix.Versions())
	require.Equal(t, []loadedKV{{"j", "jay", false}, {"k", "two", false}}, dumpLoaded(ix, 2))
	require.Equal(t, []loadedKV{{"k", "one", false}}, dumpLoaded(ix, 1))
}

// TestLoadDuplicateVersion: the same (key, TS, Seq) twice keeps one
// version, the later in the input, as Apply does.
func TestLoadDuplicateVersion(t *testing.T) {
	ix := index.New()
	ix.Load([]index.Entry{
		{Key: []byte("k"), Version: index.Version{TS: 1, Value: []byte("first")}},
		{Key: []byte("k"), Version: index.Version{TS: 1, Value: []byte("second")}},
	})
	require.Equal(t, int64(1), ix.Versions())
	v, ok := ix.Get([]byte("k"), 1)
	require.True(t, ok)
	require.Equal(t, "second", string(v.Value))
}

// A bulk-loaded index knows its garbage: vacuum after a restart finds the
// superseded versions and tombstones that Load brought back.
func TestLoadRecordsGarbageForPrune(t *testing.T) {
	ix := index.New()
	ix.Load([]index.Entry{
		{Key: []byte("b"), Version: index.Version{TS: 4, Value: []byte("b2")}},
		{Key: []byte("a"), Version: index.Version{TS: 1, Value: []byte("a1")}},
		{Key: []byte("b"), Version: index.Version{TS: 2, Value: []byte("b1")}},
		{Key: []byte("a"), Version: index.Version{TS: 3, Value: []byte("a2")}},
		{Key: []byte("c"), Version: index.Version{TS: 5, Tombstone: true}},
		{Key: []byte("d"), Version: index.Version{TS: 6, Value: []byte("d1")}},
	})
	require.EqualValues(t, 6, ix.Versions())
	require.EqualValues(t, 3, ix.Garbage()) // a@1, b@2, the tombstone c@5
	res := ix.Prune(10, 100)
	require.Len(t, res.Removed, 3)
	require.EqualValues(t, 3, ix.Versions())
	require.Zero(t, ix.Garbage())
	require.Equal(t, 3, ix.Len())
}
