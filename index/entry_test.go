package index

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCompareMatchesBytesCompare: the inline-prefix comparison orders keys
// exactly as bytes.Compare does, around the 16-byte prefix boundary, with
// zero bytes (the padding value) and with shared prefixes.
func TestCompareMatchesBytesCompare(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	alphabet := []byte{0, 1, 'a', 0xff}
	gen := func() []byte {
		k := make([]byte, r.IntN(20))
		for i := range k {
			k[i] = alphabet[r.IntN(len(alphabet))]
		}
		return k
	}
	keys := [][]byte{nil, {}, {0}, {0, 0}, bytes.Repeat([]byte{0}, 16), bytes.Repeat([]byte{0}, 17), []byte("key0000000000001"), []byte("key00000000000010")}
	for range 2000 {
		keys = append(keys, gen())
	}
	for i, a := range keys {
		for _, b := range keys[max(0, i-40):min(len(keys), i+40)] {
			pa, pb := probe(a), probe(b)
			assert.Equal(t, bytes.Compare(a, b), compare(&pa, &pb), "%q vs %q", a, b)
		}
	}
}

// TestEntryTracksNewestVersion: after any mix of adds (in and out of
// order, replacements), removals and prunes, every entry in the tree
// carries its chain's newest version and no chain is empty.
func TestEntryTracksNewestVersion(t *testing.T) {
	for _, load := range []bool{false, true} {
		t.Run(map[bool]string{false: "from-empty", true: "after-load"}[load], func(t *testing.T) {
			testEntryTracksNewestVersion(t, load)
		})
	}
}

func testEntryTracksNewestVersion(t *testing.T, load bool) {
	r := rand.New(rand.NewPCG(2, 2))
	ix := New()
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("a\x00"), []byte("long-key-over-sixteen-bytes-1"), []byte("long-key-over-sixteen-bytes-2"), []byte("c"), []byte("d")}
	var added []Entry
	ts := uint64(0)
	if load {
		// Recovery: a single version, several, a lone tombstone, a
		// tombstone over a version, out of order.
		added = []Entry{
			{Key: []byte("a"), Version: Version{TS: 3, Value: []byte("a3")}},
			{Key: []byte("b"), Version: Version{TS: 2, Value: []byte("b2")}},
			{Key: []byte("a"), Version: Version{TS: 1, Value: []byte("a1")}},
			{Key: []byte("c"), Version: Version{TS: 4, Tombstone: true}},
			{Key: []byte("d"), Version: Version{TS: 5, Value: []byte("d5")}},
			{Key: []byte("d"), Version: Version{TS: 6, Tombstone: true}},
		}
		ix.Load(slices.Clone(added))
		ts = 6
	}
	for step := range 5000 {
		switch op := r.IntN(10); {
		case op < 6:
			ts++
			e := Entry{Key: keys[r.IntN(len(keys))], Version: Version{TS: ts, Tombstone: r.IntN(5) == 0, Value: []byte{byte(step)}}}
			if r.IntN(8) == 0 && ts > 3 { // out of order, as recovery may add
				e.Version.TS = ts - uint64(r.IntN(3))
				e.Version.Seq = uint32(1 + r.IntN(2))
			}
			ix.Add(e.Key, e.Version)
			added = append(added, e)
		case op < 8 && len(added) > 0:
			i := r.IntN(len(added))
			ix.Remove([]Entry{added[i]})
			added = append(added[:i], added[i+1:]...)
		default:
			ix.Prune(ts-uint64(r.IntN(4)), 1+r.IntN(4))
		}
		ix.mu.RLock()
		n, versions := 0, int64(0)
		ix.tree.Ascend(func(e entry) bool {
			n++
			if e.c == nil || len(e.c.versions) == 0 {
				versions++ // the entry's copy alone
			} else {
				versions += int64(len(e.c.versions))
			}
			if e.c == nil {
				require.False(t, e.top.Tombstone, "step %d: a lone tombstone without a chain for %q", step, e.key)
				return true
			}
			if len(e.c.versions) == 0 { // hollow, after a prune
				require.False(t, e.top.Tombstone, "step %d: a lone tombstone in a hollow chain for %q", step, e.key)
				return true
			}
			last := e.c.versions[len(e.c.versions)-1]
			require.Equal(t, last, e.top, "step %d: entry %q", step, e.key)
			p0, p1 := prefix(e.key)
			require.Equal(t, [2]uint64{p0, p1}, [2]uint64{e.p0, e.p1})
			return true
		})
		require.Equal(t, n, ix.tree.Len())
		require.Equal(t, versions, ix.versions, "step %d: versions counted", step)
		ix.mu.RUnlock()
	}
}

// TestParallelSort: with any number of parts the result is sorted and
// holds every element once.
func TestParallelSort(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, n := range []int{0, 1, 7, 1000, 10_001} {
		s := make([]sortKey, n)
		for i := range s {
			s[i] = sortKey{p0: uint64(r.IntN(50)), i: uint32(i)}
		}
		// Compare by p0 only, so that ties exist; the stable order is by i.
		cmp := func(a, b sortKey) int { return cmpU64(a.p0, b.p0) }
		for parts := 1; parts <= 8; parts++ {
			got := parallelSort(slices.Clone(s), cmp, parts)
			require.True(t, slices.IsSortedFunc(got, cmp), "n=%d parts=%d", n, parts)
			gi := make([]uint32, n)
			for i, k := range got {
				gi[i] = k.i
			}
			slices.Sort(gi)
			for i := range gi {
				require.Equal(t, uint32(i), gi[i], "n=%d parts=%d: an element lost or doubled", n, parts)
			}
		}
	}
}
