package txn_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/txn"
)

func TestHorizonHolder(t *testing.T) {
	o := txn.NewOracle(10)
	h, since := o.HorizonHolder()
	assert.Equal(t, uint64(10), h)
	assert.True(t, since.IsZero(), "no transaction holds the horizon")

	old := o.Begin() // snapshot 10
	time.Sleep(time.Millisecond)
	commit(o)
	young := o.Begin() // snapshot 11
	h, since = o.HorizonHolder()
	assert.Equal(t, uint64(10), h)
	assert.Equal(t, old.Start, since, "the oldest snapshot holds the horizon")
	assert.Equal(t, o.Horizon(), h)

	// A read-committed transaction moving on releases the horizon: the
	// holder is now the younger one, though the older started first.
	commit(o)
	old.Advance(12)
	h, since = o.HorizonHolder()
	assert.Equal(t, uint64(11), h)
	assert.Equal(t, young.Start, since)

	o.End(young)
	o.End(old)
	h, since = o.HorizonHolder()
	assert.Equal(t, uint64(12), h)
	assert.True(t, since.IsZero())
}

func TestRegistryGrowsPastItsFirstTable(t *testing.T) {
	o := txn.NewOracle(0)
	var slots []*txn.Slot
	for i := range 1000 {
		slots = append(slots, o.Begin())
		commit(o)
		require.Equal(t, uint64(i), slots[i].TS())
	}
	n, _ := o.Active()
	assert.Equal(t, 1000, n)
	for i, s := range slots {
		assert.Equal(t, uint64(i), o.Horizon(), "the oldest open snapshot holds the horizon")
		o.End(s)
	}
	n, _ = o.Active()
	assert.Equal(t, 0, n)
	assert.Equal(t, o.Visible(), o.Horizon())
}

func TestEndTwiceAfterReuseFreesNothingOfTheNewHolder(t *testing.T) {
	o := txn.NewOracle(3)
	a := o.Begin()
	o.End(a)
	commit(o)
	b := o.Begin() // most likely in the cell a freed
	o.End(a)
	a.Advance(100) // an ended slot's owner moves nothing
	n, _ := o.Active()
	assert.Equal(t, 1, n)
	assert.Equal(t, uint64(4), b.TS())
	commit(o)
	assert.Equal(t, uint64(4), o.Horizon(), "b still holds the horizon")
	o.End(b)
}

// TestHorizonScanRacesBegin checks the registry's protocol: while commits
// publish and checkpoints move the applied mark, scanners compute the
// horizons continuously and keep the largest they ever returned; each
// reader, before it ends, checks that no horizon ever computed passed its
// snapshot or its applied mark. Computed before or during its Begin, or
// while it was open, every horizon must be at or below them. Run with -race.
func TestHorizonScanRacesBegin(t *testing.T) {
	o := txn.NewOracle(0)
	maxH, maxPrune, stop := horizonRace(o, 3, false)
	var readers sync.WaitGroup
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := range 500 {
				s := o.Begin()
				if i%2 == 0 {
					runtime.Gosched()
				}
				if !assert.LessOrEqual(t, maxH.Load(), s.TS(), "a horizon passed an open snapshot") ||
					!assert.LessOrEqual(t, maxPrune.Load(), min(s.TS(), s.Applied()), "a prune horizon passed an open slot") {
					o.End(s)
					return
				}
				o.End(s)
			}
		}()
	}
	readers.Wait()
	stop()
}

// horizonRace runs, until stop, what races an open slot: a commit
// pipeline publishing commits and moving the applied mark every
// appliedEvery commits (yielding after each when yield is set), and two
// scanners, vacuum and Stats, computing the horizons and the horizon's
// holder. maxH and maxPrune are the largest horizons ever computed.
func horizonRace(o *txn.Oracle, appliedEvery uint64, yield bool) (maxH, maxPrune *atomic.Uint64, stop func()) {
	maxH, maxPrune = new(atomic.Uint64), new(atomic.Uint64)
	raise := func(m *atomic.Uint64, v uint64) {
		for old := m.Load(); v > old && !m.CompareAndSwap(old, v); old = m.Load() {
		}
	}
	done := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(3)
	go func() { // the commit pipeline and the checkpoint
		defer bg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			ts := commit(o)
			if ts%appliedEvery == 0 {
				o.SetApplied(ts - 1)
			}
			if yield {
				runtime.Gosched()
			}
		}
	}()
	for range 2 { // vacuum and Stats
		go func() {
			defer bg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				raise(maxH, o.Horizon())
				raise(maxPrune, o.PruneHorizon())
				o.HorizonHolder()
			}
		}()
	}
	return maxH, maxPrune, func() { close(done); bg.Wait() }
}
