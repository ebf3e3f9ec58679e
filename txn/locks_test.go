package txn_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/txn"
)

// waiter waits on w in the background (nil w: granted at once).
type waiter chan error

func wait(w *txn.LockWait) waiter {
	ch := make(waiter, 1)
	if w == nil {
		ch <- nil
		return ch
	}
	go func() { ch <- w.Wait(context.Background(), nil) }()
	return ch
}

// granted waits for the grant the test expects; it gives up (false) only
// after 10 s, so a busy machine that schedules the waiting goroutine late
// does not fail the test.
func (ch waiter) granted(t *testing.T) bool {
	t.Helper()
	select {
	case err := <-ch:
		require.NoError(t, err)
		return true
	case <-time.After(10 * time.Second):
		return false
	}
}

// pending reports that no grant arrived within a short while: the check
// of a wait that must go on (a wrong grant shows up there, or at the
// test's later granted).
func (ch waiter) pending(t *testing.T) bool {
	t.Helper()
	select {
	case err := <-ch:
		require.NoError(t, err)
		return false
	case <-time.After(20 * time.Millisecond):
		return true
	}
}

func granted(t *testing.T, w *txn.LockWait) bool { t.Helper(); return wait(w).granted(t) }

func mustLock(t *testing.T, lt *txn.LockTable, owner uint64, key string, mode txn.LockMode) *txn.LockWait {
	t.Helper()
	w, err := lt.Lock(owner, []byte(key), mode)
	require.NoError(t, err)
	return w
}

func TestLockModes(t *testing.T) {
	cases := []struct {
		held, asked txn.LockMode
		waits       bool
	}{
		{txn.Shared, txn.Shared, false},
		{txn.Shared, txn.Exclusive, true},
		{txn.Shared, txn.Intent, true},
		{txn.Intent, txn.Intent, false},
		{txn.Intent, txn.Shared, true},
		{txn.Exclusive, txn.Shared, true},
		{txn.Exclusive, txn.Intent, true},
	}
	for _, c := range cases {
		t.Run(c.held.String()+"-"+c.asked.String(), func(t *testing.T) {
			lt := txn.NewLockTable()
			require.Nil(t, mustLock(t, lt, 1, "k", c.held))
			w := mustLock(t, lt, 2, "k", c.asked)
			require.Equal(t, c.waits, w != nil)
			lt.ReleaseAll(1)
			require.True(t, granted(t, w))
			lt.ReleaseAll(2)
			require.Zero(t, lt.Held())
		})
	}
}

func TestLockUpgradeAndDeadlock(t *testing.T) {
	lt := txn.NewLockTable()
	require.Nil(t, mustLock(t, lt, 1, "k", txn.Shared))
	require.Nil(t, mustLock(t, lt, 2, "k", txn.Shared))
	w1 := mustLock(t, lt, 1, "k", txn.Exclusive) // upgrade waits for 2's shared lock
	require.NotNil(t, w1)
	_, err := lt.Lock(2, []byte("k"), txn.Exclusive) // 2 upgrading too closes the cycle
	require.ErrorIs(t, err, txn.ErrDeadlock)
	lt.ReleaseAll(2) // the victim rolls back
	require.True(t, granted(t, w1))
	require.Nil(t, mustLock(t, lt, 1, "k", txn.Shared), "exclusive covers shared")
}

func TestLockRangeDeadlock(t *testing.T) {
	lt := txn.NewLockTable()
	w, err := lt.LockRange(1, []byte("a"), []byte("m"))
	require.NoError(t, err)
	require.Nil(t, w)
	require.Nil(t, mustLock(t, lt, 2, "x", txn.Shared))
	require.Nil(t, mustLock(t, lt, 2, "z", txn.Exclusive))
	require.Nil(t, mustLock(t, lt, 2, "a", txn.Shared), "a shared read inside a shared range")
	w2 := mustLock(t, lt, 2, "c", txn.Intent) // an insert into 1's range waits
	require.NotNil(t, w2)
	_, err = lt.Lock(1, []byte("z"), txn.Shared) // 1 reading 2's write: a cycle
	require.ErrorIs(t, err, txn.ErrDeadlock)
	lt.ReleaseAll(1)
	require.True(t, granted(t, w2))
	w, err = lt.LockRange(3, nil, []byte("d")) // a range over 2's write waits
	require.NoError(t, err)
	require.NotNil(t, w)
	lt.ReleaseAll(2)
	require.True(t, granted(t, w))
}

// A writer queued behind readers is not starved by readers that come
// after it.
func TestLockFairness(t *testing.T) {
	lt := txn.NewLockTable()
	require.Nil(t, mustLock(t, lt, 1, "k", txn.Shared))
	wx := mustLock(t, lt, 2, "k", txn.Exclusive)
	require.NotNil(t, wx)
	ws := mustLock(t, lt, 3, "k", txn.Shared)
	require.NotNil(t, ws, "a later reader queues behind the waiting writer")
	reader := wait(ws)
	lt.ReleaseAll(1)
	require.True(t, granted(t, wx))
	require.True(t, reader.pending(t))
	lt.ReleaseAll(2)
	require.True(t, reader.granted(t))
}

