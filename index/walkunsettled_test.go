package index_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/index"
)

// WalkUnsettled meets exactly the items Walk and WalkDesc meet whose key's
// newest version is above settled, in the same order, whether the keys
// left out are few, interleaved, or many in a row (more than one hold of
// the lock leaves out), and it stops when fn says so.
func TestWalkUnsettled(t *testing.T) {
	ix := index.New()
	r := rand.New(rand.NewPCG(3, 4))
	key := func(i int) []byte { return fmt.Appendf(nil, "k%05d", i) }
	newest := map[string]uint64{}
	const n = 12000
	for i := range n {
		// Long runs of old keys (below 8000, mostly), new ones scattered.
		top := uint64(1 + r.IntN(50))
		if i >= 8000 || r.IntN(40) == 0 {
			top = uint64(60 + r.IntN(50))
		}
		for ts := top - min(top-1, uint64(r.IntN(3))); ts <= top; ts++ {
			ix.Add(key(i), index.Version{TS: ts, Value: key(i), Tombstone: r.IntN(10) == 0})
		}
		newest[string(key(i))] = top
	}
	require.Equal(t, slices.Max(slices.Collect(maps.Values(newest))), ix.MaxTS(), "MaxTS is the newest version added")
	type got struct {
		key     string
		visible bool
		ts      uint64
		newer   int
	}
	walk := func(desc bool, start, end []byte, ts, settled uint64, unsettled bool, limit int) []got {
		var out []got
		fn := func(it index.Item) bool {
			out = append(out, got{string(it.Key), it.Visible, it.Version.TS, len(it.Newer)})
			return len(out) != limit
		}
		switch {
		case unsettled:
			ix.WalkUnsettled(start, end, ts, settled, true, desc, fn)
		case desc:
			ix.WalkDesc(start, end, ts, true, fn)
		default:
			ix.Walk(start, end, ts, true, fn)
		}
		return out
	}
	bounds := [][2][]byte{{nil, nil}, {key(100), key(11000)}, {key(7990), key(8010)}, {nil, key(7)}, {key(11999), nil}, {key(5), key(5)}}
	for _, b := range bounds {
		for _, ts := range []uint64{0, 30, 55, 200} {
			for _, settled := range []uint64{0, 25, 55, 200} {
				for _, desc := range []bool{false, true} {
					all := walk(desc, b[0], b[1], ts, 0, false, -1)
					want := slices.DeleteFunc(slices.Clone(all), func(g got) bool { return newest[g.key] <= settled })
					if len(want) == 0 {
						want = nil
					}
					got := walk(desc, b[0], b[1], ts, settled, true, -1)
					require.Equal(t, want, got, "[%q, %q) at %d, settled %d, desc %v", b[0], b[1], ts, settled, desc)
					if len(want) > 100 {
						require.Equal(t, want[:100], walk(desc, b[0], b[1], ts, settled, true, 100))
					}
				}
			}
		}
	}
}
