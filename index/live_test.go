package index_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/index"
)

// TestAscendLiveMatchesAscend: AscendLive yields what Ascend yields less
// the tombstones, over ranges longer than one chunk, from every bound,
// and stops when told.
func TestAscendLiveMatchesAscend(t *testing.T) {
	ix := index.New()
	r := rand.New(rand.NewPCG(1, 1))
	for ts := uint64(1); ts <= 2000; ts++ {
		k := []byte(fmt.Sprintf("k%04d", r.IntN(700)))
		ix.Add(k, index.Version{TS: ts, Tombstone: r.IntN(4) == 0, Value: []byte(fmt.Sprint(ts))})
	}
	type pair struct{ k, v string }
	for _, ts := range []uint64{0, 10, 500, 1999, 5000} {
		for _, bounds := range [][2][]byte{{nil, nil}, {[]byte("k0100"), nil}, {nil, []byte("k0350")}, {[]byte("k0005"), []byte("k0690")}, {[]byte("k0300"), []byte("k0300")}} {
			var want, got []pair
			ix.Ascend(bounds[0], bounds[1], ts, func(k []byte, v index.Version) bool {
				if !v.Tombstone {
					want = append(want, pair{string(k), string(v.Value)})
				}
				return true
			})
			ix.AscendLive(bounds[0], bounds[1], ts, func(k, v []byte) bool {
				got = append(got, pair{string(k), string(v)})
				return true
			})
			require.Equal(t, want, got, "ts %d bounds %q", ts, bounds)
			if len(want) > 200 {
				var first []pair
				ix.AscendLive(bounds[0], bounds[1], ts, func(k, v []byte) bool {
					first = append(first, pair{string(k), string(v)})
					return len(first) < 200
				})
				require.Equal(t, want[:200], first)
			}
		}
	}
}
