package mvcc

import (
	"math/rand/v2"
	"sync/atomic"
)

// counter is a cumulative figure that transactions on every core bump:
// one atomic word would be a cache line all cores fight over on every
// transaction's end, so it is striped, each stripe on its own cache
// lines, and summed when read. Same methods as atomic.Uint64's.
type counter struct {
	stripes [counterStripes]struct {
		n atomic.Uint64
		_ [120]byte
	}
}

// counterStripes is a power of two: enough that cores rarely share one.
const counterStripes = 32

// Add adds d to the counter.
func (c *counter) Add(d uint64) { c.stripes[rand.Uint32()&(counterStripes-1)].n.Add(d) }

// Load returns the sum: exact once the adds it should count have returned.
func (c *counter) Load() uint64 {
	var sum uint64
	for i := range c.stripes {
		sum += c.stripes[i].n.Load()
	}
	return sum
}
