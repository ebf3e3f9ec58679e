package index_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/index"
)

// WalkDesc meets the keys Walk meets, with the same items, in reverse,
// across chunks, for bounds that are keys, fall between keys, or are
// absent; and it stops when fn says so.
func TestWalkDescMirrorsWalk(t *testing.T) {
	ix := index.New()
	r := rand.New(rand.NewPCG(1, 2))
	key := func(i int) []byte { return fmt.Appendf(nil, "k%05d", i) }
	for i := 0; i < 3000; i += 2 {
		for ts := uint64(1); ts <= uint64(1+r.IntN(3)); ts++ {
			ix.Add(key(i), index.Version{TS: ts*10 + uint64(r.IntN(10)), Value: key(i), Tombstone: r.IntN(8) == 0})
		}
	}
	type got struct {
		key     string
		visible bool
		ts      uint64
		newer   int
	}
	walk := func(desc bool, start, end []byte, ts uint64, limit int) []got {
		var out []got
		f := ix.Walk
		if desc {
			f = ix.WalkDesc
		}
		f(start, end, ts, true, func(it index.Item) bool {
			out = append(out, got{string(it.Key), it.Visible, it.Version.TS, len(it.Newer)})
			return len(out) != limit
		})
		return out
	}
	bounds := [][2][]byte{{nil, nil}, {key(100), key(2900)}, {key(101), key(2901)}, {nil, key(7)}, {key(2999), nil}, {[]byte("z"), nil}, {key(5), key(5)}}
	for _, b := range bounds {
		for _, ts := range []uint64{0, 15, 25, 100} {
			fwd := walk(false, b[0], b[1], ts, -1)
			rev := walk(true, b[0], b[1], ts, -1)
			slices.Reverse(rev)
			require.Equal(t, fwd, rev, "[%q, %q) at %d", b[0], b[1], ts)
			if len(fwd) > 600 {
				top := walk(true, b[0], b[1], ts, 600)
				want := slices.Clone(fwd[len(fwd)-600:])
				slices.Reverse(want)
				require.Equal(t, want, top)
			}
		}
	}
}
