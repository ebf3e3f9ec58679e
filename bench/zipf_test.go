package bench

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestZipfianFrequencies: the share of draws of rank i approaches
// (1/(i+1)^theta) / zeta(n, theta).
func TestZipfianFrequencies(t *testing.T) {
	const n, draws = 1000, 400_000
	for _, theta := range []float64{0.5, 0.99} {
		z := newZipfian(n, theta)
		r := rand.New(rand.NewPCG(1, 2))
		counts := make([]int, n)
		for range draws {
			v := z.next(r)
			if v >= n {
				t.Fatalf("draw %d out of range", v)
			}
			counts[v]++
		}
		for _, rank := range []int{0, 1, 9} {
			want := 1 / math.Pow(float64(rank+1), theta) / z.zetan
			got := float64(counts[rank]) / draws
			assert.InDelta(t, want, got, 0.1*want+0.002, "theta %v rank %d", theta, rank)
		}
		assert.Greater(t, counts[0], counts[n-1])
	}
}

// TestScrambleSpreadsRanks: scrambled ranks stay in range and the hottest
// ranks are not neighbours.
func TestScrambleSpreadsRanks(t *testing.T) {
	const n = 10_000
	seen := map[uint64]bool{}
	for i := range uint64(100) {
		s := scramble(i, n)
		assert.Less(t, s, uint64(n))
		seen[s] = true
	}
	assert.Greater(t, len(seen), 95, "few collisions")
	assert.NotEqual(t, scramble(0, n)+1, scramble(1, n))
}
