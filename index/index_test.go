package index_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/index"
)

func put(ix *index.Index, key string, ts uint64, val string) {
	ix.Add([]byte(key), index.Version{TS: ts, Value: []byte(val)})
}

func del(ix *index.Index, key string, ts uint64) {
	ix.Add([]byte(key), index.Version{TS: ts, Tombstone: true})
}

// sample builds, with values held in memory (Add):
//
//	a: 1=a1 4=a4
//	b: 2=b2 5=tombstone
//	c: 3=c3
//	d: 6=d6
func sample() *index.Index {
	ix := index.New()
	put(ix, "a", 1, "a1")
	put(ix, "b", 2, "b2")
	put(ix, "c", 3, "c3")
	put(ix, "a", 4, "a4")
	del(ix, "b", 5)
	put(ix, "d", 6, "d6")
	return ix
}

func TestFindAtTimestamp(t *testing.T) {
	ix := sample()
	tests := []struct {
		key     string
		ts      uint64
		held    bool
		visible bool
		val     string
		tomb    bool
	}{
		{"a", 0, true, false, "", false}, // held: the index's "absent" is authoritative
		{"a", 1, true, true, "a1", false},
		{"a", 3, true, true, "a1", false},
		{"a", 4, true, true, "a4", false},
		{"a", 100, true, true, "a4", false},
		{"b", 1, true, false, "", false},
		{"b", 4, true, true, "b2", false},
		{"b", 5, true, true, "", true},
		{"c", 2, true, false, "", false},
		{"c", 3, true, true, "c3", false},
		{"d", 5, true, false, "", false},
		{"zz", 100, false, false, "", false}, // not held: the file answers
		{"", 100, false, false, "", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s@%d", tt.key, tt.ts), func(t *testing.T) {
			got, visible, held := ix.Find([]byte(tt.key), tt.ts)
			require.Equal(t, tt.held, held)
			require.Equal(t, tt.visible, visible)
			if visible {
				assert.Equal(t, tt.val, string(got.Value))
				assert.Equal(t, tt.tomb, got.Tombstone)
				assert.False(t, got.InFile)
			} else {
				assert.Equal(t, index.Version{}, got)
			}
		})
	}
	require.NoError(t, ix.Check())
}

