package txn_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/txn"
)

// A lock held, or covered by a held range or a stronger lock, is granted
// again at once whatever waits: a scan of a range its transaction holds,
// while a writer waits inside it, is no deadlock.
func TestLockCoveredNeverWaits(t *testing.T) {
	lt := txn.NewLockTable()
	w, err := lt.LockRange(1, []byte("r/"), []byte("r/~"))
	require.NoError(t, err)
	require.Nil(t, w)
	writer := mustLock(t, lt, 2, "r/x", txn.Intent)
	require.NotNil(t, writer, "a write inside the range waits")
	for _, span := range [][2][]byte{{[]byte("r/"), []byte("r/~")}, {[]byte("r/a"), []byte("r/z")}, {[]byte("r/x"), []byte("r/x0")}} {
		w, err = lt.LockRange(1, span[0], span[1])
		require.NoError(t, err, "rescanning [%q, %q)", span[0], span[1])
		require.Nil(t, w)
	}
	require.Nil(t, mustLock(t, lt, 1, "r/x", txn.Shared), "a read inside the held range")
	require.Nil(t, mustLock(t, lt, 3, "k", txn.Exclusive))
	require.Nil(t, mustLock(t, lt, 3, "k", txn.Shared), "exclusive covers shared")
	require.Nil(t, mustLock(t, lt, 3, "k", txn.Intent), "exclusive covers intent")
	require.Nil(t, mustLock(t, lt, 3, "k", txn.Exclusive))
	require.Zero(t, lt.Deadlocks())
	require.Equal(t, 1, lt.Waiting())
	lt.ReleaseAll(1)
	require.True(t, granted(t, writer))
	lt.ReleaseAll(2)
	lt.ReleaseAll(3)
	require.Zero(t, lt.Held())
}

// An upgrade jumps the queue, which adds edges to the upgrader from the
// waiters it jumps; the deadlock they form once those waiters lose their
// other holder is found when the release lets it form. The table form of
// the scenario: 1 reads k03, 2 holds [k03, k04), 3 holds k02; 2 scans
// [k01, k05) and waits for 3; 1 writes k03 and waits for 2's range, ahead
// of 2's request; 3 ends: 2 now waits for 1 and 1 for 2.
func TestLockUpgradeJumpDeadlock(t *testing.T) {
	lt := txn.NewLockTable()
	require.Nil(t, mustLock(t, lt, 1, "k03", txn.Shared))
	w, err := lt.LockRange(2, []byte("k03"), []byte("k04"))
	require.NoError(t, err)
	require.Nil(t, w)
	require.Nil(t, mustLock(t, lt, 3, "k02", txn.Exclusive))
	scan, err := lt.LockRange(2, []byte("k01"), []byte("k05"))
	require.NoError(t, err)
	require.NotNil(t, scan)
	upgrade := mustLock(t, lt, 1, "k03", txn.Exclusive)
	require.NotNil(t, upgrade)
	require.Equal(t, 2, lt.Waiting())
	require.Zero(t, lt.Deadlocks())
	scanDone, upgradeDone := wait(scan), wait(upgrade)
	lt.ReleaseAll(3)
	err = <-scanDone
	require.ErrorIs(t, err, txn.ErrDeadlock, "the waiter whose wait the release moved is the victim")
	var de *txn.DeadlockError
	require.ErrorAs(t, err, &de)
	require.Equal(t, uint64(2), de.Cycle[0].Owner)
	require.Contains(t, err.Error(), `txn 2 (range lock on ["k01", "k05")) waits for txn 1 (exclusive lock on key "k03"), which waits for txn 2`)
	require.Equal(t, uint64(1), lt.Deadlocks())
	lt.ReleaseAll(2) // the victim ends
	require.True(t, upgradeDone.granted(t))
	lt.ReleaseAll(1)
	require.Zero(t, lt.Held())
}

// 4,000 waiters queue on one key; a lock on another key is granted at
// once meanwhile; the queue drains in arrival order, each waiter handing
// the lock on as it ends.
func TestLockManyWaitersOneKey(t *testing.T) {
	const n = 4000
	lt := txn.NewLockTable()
	require.Nil(t, mustLock(t, lt, 1, "hot", txn.Exclusive))
	waits := make([]*txn.LockWait, n)
	for i := range waits {
		waits[i] = mustLock(t, lt, uint64(i+2), "hot", txn.Exclusive)
		require.NotNil(t, waits[i])
	}
	require.Equal(t, n, lt.Waiting())
	require.Nil(t, mustLock(t, lt, n+2, "cold", txn.Exclusive), "another key is not held up")
	lt.ReleaseAll(n + 2)
	lt.ReleaseAll(1)
	for i, w := range waits {
		require.NoError(t, w.Wait(context.Background(), nil))
		require.Equal(t, n-i-1, lt.Waiting(), "granted in arrival order, one at a time")
		lt.ReleaseAll(uint64(i + 2))
	}
	require.Zero(t, lt.Held())
	require.Zero(t, lt.Deadlocks())
}