func TestLockWaitEnds(t *testing.T) {
	lt := txn.NewLockTable()
	require.Nil(t, mustLock(t, lt, 1, "k", txn.Exclusive))
	w := mustLock(t, lt, 2, "k", txn.Exclusive)
	done := make(chan error)
	go func() { done <- w.Wait(context.Background(), nil) }()
	lt.ReleaseAll(2) // 2's transaction rolled back from another goroutine
	require.ErrorIs(t, <-done, txn.ErrLockReleased)

	ctx, cancel := context.WithCancel(context.Background())
	w = mustLock(t, lt, 3, "k", txn.Shared)
	go func() { done <- w.Wait(ctx, nil) }()
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)

	closing := make(chan struct{})
	w = mustLock(t, lt, 4, "k", txn.Shared)
	close(closing)
	require.True(t, txn.IsClosedWait(w.Wait(context.Background(), closing)))
	require.Zero(t, lt.Waiting())
	lt.ReleaseAll(1)
	require.Zero(t, lt.Held())
}

// BenchmarkLockTableCommit: what a plain writer's commit pays in the lock
// table when it meets no lock: nothing but the gate while no strong lock
// exists (fast), intent locks on its keys and their release otherwise
// (registered: some other owner holds a lock elsewhere).
func BenchmarkLockTableCommit(b *testing.B) {
	for _, registered := range []bool{false, true} {
		for _, n := range []int{1, 10} {
			b.Run(fmt.Sprintf("registered=%v/keys=%d", registered, n), func(b *testing.B) {
				lt := txn.NewLockTable()
				if registered {
					_, err := lt.Lock(1<<60, []byte("elsewhere"), txn.Shared)
					require.NoError(b, err)
				}
				var next atomic.Uint64
				b.RunParallel(func(pb *testing.PB) {
					// Intents are compatible: every committer may write the
					// same keys without meeting a lock.
					keys := make([][]byte, n)
					for i := range keys {
						keys[i] = fmt.Appendf(nil, "key%d", i)
					}
					for pb.Next() {
						owner := next.Add(1)
						fast, err := lt.LockIntents(context.Background(), nil, owner, keys)
						if err != nil {
							b.Fatal(err)
						}
						if fast {
							lt.EndIntents()
						} else {
							lt.ReleaseAll(owner)
						}
					}
				})
			})
		}
	}
}

// A plain committer's intents take part in deadlock detection like any
// lock: it holds an intent on a and waits for b, held exclusively by a
// transaction that then asks to read a.
func TestLockIntentDeadlock(t *testing.T) {
	lt := txn.NewLockTable()
	require.Nil(t, mustLock(t, lt, 1, "b", txn.Exclusive))
	done := make(chan error, 1)
	go func() {
		done <- lt.LockAll(context.Background(), nil, 2, [][]byte{[]byte("a"), []byte("b")}, txn.Intent)
	}()
	require.Eventually(t, func() bool { return lt.Waiting() == 1 }, 10*time.Second, time.Millisecond)
	_, err := lt.Lock(1, []byte("a"), txn.Shared)
	require.ErrorIs(t, err, txn.ErrDeadlock)
	lt.ReleaseAll(1)
	require.NoError(t, <-done)
	lt.ReleaseAll(2)
	require.Zero(t, lt.Held())
}

// The victim's error names the cycle: each transaction and the lock it
// waits for.
func TestDeadlockErrorNamesCycle(t *testing.T) {
	lt := txn.NewLockTable()
	require.Nil(t, mustLock(t, lt, 1, "a", txn.Exclusive))
	require.Nil(t, mustLock(t, lt, 2, "b", txn.Exclusive))
	w, err := lt.LockRange(1, []byte("b"), nil)
	require.NoError(t, err)
	require.NotNil(t, w)
	_, err = lt.Lock(2, []byte("a"), txn.Shared)
	require.ErrorIs(t, err, txn.ErrDeadlock)
	var de *txn.DeadlockError
	require.ErrorAs(t, err, &de)
	require.Equal(t, `mvkv: deadlock: txn 2 (shared lock on key "a") waits for txn 1 (range lock on ["b", +inf)), which waits for txn 2`, err.Error())
	require.Len(t, de.Cycle, 2)
	require.Equal(t, uint64(2), de.Cycle[0].Owner, "the requester is the victim")
	require.Equal(t, []byte("a"), de.Cycle[0].Key)
	require.True(t, de.Cycle[1].Range)
	require.Equal(t, uint64(1), lt.Deadlocks())
	require.Equal(t, 1, lt.Waiting())
	lt.ReleaseAll(2)
	require.True(t, granted(t, w))
	lt.ReleaseAll(1)
	require.Zero(t, lt.Held())
	require.Zero(t, lt.Waiting())
}