// TestDocExample is the package documentation's worked example, run the
// way the engine runs it: commits install their versions with the file's
// before-images, and what a key not held reads is the file's.
func TestDocExample(t *testing.T) {
	s := newStore(t)
	s.put("a", 1, "apple")
	s.put("b", 2, "berry")
	s.put("a", 3, "avocado")
	s.del("b", 4)
	s.put("c", 5, "cherry")
	s.put("b", 6, "banana")
	s.del("a", 7)

	table := map[uint64][3]string{ // "-": absent (deleted or never written)
		0: {"-", "-", "-"},
		1: {"apple", "-", "-"},
		2: {"apple", "berry", "-"},
		3: {"avocado", "berry", "-"},
		4: {"avocado", "-", "-"},
		5: {"avocado", "-", "cherry"},
		6: {"avocado", "banana", "cherry"},
		7: {"-", "banana", "cherry"},
	}
	check := func(from uint64, msg string) {
		t.Helper()
		for ts, row := range table {
			if ts < from {
				continue
			}
			for i, key := range []string{"a", "b", "c"} {
				assert.Equal(t, row[i], s.read(key, ts), "%s: %s at %d", msg, key, ts)
			}
		}
		s.checkSnapshots(from, 7, msg)
		require.NoError(t, s.ix.Check())
	}
	check(0, "before any prune")
	assert.Equal(t, []uint64{1, 3, 7}, heldTS(s.ix, "a"))
	assert.Equal(t, []uint64{2, 4, 6}, heldTS(s.ix, "b"))
	assert.Equal(t, []uint64{5}, heldTS(s.ix, "c"))
	assert.Equal(t, int64(7), s.ix.Versions())
	assert.Equal(t, int64(5), s.ix.Garbage(), "apple, avocado, the tombstones of a and b, berry")

	// Superseded versions hold their values (the before-images); the
	// newest live ones are InFile.
	v, _, _ := s.ix.Find([]byte("a"), 3)
	assert.Equal(t, index.Version{TS: 3, Value: []byte("avocado")}, v)
	v, _, _ = s.ix.Find([]byte("b"), 6)
	assert.Equal(t, index.Version{TS: 6, InFile: true}, v)

	type walked struct {
		key     string
		visible bool
		newer   []uint64
	}
	var got []walked
	s.ix.Walk(nil, nil, 2, true, func(it index.Item) bool {
		got = append(got, walked{string(it.Key), it.Visible, it.Newer})
		return true
	})
	assert.Equal(t, []walked{{"a", true, []uint64{3, 7}}, {"b", true, []uint64{4, 6}}, {"c", false, []uint64{5}}}, got)

	type yielded struct {
		key       string
		ts        uint64
		tombstone bool
	}
	ascend := func(ts uint64) []yielded {
		var out []yielded
		s.ix.Ascend(nil, nil, ts, func(k []byte, v index.Version) bool {
			out = append(out, yielded{string(k), v.TS, v.Tombstone})
			return true
		})
		return out
	}
	assert.Equal(t, []yielded{{"a", 3, false}, {"b", 4, true}}, ascend(4))
	assert.Equal(t, []yielded{{"a", 7, true}, {"b", 6, false}, {"c", 5, false}}, ascend(7))

	// Horizon 5: apple goes (avocado is what 5 and 6 see), berry and the
	// tombstone at 4 go, and c leaves memory: the file holds cherry@5.
	r := s.ix.Prune(5, 100)
	assert.Equal(t, index.PruneResult{VersionsRemoved: 3, Released: 4, BytesFreed: int64(len("apple") + len("berry")),
		KeysExamined: 3, VersionsExamined: 7}, r)
	assert.Equal(t, []uint64{3, 7}, heldTS(s.ix, "a"))
	assert.Equal(t, []uint64{6}, heldTS(s.ix, "b"))
	assert.Nil(t, heldTS(s.ix, "c"))
	check(5, "after prune(5)")

	// Horizon 7: everything is in the file; a's tombstone goes for good.
	r = s.ix.Prune(7, 100)
	assert.Equal(t, index.PruneResult{VersionsRemoved: 2, Released: 3, BytesFreed: int64(len("avocado")),
		KeysExamined: 2, VersionsExamined: 3, KeysRemoved: 1}, r)
	assert.Equal(t, 0, s.ix.Len())
	assert.Equal(t, int64(0), s.ix.Versions())
	assert.Equal(t, int64(0), s.ix.Garbage())
	check(7, "after prune(7)")
}

func TestLatestTS(t *testing.T) {
	ix := sample()
	assert.Equal(t, uint64(5), ix.LatestTS([]byte("b")), "a tombstone is a version")
	assert.Equal(t, uint64(4), ix.LatestTS([]byte("a")))
	assert.Equal(t, uint64(0), ix.LatestTS([]byte("nope")))
	ix.Prune(6, 100) // everything leaves memory
	assert.Equal(t, uint64(0), ix.LatestTS([]byte("d")), "a key let go reports 0")
}

