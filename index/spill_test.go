package index_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/index"
)

// TestSpillKeepsEveryReadRight spills every chain of sample() and checks
// what each snapshot learns from memory: its version when memory still
// holds it, or the mark that sends it to disk, never a wrong version.
func TestSpillKeepsEveryReadRight(t *testing.T) {
	ix := sample()
	ix.SetApplied(4) // the file holds a4 and c3, not d6
	before := ix.Bytes()
	p := ix.PlanSpill(1<<30, 100)
	// a1 (until 4), b2 (until 5): the older versions; c3, a key with
	// one version, an absence marker (a tombstone at 0 until 3); a4 and
	// c3 keep their timestamps, not their values. d6 is not applied.
	require.Len(t, p.Versions, 3)
	assert.Equal(t, "a", string(p.Versions[0].Key))
	assert.Equal(t, uint64(4), p.Versions[0].Until)
	assert.Equal(t, uint64(5), p.Versions[1].Until)
	assert.Equal(t, index.SpillVersion{Key: []byte("c"), Version: index.Version{Tombstone: true}, Until: 3}, p.Versions[2])
	freed := ix.CompleteSpill(p)
	assert.Equal(t, before-freed, ix.Bytes())
	assert.Positive(t, freed)
	require.NoError(t, ix.Check())

	// a: a1 on disk, a4 in the file: nothing left to hold in memory.
	_, held := ix.LookupItem([]byte("a"), 2)
	assert.False(t, held, "a left memory whole")
	it, held := ix.LookupItem([]byte("b"), 3)
	require.True(t, held, "b's newest is a tombstone: it stays")
	assert.False(t, it.Visible)
	assert.True(t, it.Older, "b2 is on disk")
	_, held = ix.LookupItem([]byte("c"), 4)
	assert.False(t, held, "c left memory whole: the file holds c3, the marker says nothing before it")
	it, _ = ix.LookupItem([]byte("b"), 5)
	assert.True(t, it.Visible && it.Version.Tombstone)
	it, _ = ix.LookupItem([]byte("d"), 6)
	assert.Equal(t, "d6", string(it.Version.Value), "not applied: its value stays")
	it, _ = ix.LookupItem([]byte("d"), 5)
	assert.False(t, it.Visible)
	assert.False(t, it.Older, "d has no older versions: absent at 5")

	// A commit over an InFile version takes its value back from the file.
	ix.Write(func(w index.Writer) {
		require.NoError(t, w.Install([]byte("c"), &index.Version{TS: 3, Value: []byte("c3")}, index.Version{TS: 7, Value: []byte("c7")}))
	})
	it, _ = ix.LookupItem([]byte("c"), 6)
	assert.Equal(t, "c3", string(it.Version.Value))
	require.NoError(t, ix.Check())

	ix.Prune(4, 100)
	require.NoError(t, ix.Check())
	ix.SetApplied(100)
	ix.Prune(100, 100)
	assert.Equal(t, 0, ix.Len())
	assert.Equal(t, int64(0), ix.Bytes(), "the byte counter returns to zero")
}

// TestSpillSkipsWhatPruneTook completes a plan after a prune removed part
// of it: the rest goes, the chain stays sound.
func TestSpillSkipsWhatPruneTook(t *testing.T) {
	ix := index.New()
	for ts := uint64(1); ts <= 5; ts++ {
		put(ix, "k", ts, "v")
	}
	ix.SetApplied(4) // v5 keeps its value and the key its entry
	p := ix.PlanSpill(1<<30, 10)
	require.Len(t, p.Versions, 4)
	ix.Prune(2, 100) // removes 1
	ix.CompleteSpill(p)
	require.NoError(t, ix.Check())
	assert.Equal(t, int64(1), ix.Versions())
	it, _ := ix.LookupItem([]byte("k"), 3)
	assert.True(t, it.Older)
}

// TestSpillRoundRobin bounds each plan and resumes where the last ended.
func TestSpillRoundRobin(t *testing.T) {
	ix := index.New()
	for _, k := range []string{"a", "b", "c", "d"} {
		put(ix, k, 1, "x")
		put(ix, k, 2, "y")
	}
	seen := map[string]int{}
	for range 4 {
		p := ix.PlanSpill(1<<30, 1)
		require.Len(t, p.Versions, 1)
		seen[string(p.Versions[0].Key)]++
		ix.CompleteSpill(p)
	}
	assert.Len(t, seen, 4, "each key in turn")
	require.NoError(t, ix.Check())
}

// TestPruneClearsTheSpillMark: once a prune removed a tombstone the
// horizon saw, a snapshot at or above it reads the key as absent from
// memory, not as the older version left on disk.
func TestPruneClearsTheSpillMark(t *testing.T) {
	ix := index.New()
	put(ix, "k", 1, "v1")
	put(ix, "k", 2, "v2")
	ix.SetApplied(1)                          // v2 keeps its value: later Adds need no before-image
	ix.CompleteSpill(ix.PlanSpill(1<<30, 10)) // v1 goes to disk
	del(ix, "k", 3)
	put(ix, "k", 6, "v6")
	it, _ := ix.LookupItem([]byte("k"), 1)
	require.True(t, it.Older, "v1 is on disk")
	ix.SetApplied(6)
	ix.Prune(4, 100) // v2 and the tombstone at 3 go: at 4 and 5 the key is absent
	it, held := ix.LookupItem([]byte("k"), 4)
	require.True(t, held)
	assert.False(t, it.Visible)
	assert.False(t, it.Older, "v1 on disk is older than what a snapshot at or above 4 reads")
	require.NoError(t, ix.Check())
}
