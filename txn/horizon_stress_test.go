package txn_test

import (
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mvkv/mvkv/txn"
)

// TestHorizonStressGrowthAdvanceReuse attacks the registry from every side
// at once: readers hold several slots at a time (so the table grows while
// scans walk it and cells are reused through the free-cell cache while
// their former holders' End calls are still fresh), move them forward as
// read committed and locking readers do, and check before every "read"
// that no horizon ever computed (the largest vacuum could prune up to)
// passed the snapshot or applied mark the slot holds at that moment.
// MVKV_HORIZON_STRESS=N multiplies the rounds.
func TestHorizonStressGrowthAdvanceReuse(t *testing.T) {
	rounds := 300
	if s := os.Getenv("MVKV_HORIZON_STRESS"); s != "" {
		n, err := strconv.Atoi(s)
		if err == nil && n > 0 {
			rounds *= n
		}
	}
	o := txn.NewOracle(0)
	maxH, maxPrune, stop := horizonRace(o, 2, true)
	check := func(s *txn.Slot) bool {
		return assert.LessOrEqual(t, maxH.Load(), s.TS(), "a horizon passed an open snapshot") &&
			assert.LessOrEqual(t, maxPrune.Load(), min(s.TS(), s.Applied()), "a prune horizon passed an open slot")
	}
	var readers sync.WaitGroup
	for r := range 6 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			held := make([]*txn.Slot, 0, 64)
			for i := range rounds {
				// Hold a varying number of slots: up to 6*40 open at once
				// makes the table grow several times during the run.
				want := (i*7 + r*13) % 40
				for len(held) < want {
					s := o.Begin()
					if !check(s) {
						return
					}
					held = append(held, s)
				}
				for j, s := range held {
					if j%3 == i%3 {
						s.AdvanceApplied(o.Applied())
						s.Advance(o.Visible())
					}
					if !check(s) {
						return
					}
				}
				// End from the front: the oldest go first, their cells
				// go back to this P's cache and are claimed again next.
				for len(held) > want/2 {
					o.End(held[0])
					held = held[1:]
				}
			}
			for _, s := range held {
				o.End(s)
			}
		}()
	}
	readers.Wait()
	stop()
	n, _ := o.Active()
	assert.Equal(t, 0, n)
	assert.Equal(t, o.Visible(), o.Horizon())
}