func TestCounts(t *testing.T) {
	ix := index.New()
	assert.Equal(t, 0, ix.Len())
	assert.Equal(t, int64(0), ix.Versions())
	assert.Equal(t, int64(0), ix.Garbage())
	ix = sample()
	assert.Equal(t, 4, ix.Len())
	assert.Equal(t, int64(6), ix.Versions(), "tombstones count as versions")
	assert.Equal(t, int64(3), ix.Garbage(), "a1, b2 and b's tombstone")
	put(ix, "a", 4, "again") // same (TS, Seq): replaces
	assert.Equal(t, int64(6), ix.Versions())
	v, _, _ := ix.Find([]byte("a"), 4)
	assert.Equal(t, "again", string(v.Value))
	ix.Add([]byte("a"), index.Version{TS: 4, Seq: 1, Value: []byte("second write")})
	assert.Equal(t, int64(7), ix.Versions())
	assert.Equal(t, int64(4), ix.Garbage())
	require.NoError(t, ix.Check())
}

func TestApplyIsAtomicForReaders(t *testing.T) {
	// A reader at any timestamp sees either all versions of a batch or none:
	// the batch writes x and y at one TS; a concurrent reader at the latest
	// TS must see them equal.
	ix := index.New()
	ix.Apply([]index.Entry{
		{Key: []byte("x"), Version: index.Version{TS: 1, Value: []byte("1")}},
		{Key: []byte("y"), Version: index.Version{TS: 1, Seq: 1, Value: []byte("1")}},
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ts := uint64(2); ts < 2000; ts++ {
			val := []byte(fmt.Sprint(ts))
			ix.Apply([]index.Entry{
				{Key: []byte("x"), Version: index.Version{TS: ts, Value: val}},
				{Key: []byte("y"), Version: index.Version{TS: ts, Seq: 1, Value: val}},
			})
		}
	}()
	for range 2000 {
		// Reading at MaxUint64 means "the newest", exactly what a torn
		// Apply would expose.
		var x, y index.Version
		ix.Ascend(nil, nil, ^uint64(0), func(k []byte, v index.Version) bool {
			if string(k) == "x" {
				x = v
			} else {
				y = v
			}
			return true
		})
		// Ascend reads in chunks under the lock, and both keys are in
		// the first chunk, so they come from one moment.
		require.Equal(t, x.TS, y.TS)
	}
	wg.Wait()
	assert.Equal(t, int64(2*1999), ix.Versions())
	require.NoError(t, ix.Check())
}

type kv struct {
	Key  string
	Val  string
	Tomb bool
}

func collect(ix *index.Index, start, end []byte, ts uint64, limit int) []kv {
	var out []kv
	ix.Ascend(start, end, ts, func(k []byte, v index.Version) bool {
		out = append(out, kv{string(k), string(v.Value), v.Tombstone})
		return limit <= 0 || len(out) < limit
	})
	return out
}

func TestAscend(t *testing.T) {
	ix := sample()
	b := func(s string) []byte { return []byte(s) }
	tests := []struct {
		name       string
		start, end []byte
		ts         uint64
		limit      int
		want       []kv
	}{
		{"all newest", nil, nil, 100, 0, []kv{{"a", "a4", false}, {"b", "", true}, {"c", "c3", false}, {"d", "d6", false}}},
		{"all at 2", nil, nil, 2, 0, []kv{{"a", "a1", false}, {"b", "b2", false}}},
		{"nothing at 0", nil, nil, 0, 0, nil},
		{"start inclusive", b("b"), nil, 100, 0, []kv{{"b", "", true}, {"c", "c3", false}, {"d", "d6", false}}},
		{"end exclusive", nil, b("c"), 100, 0, []kv{{"a", "a4", false}, {"b", "", true}}},
		{"between keys", b("aa"), b("cc"), 4, 0, []kv{{"b", "b2", false}, {"c", "c3", false}}},
		{"start == end", b("b"), b("b"), 100, 0, nil},
		{"start > end", b("d"), b("a"), 100, 0, nil},
		{"past the last key", b("e"), nil, 100, 0, nil},
		{"stop after one", nil, nil, 100, 1, []kv{{"a", "a4", false}}},
		{"stop after two", b("b"), nil, 100, 2, []kv{{"b", "", true}, {"c", "c3", false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, collect(ix, tt.start, tt.end, tt.ts, tt.limit))
		})
	}
}

func TestAscendManyKeysInOrder(t *testing.T) {
	// More keys than one chunk of the walk, with runs of keys invisible at
	// the read timestamp between the visible ones, and keys that are
	// prefixes of each other.
	ix := index.New()
	var want []string
	for i := range 1000 {
		k := fmt.Sprintf("k%04d", i)
		ts := uint64(10)
		if i%7 == 3 {
			ts = 20 // invisible at 15
		}
		put(ix, k, ts, k)
		put(ix, k+"\x00", 10, k) // sorts right after k
		if ts == 10 {
			want = append(want, k)
		}
		want = append(want, k+"\x00")
	}
	var got []string
	ix.Ascend(nil, nil, 15, func(k []byte, v index.Version) bool {
		got = append(got, string(k))
		return true
	})
	assert.Equal(t, want, got)

	got = got[:0]
	ix.Ascend([]byte("k0101"), []byte("k0900"), 15, func(k []byte, v index.Version) bool {
		got = append(got, string(k))
		return true
	})
	require.NotEmpty(t, got)
	assert.Equal(t, "k0101\x00", got[0], "k0101 itself is invisible at 15")
	assert.Equal(t, "k0899\x00", got[len(got)-1])
	for i := 1; i < len(got); i++ {
		require.Less(t, got[i-1], got[i])
	}

	// Stopping at every chunk boundary yields exactly that prefix.
	for _, n := range []int{1, 63, 64, 65, 128, 129, 500, 576, 577} {
		assert.Equal(t, want[:n], keysOf(collect(ix, nil, nil, 15, n)), "limit %d", n)
	}
}

func keysOf(kvs []kv) []string {
	out := make([]string, len(kvs))
	for i, x := range kvs {
		out[i] = x.Key
	}
	return out
}

func TestAscendCallbackMayUseIndex(t *testing.T) {
	// The callback runs without the index lock held, so it may read and
	// even write the index (a writer inside a scan would deadlock
	// otherwise).
	ix := sample()
	n := 0
	ix.Ascend(nil, nil, 100, func(k []byte, v index.Version) bool {
		got, visible, held := ix.Find(k, 100)
		assert.True(t, held && visible)
		assert.Equal(t, v, got)
		ix.Add([]byte("zz"+string(k)), index.Version{TS: 200, Value: []byte("x")})
		ix.Write(func(w index.Writer) {
			assert.NoError(t, w.Install([]byte("zy"+string(k)), nil, index.Version{TS: 201, InFile: true}))
		})
		n++
		return true
	})
	assert.Equal(t, 4, n, "versions newer than the walk's timestamp are not seen")
	assert.Equal(t, 12, ix.Len())
	require.NoError(t, ix.Check())
}

func TestConcurrentAddAndAscend(t *testing.T) {
	// Versions at or below a reader's timestamp never change under it while
	// writers add newer ones (run with -race).
	ix := index.New()
	for i := range 300 {
		put(ix, fmt.Sprintf("k%03d", i), 1, "v1")
	}
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				put(ix, fmt.Sprintf("k%03d", (i*7+w)%300), uint64(2+w*1000+i), "new")
				put(ix, fmt.Sprintf("n%03d-%d", i, w), uint64(2+w*1000+i), "new")
			}
		}()
	}
	for range 20 {
		n := 0
		ix.Ascend(nil, []byte("l"), 1, func(k []byte, v index.Version) bool {
			require.Equal(t, "v1", string(v.Value))
			n++
			return true
		})
		require.Equal(t, 300, n)
		ix.Walk([]byte("l"), nil, 1, true, func(it index.Item) bool {
			require.False(t, it.Visible, "%s was created after 1", it.Key)
			require.Len(t, it.Newer, 1)
			return true
		})
	}
	wg.Wait()
	require.NoError(t, ix.Check())
}

