package index_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReclaimQueueFollowsMemory overwrites a few keys 60,000 times while
// nothing is pruned (a snapshot holds the horizon) and spills every
// chain now and then: the reclaim queue drops the entries of spilled
// versions, so it stays proportional to the versions memory holds, not to
// the commits, and its heap is part of Bytes. Every invariant holds
// throughout, and once the horizon passes everything, pruning still takes
// every key out of memory.
func TestReclaimQueueFollowsMemory(t *testing.T) {
	ix := sample()
	ix.SetApplied(1 << 40) // the file holds everything
	const commits, keys = 60000, 50
	peak := 0
	for ts := uint64(10); ts < 10+commits; ts++ {
		put(ix, fmt.Sprintf("k%02d", ts%keys), ts, "value")
		if ts%1000 == 0 {
			ix.CompleteSpill(ix.PlanSpill(1<<40, 1<<20))
			require.NoError(t, ix.Check())
		}
		peak = max(peak, ix.ReclaimLive())
	}
	t.Logf("peak %d live entries for %d commits; now %d entries, %d versions", peak, commits, ix.ReclaimLive(), ix.Versions())
	assert.Less(t, peak, 3*1000+2*4096+keys, "the queue holds about what memory holds, not every commit")
	assert.GreaterOrEqual(t, ix.Bytes(), int64(ix.ReclaimLive())*40, "the queue's heap is counted")
	assert.Positive(t, ix.Reclaimable(1<<40))

	// Part of the way, then all of it: pruning still finds every version.
	ix.Prune(10+commits/2, 1<<20)
	require.NoError(t, ix.Check())
	ix.Prune(1<<40, 1<<20)
	require.NoError(t, ix.Check())
	assert.Zero(t, ix.Len(), "every key left memory")
	assert.Zero(t, ix.ReclaimLive())
	assert.Zero(t, ix.Bytes(), "the byte counter returns to zero")
}
