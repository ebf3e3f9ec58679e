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

// sample builds:
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

func TestGetAtTimestamp(t *testing.T) {
	ix := sample()
	tests := []struct {
		key  string
		ts   uint64
		ok   bool
		val  string
		tomb bool
	}{
		{"a", 0, false, "", false},
		{"a", 1, true, "a1", false},
		{"a", 3, true, "a1", false},
		{"a", 4, true, "a4", false},
		{"a", 100, true, "a4", false},
		{"b", 1, false, "", false},
		{"b", 4, true, "b2", false},
		{"b", 5, true, "", true},
		{"c", 2, false, "", false},
		{"c", 3, true, "c3", false},
		{"d", 5, false, "", false},
		{"zz", 100, false, "", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s@%d", tt.key, tt.ts), func(t *testing.T) {
			got, ok := ix.Get([]byte(tt.key), tt.ts)
			require.Equal(t, tt.ok, ok)
			if ok {
				assert.Equal(t, tt.val, string(got.Value))
				assert.Equal(t, tt.tomb, got.Tombstone)
			}
		})
	}
}

func TestLatest(t *testing.T) {
	ix := sample()
	l, ok := ix.Latest([]byte("b"))
	require.True(t, ok)
	assert.True(t, l.Tombstone)
	assert.Equal(t, uint64(5), l.TS)
	assert.Equal(t, uint64(5), ix.LatestTS([]byte("b")))
	assert.Equal(t, uint64(4), ix.LatestTS([]byte("a")))
	assert.Equal(t, uint64(0), ix.LatestTS([]byte("nope")))
	_, ok = ix.Latest([]byte("nope"))
	assert.False(t, ok)
}

func TestCounts(t *testing.T) {
	ix := index.New()
	assert.Equal(t, 0, ix.Len())
	assert.Equal(t, int64(0), ix.Versions())
	ix = sample()
	assert.Equal(t, 4, ix.Len())
	assert.Equal(t, int64(6), ix.Versions(), "tombstones count as versions")
	put(ix, "a", 4, "again") // same (TS, Seq): replaces
	assert.Equal(t, int64(6), ix.Versions())
	ix.Add([]byte("a"), index.Version{TS: 4, Seq: 1, Value: []byte("second write")})
	assert.Equal(t, int64(7), ix.Versions())
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
	var last sync.Map
	last.Store("ts", uint64(1))
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ts := uint64(2); ts < 2000; ts++ {
			val := []byte(fmt.Sprint(ts))
			ix.Apply([]index.Entry{
				{Key: []byte("x"), Version: index.Version{TS: ts, Value: val}},
				{Key: []byte("y"), Version: index.Version{TS: ts, Seq: 1, Value: val}},
			})
			last.Store("ts", ts)
		}
	}()
	for i := 0; i < 2000; i++ {
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
	for i := 0; i < 1000; i++ {
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

	// Stopping at every position yields exactly that prefix.
	for _, n := range []int{1, 63, 64, 65, 128, 129, 500} {
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
		_, _ = ix.Get(k, 100)
		ix.Add([]byte("zz"+string(k)), index.Version{TS: 200, Value: []byte("x")})
		n++
		return true
	})
	assert.Equal(t, 4, n, "versions newer than the walk's timestamp are not seen")
	assert.Equal(t, 8, ix.Len())
}

func TestConcurrentAddAndAscend(t *testing.T) {
	// Versions at or below a reader's timestamp never change under it while
	// writers add newer ones (run with -race).
	ix := index.New()
	for i := 0; i < 300; i++ {
		put(ix, fmt.Sprintf("k%03d", i), 1, "v1")
	}
	var wg sync.WaitGroup
	wg.Add(2)
	for w := 0; w < 2; w++ {
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				put(ix, fmt.Sprintf("k%03d", (i*7+w)%300), uint64(2+w*1000+i), "new")
				put(ix, fmt.Sprintf("n%03d-%d", i, w), uint64(2+w*1000+i), "new")
			}
		}(w)
	}
	for r := 0; r < 20; r++ {
		n := 0
		ix.Ascend(nil, []byte("l"), 1, func(k []byte, v index.Version) bool {
			require.Equal(t, "v1", string(v.Value))
			n++
			return true
		})
		require.Equal(t, 300, n)
	}
	wg.Wait()
}