func TestLookup(t *testing.T) {
	ix := sample() // a: 1, 4; b: 2, 5(T); c: 3; d: 6
	tests := []struct {
		key     string
		ts      uint64
		held    bool
		visible bool
		val     string
		newer   []uint64
	}{
		{"a", 0, true, false, "", []uint64{1, 4}},
		{"a", 1, true, true, "a1", []uint64{4}},
		{"a", 4, true, true, "a4", nil},
		{"b", 3, true, true, "b2", []uint64{5}},
		{"b", 5, true, true, "", nil},
		{"d", 5, true, false, "", []uint64{6}},
		{"zz", 1, false, false, "", nil},
	}
	for _, tt := range tests {
		got, visible, held, newer := ix.Lookup([]byte(tt.key), tt.ts)
		require.Equal(t, tt.held, held, "%s@%d", tt.key, tt.ts)
		require.Equal(t, tt.visible, visible, "%s@%d", tt.key, tt.ts)
		if visible {
			assert.Equal(t, tt.val, string(got.Value))
		}
		assert.Equal(t, tt.newer, newer, "%s@%d", tt.key, tt.ts)
		// Lookup agrees with Find.
		f, fvisible, fheld := ix.Find([]byte(tt.key), tt.ts)
		assert.Equal(t, []any{f, fvisible, fheld}, []any{got, visible, held})
	}
}