// BenchmarkLockUncontended: one owner takes an exclusive lock on a key
// nobody else locks, and releases it.
func BenchmarkLockUncontended(b *testing.B) {
	lt := txn.NewLockTable()
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key%d", i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		owner := uint64(i + 1)
		if _, err := lt.Lock(owner, keys[i%len(keys)], txn.Exclusive); err != nil {
			b.Fatal(err)
		}
		lt.ReleaseAll(owner)
	}
}

// BenchmarkLockDisjointParallel: lock and unlock throughput with every
// goroutine on its own keys (run with -cpu 1,2,16 for the scaling).
func BenchmarkLockDisjointParallel(b *testing.B) {
	lt := txn.NewLockTable()
	var mu sync.Mutex
	next := uint64(0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		next++
		g := next
		mu.Unlock()
		keys := make([][]byte, 64)
		for i := range keys {
			keys[i] = fmt.Appendf(nil, "g%d/key%d", g, i)
		}
		for i := uint64(0); pb.Next(); i++ {
			owner := g<<40 | i
			if _, err := lt.Lock(owner, keys[i%uint64(len(keys))], txn.Exclusive); err != nil {
				b.Error(err)
				return
			}
			lt.ReleaseAll(owner)
		}
	})
}

// BenchmarkLockDrain: n owners queue for one key held by another; each,
// granted, releases at once, handing the lock to the next. One op is the
// whole queue, queued and drained.
func BenchmarkLockDrain(b *testing.B) {
	for _, n := range []int{1000, 4000} {
		b.Run(fmt.Sprintf("waiters=%d", n), func(b *testing.B) {
			owner := uint64(0)
			for b.Loop() {
				lt := txn.NewLockTable()
				owner++
				holder := owner
				if _, err := lt.Lock(holder, []byte("hot"), txn.Exclusive); err != nil {
					b.Fatal(err)
				}
				var wg sync.WaitGroup
				for range n {
					owner++
					o := owner
					w, err := lt.Lock(o, []byte("hot"), txn.Exclusive)
					if err != nil || w == nil {
						b.Fatal("expected a wait", err)
					}
					wg.Go(func() {
						if err := w.Wait(context.Background(), nil); err != nil {
							b.Error(err)
						}
						lt.ReleaseAll(o)
					})
				}
				lt.ReleaseAll(holder)
				wg.Wait()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/waiter")
		})
	}
}

// Two goroutines of one transaction may wait at once: both requests are
// its edges, a release fails both, and neither is left queued.
func TestLockOwnerWaitsTwice(t *testing.T) {
	lt := txn.NewLockTable()
	require.Nil(t, mustLock(t, lt, 2, "a", txn.Exclusive))
	require.Nil(t, mustLock(t, lt, 3, "b", txn.Exclusive))
	wa := mustLock(t, lt, 1, "a", txn.Shared)
	wb := mustLock(t, lt, 1, "b", txn.Shared)
	require.NotNil(t, wa)
	require.NotNil(t, wb)
	require.Equal(t, 2, lt.Waiting())
	require.Nil(t, mustLock(t, lt, 1, "c", txn.Exclusive))
	_, err := lt.Lock(3, []byte("c"), txn.Shared) // 3 -> 1 -> 3 through 1's second wait
	require.ErrorIs(t, err, txn.ErrDeadlock)
	lt.ReleaseAll(1)
	require.ErrorIs(t, wa.Wait(context.Background(), nil), txn.ErrLockReleased)
	require.ErrorIs(t, wb.Wait(context.Background(), nil), txn.ErrLockReleased)
	require.Zero(t, lt.Waiting())
	lt.ReleaseAll(2)
	lt.ReleaseAll(3)
	require.Zero(t, lt.Held())
}

// A lock granted to a transaction while another of its goroutines waits
// adds edges into a waiting owner: the cycle it closes is found, and the
// other wait is the victim.
func TestLockGrantToWaitingOwner(t *testing.T) {
	lt := txn.NewLockTable()
	require.Nil(t, mustLock(t, lt, 2, "a", txn.Exclusive))
	require.Nil(t, mustLock(t, lt, 3, "b", txn.Exclusive))
	wa := mustLock(t, lt, 1, "a", txn.Shared)
	wb := mustLock(t, lt, 1, "b", txn.Shared)
	w3 := mustLock(t, lt, 3, "a", txn.Exclusive) // waits for 2, behind 1
	require.NotNil(t, wa)
	require.NotNil(t, wb)
	require.NotNil(t, w3)
	lt.ReleaseAll(2) // a goes to 1: now 3 waits for 1, and 1 (on b) for 3
	require.True(t, granted(t, wa))
	err := wb.Wait(context.Background(), nil)
	require.ErrorIs(t, err, txn.ErrDeadlock)
	var de *txn.DeadlockError
	require.ErrorAs(t, err, &de)
	require.Equal(t, uint64(1), de.Cycle[0].Owner)
	require.Equal(t, []byte("b"), de.Cycle[0].Key)
	require.Equal(t, uint64(1), lt.Deadlocks())
	lt.ReleaseAll(1)
	require.True(t, granted(t, w3))
	lt.ReleaseAll(3)
	require.Zero(t, lt.Held())
}
