package workload

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// zipfian draws integers in [0, n) with P(i) proportional to 1/(i+1)^theta,
// by the method of Gray et al., "Quickly generating billion-record
// synthetic databases" (SIGMOD 1994), which YCSB's ZipfianGenerator uses.
// math/rand's Zipf needs theta > 1; YCSB's constant is 0.99, hence this
// generator.
//
// It is immutable after newZipfian, so goroutines share one and each passes
// its own rand.
type zipfian struct {
	n                 uint64
	theta, alpha, eta float64
	zetan, half       float64
}

// newZipfian makes the generator over n items whose zeta(n, theta) is
// zetan (see zeta).
func newZipfian(n uint64, theta, zetan float64) *zipfian {
	zeta2 := 1 + math.Pow(0.5, theta)
	return &zipfian{
		n: n, theta: theta, zetan: zetan,
		alpha: 1 / (1 - theta),
		eta:   (1 - math.Pow(2/float64(n), 1-theta)) / (1 - zeta2/zetan),
		half:  zeta2,
	}
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

// zetaDirectMax is the largest n whose zeta is summed term by term (a few
// milliseconds); beyond it the Euler–Maclaurin formula gives the same value
// to about 1e-12 in microseconds, where YCSB sums 10^10 terms (or ships the
// one constant it precomputed).
const zetaDirectMax = 1 << 20

// zeta returns sum_{i=1..n} 1/i^theta.
func zeta(n uint64, theta float64) float64 {
	if n <= zetaDirectMax {
		return zetaFrom(0, n, theta, 0)
	}
	// Sum the first m-1 terms exactly, the rest by Euler–Maclaurin with
	// three correction terms: f(x) = x^-theta is smooth and flat there.
	const m = 1000
	f := func(x float64) float64 { return math.Pow(x, -theta) }
	d1 := func(x float64) float64 { return -theta * math.Pow(x, -theta-1) }
	d3 := func(x float64) float64 { return -theta * (theta + 1) * (theta + 2) * math.Pow(x, -theta-3) }
	N := float64(n)
	var integral float64
	if theta == 1 {
		integral = math.Log(N / m)
	} else {
		integral = (math.Pow(N, 1-theta) - math.Pow(m, 1-theta)) / (1 - theta)
	}
	return zetaFrom(0, m-1, theta, 0) + integral + (f(m)+f(N))/2 + (d1(N)-d1(m))/12 - (d3(N)-d3(m))/720
}

// zetaFrom adds the terms st+1..n to sum: zeta(n) from zeta(st).
func zetaFrom(st, n uint64, theta, sum float64) float64 {
	for i := st + 1; i <= n; i++ {
		sum += 1 / math.Pow(float64(i), theta)
	}
	return sum
}

// YCSB's scrambled zipfian draws from a fixed space of 10^10 items (11
// with its inclusive bound) whatever the record count, then hashes the
// draw onto the records. For its constant 0.99 it ships zeta of that
// space; other constants are computed (see zeta).
const (
	ycsbItemSpace = 10_000_000_000
	ycsbZipfTheta = 0.99
	ycsbZetan     = 26.46902820178302
)

// scrambledZipfian is YCSB's ScrambledZipfianGenerator: a zipfian draw
// over ycsbItemSpace, hashed (FNV-1a, 64 bits) modulo the record count.
// Popular items land on records scattered over the key space, and the
// skew per record is milder than a zipfian over the records themselves:
// for 10,000 records the hottest gets 3.8% of draws, not 9.8%, and every
// record gets some.
type scrambledZipfian struct {
	z *zipfian
	n uint64
}

func newScrambledZipfian(records int, theta float64) *scrambledZipfian {
	zetan := ycsbZetan
	if theta != ycsbZipfTheta {
		zetan = zeta(ycsbItemSpace+1, theta)
	}
	return &scrambledZipfian{z: newZipfian(ycsbItemSpace+1, theta, zetan), n: uint64(records)}
}

func (s *scrambledZipfian) next(r *rand.Rand) uint64 {
	return uint64(fnvHash64(int64(s.z.next(r)))) % s.n
}

// fnvHash64 is YCSB's Utils.fnvhash64: FNV-1a over the eight bytes of v,
// least significant first, made non-negative as Java's Math.abs does
// (which leaves MinInt64 negative; that one hash is folded to 0 here).
// YCSB uses it both to scramble zipfian draws and to name keys.
func fnvHash64(v int64) int64 {
	h := uint64(0xCBF29CE484222325)
	for range 8 {
		h ^= uint64(v) & 0xff
		h *= 1099511628211
		v >>= 8
	}
	s := int64(h)
	if s < 0 {
		s = -s
	}
	return max(s, 0)
}

// skewedLatest is YCSB's SkewedLatestGenerator: a zipfian draw counted back
// from the newest acknowledged record, so the records inserted last are
// hottest. Its item count follows the inserts; zeta is extended
// incrementally as YCSB does (YCSB keeps eta at the count it started with,
// a slip this generator does not copy).
type skewedLatest struct {
	theta float64
	cur   atomic.Pointer[zipfian]
	mu    sync.Mutex // serializes extending cur
}

func newSkewedLatest(records int, theta float64) *skewedLatest {
	l := &skewedLatest{theta: theta}
	n := uint64(max(records-1, 2))
	l.cur.Store(newZipfian(n, theta, zeta(n, theta)))
	return l
}

// next returns a record number in [0, last]: last minus a zipfian draw
// over last items.
func (l *skewedLatest) next(r *rand.Rand, last int64) int64 {
	if last < 2 {
		return max(last, 0)
	}
	z := l.cur.Load()
	if z.n != uint64(last) {
		z = l.resize(uint64(last))
	}
	return last - int64(z.next(r))
}

func (l *skewedLatest) resize(n uint64) *zipfian {
	l.mu.Lock()
	defer l.mu.Unlock()
	z := l.cur.Load()
	switch {
	case z.n == n:
		return z
	case z.n < n:
		z = newZipfian(n, l.theta, zetaFrom(z.n, n, l.theta, z.zetan))
	default: // a caller that loaded an older count: answer it without going back
		zetan := z.zetan
		for i := n + 1; i <= z.n; i++ {
			zetan -= 1 / math.Pow(float64(i), l.theta)
		}
		return newZipfian(n, l.theta, zetan)
	}
	l.cur.Store(z)
	return z
}

// ackCounter is YCSB's AcknowledgedCounterGenerator: it hands out insert
// numbers, and last is the highest number below which every insert has
// committed. Readers draw at most last, so they never ask for a record
// whose insert is still in flight.
type ackCounter struct {
	next  atomic.Int64
	last  atomic.Int64
	mu    sync.Mutex
	acked map[int64]bool // committed numbers above last; guarded by mu
}

func newAckCounter(start int64) *ackCounter {
	c := &ackCounter{acked: map[int64]bool{}}
	c.next.Store(start)
	c.last.Store(start - 1)
	return c
}

// take returns the next number to insert.
func (c *ackCounter) take() int64 { return c.next.Add(1) - 1 }

// ack records that insert v committed.
func (c *ackCounter) ack(v int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.acked[v] = true
	last := c.last.Load()
	for c.acked[last+1] {
		delete(c.acked, last+1)
		last++
	}
	c.last.Store(last)
}