func TestWalkSeesInvisibleKeys(t *testing.T) {
	ix := sample() // a: 1, 4; b: 2, 5(T); c: 3; d: 6
	type seen struct {
		Key     string
		Visible bool
		Newer   []uint64
	}
	walk := func(ts uint64, newer bool) []seen {
		var out []seen
		ix.Walk(nil, nil, ts, newer, func(it index.Item) bool {
			out = append(out, seen{string(it.Key), it.Visible, it.Newer})
			return true
		})
		return out
	}
	assert.Equal(t, []seen{
		{"a", true, []uint64{4}},
		{"b", true, []uint64{5}},
		{"c", false, []uint64{3}},
		{"d", false, []uint64{6}},
	}, walk(2, true), "keys created after ts come with Visible false")
	assert.Equal(t, []seen{
		{"a", true, nil}, {"b", true, nil}, {"c", false, nil}, {"d", false, nil},
	}, walk(2, false), "Newer only when asked")
	assert.Equal(t, []seen{
		{"a", false, []uint64{1, 4}}, {"b", false, []uint64{2, 5}}, {"c", false, []uint64{3}}, {"d", false, []uint64{6}},
	}, walk(0, true))

	// Ascend is Walk without the invisible keys.
	var keys []string
	ix.Ascend(nil, nil, 2, func(k []byte, _ index.Version) bool {
		keys = append(keys, string(k))
		return true
	})
	assert.Equal(t, []string{"a", "b"}, keys)
}

func TestWalkManyInvisibleKeys(t *testing.T) {
	// More invisible keys than a walk chunk, between visible ones: every
	// key is met once, in order, and stopping early stops.
	ix := index.New()
	for i := range 1500 {
		ts := uint64(1)
		if i%50 != 0 {
			ts = 10
		}
		put(ix, fmt.Sprintf("k%04d", i), ts, "v")
	}
	n, visible := 0, 0
	prev := ""
	ix.Walk(nil, nil, 5, true, func(it index.Item) bool {
		require.Greater(t, string(it.Key), prev)
		prev = string(it.Key)
		n++
		if it.Visible {
			visible++
			assert.Nil(t, it.Newer)
		} else {
			assert.Equal(t, []uint64{10}, it.Newer)
		}
		return true
	})
	assert.Equal(t, 1500, n)
	assert.Equal(t, 30, visible)

	n = 0
	ix.Walk([]byte("k0100"), []byte("k1200"), 5, false, func(it index.Item) bool {
		n++
		return n < 700
	})
	assert.Equal(t, 700, n)
}
