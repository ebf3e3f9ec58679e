package bench

import (
	"math"
	"math/rand/v2"
)

// zipfian draws integers in [0, n) with P(i) proportional to 1/(i+1)^theta,
// by the method of Gray et al., "Quickly generating billion-record
// synthetic databases" (SIGMOD 1994), which YCSB uses. math/rand's Zipf
// needs theta > 1; YCSB's constant is 0.99, hence this generator.
//
// It is immutable after newZipfian, so goroutines share one and each passes
// its own rand.
type zipfian struct {
	n                 uint64
	theta, alpha, eta float64
	zetan, half       float64
}

func newZipfian(n int, theta float64) *zipfian {
	z := &zipfian{n: uint64(n), theta: theta}
	var zetan float64
	for i := 1; i <= n; i++ {
		zetan += 1 / math.Pow(float64(i), theta)
	}
	zeta2 := 1 + 1/math.Pow(2, theta)
	z.zetan = zetan
	z.alpha = 1 / (1 - theta)
	z.eta = (1 - math.Pow(2/float64(n), 1-theta)) / (1 - zeta2/zetan)
	z.half = 1 + math.Pow(0.5, theta)
	return z
}

// next returns a draw; 0 is the most popular.
func (z *zipfian) next(r *rand.Rand) uint64 {
	u := r.Float64()
	uz := u * z.zetan
	if uz < 1 {
		return 0
	}
	if uz < z.half {
		return 1
	}
	v := uint64(float64(z.n) * math.Pow(z.eta*u-z.eta+1, z.alpha))
	return min(v, z.n-1)
}

// scramble spreads the popular draws over the key space (YCSB's scrambled
// zipfian), so that hot records are not neighbours.
func scramble(i, n uint64) uint64 {
	// FNV-1a over the 8 bytes of i.
	h := uint64(14695981039346656037)
	for range 8 {
		h ^= i & 0xff
		h *= 1099511628211
		i >>= 8
	}
	return h % n
}
