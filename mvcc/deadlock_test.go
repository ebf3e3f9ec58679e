package mvcc_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// waitForWaiters blocks until n transactions wait for a lock: the
// barrier that orders a test's steps (it fails only if they never
// queue).
func waitForWaiters(t *testing.T, db *mvcc.DB, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return db.Stats().LockWaiters == n }, 10*time.Second, time.Millisecond,
		"waiting for %d lock waiters", n)
}

// goScan runs a scan of [start, end) in tx on its own goroutine; the
// result is the scan's error (tx.Err).
func goScan(tx *mvcc.Txn, start, end string) <-chan result {
	return goDo(func() error {
		for range tx.Scan([]byte(start), []byte(end)) {
		}
		return tx.Err()
	})
}

// An upgrade that jumps the queue, and a release that then turns a
// waiter onto it: the deadlock is found when the release lets it form,
// and the victim's error names the cycle.
//   - T1 (locking) reads k03: a shared lock.
//   - T2 (locking) scans [k03, k04): a range lock.
//   - T3 (read committed) GetForUpdate k02: an exclusive lock.
//   - T2 scans [k01, k05) on another goroutine: it waits for T3.
//   - T1 writes k03 on another goroutine: the upgrade waits for T2's
//     range, queued ahead of T2's request.
//   - T3 rolls back: now T2 waits for T1 and T1 for T2.
func TestDeadlockUpgradeQueueJump(t *testing.T) {
	db := openTestDB(t)
	put(t, db, "k01", "1", "k02", "2", "k03", "3", "k04", "4")
	t1, t2 := beginLocking(t, db), beginLocking(t, db)
	t3 := begin(t, db, mvcc.ReadCommitted)
	_, err := t1.Get([]byte("k03"))
	require.NoError(t, err)
	n := 0
	for range t2.Scan([]byte("k03"), []byte("k04")) {
		n++
	}
	require.Equal(t, 1, n)
	require.NoError(t, t2.Err())
	_, err = t3.GetForUpdate([]byte("k02"))
	require.NoError(t, err)

	scan := goScan(t2, "k01", "k05")
	waitForWaiters(t, db, 1)
	write := goDo(func() error { return t1.Put([]byte("k03"), []byte("x")) })
	waitForWaiters(t, db, 2)
	require.Zero(t, db.Stats().Deadlocks, "no cycle yet: T2 waits for T3")

	require.NoError(t, t3.Rollback())
	// The victim's transaction ends with its error, which lets the other
	// have its lock: both calls return.
	scanErr, writeErr := await(t, scan).err, await(t, write).err
	victimErr, survivorErr, victimTx, survivorTx := scanErr, writeErr, t2, t1
	if scanErr == nil {
		victimErr, survivorErr, victimTx, survivorTx = writeErr, scanErr, t1, t2
	}
	requireDeadlock(t, victimErr)
	require.NoError(t, survivorErr)
	require.Equal(t, uint64(1), db.Stats().Deadlocks)
	require.ErrorIs(t, victimTx.Commit(), mvcc.ErrTxnDone, "the victim has ended")
	require.NoError(t, survivorTx.Commit())
	require.Zero(t, db.Stats().LocksHeld)
	require.Zero(t, db.Stats().LockWaiters)
}

// requireDeadlock checks a victim's error: ErrDeadlock and ErrConflict,
// naming the cycle's transactions and the keys they wait for.
func requireDeadlock(t *testing.T, err error) {
	t.Helper()
	require.ErrorIs(t, err, mvcc.ErrDeadlock)
	require.ErrorIs(t, err, mvcc.ErrConflict)
	var ce *mvcc.ConflictError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, mvcc.DeadlockFailure, ce.Kind)
	require.Contains(t, err.Error(), `(exclusive lock on key "k03")`)
	require.Contains(t, err.Error(), `(range lock on ["k01", "k05"))`)
	require.Regexp(t, `txn \d+ \(.*\) waits for txn \d+ \(.*\), which waits for txn \d+`, err.Error())
}

// A locking transaction that scans again a range it holds, while a writer
// waits for that range, gets it at once: it is no deadlock victim. So do
// a read inside the range and a scan of part of it.
func TestLockingRescanWhileWriterWaits(t *testing.T) {
	db := openTestDB(t)
	put(t, db, "r/a", "1", "r/b", "2")
	l := beginLocking(t, db)
	scan := func(start, end string) int {
		n := 0
		for range l.Scan([]byte(start), []byte(end)) {
			n++
		}
		require.NoError(t, l.Err())
		return n
	}
	require.Equal(t, 2, scan("r/", "r/~"))
	w := begin(t, db, mvcc.ReadCommitted)
	require.NoError(t, w.Put([]byte("r/c"), []byte("3")))
	commit := goDo(w.Commit)
	waitForWaiters(t, db, 1)

	require.Equal(t, 2, scan("r/", "r/~"), "the range it holds")
	require.Equal(t, 1, scan("r/b", "r/c"), "part of it")
	v, err := l.Get([]byte("r/a"))
	require.NoError(t, err)
	require.Equal(t, "1", string(v))
	require.Zero(t, db.Stats().Deadlocks)
	require.Equal(t, 1, db.Stats().LockWaiters)
	require.NoError(t, l.Commit())
	require.NoError(t, await(t, commit).err)
	require.Equal(t, "3", string(ctGet(t, db, "r/c")))
}

// Stats counts the locks held (key and range), the waiters now and the
// deadlocks since Open.
func TestLockStats(t *testing.T) {
	db := openTestDB(t)
	put(t, db, "a", "1", "b", "2")
	l := beginLocking(t, db)
	for range l.Scan([]byte("a"), []byte("b")) {
	}
	_, err := l.Get([]byte("z"))
	require.ErrorIs(t, err, mvcc.ErrNotFound)
	g := begin(t, db, mvcc.ReadCommitted)
	_, err = g.GetForUpdate([]byte("b"))
	require.NoError(t, err)
	s := db.Stats()
	require.Equal(t, 3, s.LocksHeld, "a range, a shared key lock, an exclusive one")
	require.Zero(t, s.LockWaiters)
	require.Zero(t, s.Deadlocks)

	// g's commit waits for l's range; l then waits for g: a deadlock.
	require.NoError(t, g.Put([]byte("a"), []byte("x")), "a read-committed Put takes no lock before Commit")
	gc := goDo(g.Commit)
	waitForWaiters(t, db, 1)
	_, err = l.GetForUpdate([]byte("b"))
	require.ErrorIs(t, err, mvcc.ErrDeadlock)
	require.NoError(t, await(t, gc).err)
	s = db.Stats()
	require.Zero(t, s.LockWaiters)
	require.Equal(t, uint64(1), s.Deadlocks)
	require.Zero(t, s.LocksHeld)
	m := s.Metrics()
	require.Equal(t, float64(1), m["mvkv_deadlocks_total"])
	require.Contains(t, m, "mvkv_lock_waiters")
}

// hotKeyWaiters runs n read-committed transactions that each
// GetForUpdate key, increment it and commit, all queued behind a holder
// before it commits. Before the holder lets them go, other runs on
// another key; it returns when every waiter has committed.
func hotKeyWaiters(tb testing.TB, db *mvcc.DB, key string, n int, other func()) {
	holder, err := db.Begin(mvcc.ReadCommitted)
	require.NoError(tb, err)
	_, err = holder.GetForUpdate([]byte(key))
	require.NoError(tb, err)
	errs := make(chan error, n)
	for range n {
		go func() {
			errs <- db.Update(context.Background(), mvcc.ReadCommitted, func(tx *mvcc.Txn) error {
				v, err := tx.GetForUpdate([]byte(key))
				if err != nil {
					return err
				}
				i, err := strconv.Atoi(string(v))
				if err != nil {
					return err
				}
				return tx.Put([]byte(key), []byte(strconv.Itoa(i+1)))
			})
		}()
	}
	require.Eventually(tb, func() bool { return db.Stats().LockWaiters == n }, time.Minute, time.Millisecond)
	if other != nil {
		other()
	}
	require.NoError(tb, holder.Commit())
	for range n {
		require.NoError(tb, <-errs)
	}
}

// 4,000 transactions wait for one key's lock; a transaction on another
// key meanwhile locks, writes and commits without meeting them; the queue
// drains, each waiter committing its increment.
func TestGetForUpdateManyWaiters(t *testing.T) {
	const n = 4000
	db := openTestDB(t)
	put(t, db, "hot", "0")
	hotKeyWaiters(t, db, "hot", n, func() {
		require.NoError(t, db.Update(context.Background(), mvcc.ReadCommitted, func(tx *mvcc.Txn) error {
			if _, err := tx.GetForUpdate([]byte("cold")); !errors.Is(err, mvcc.ErrNotFound) {
				return err
			}
			return tx.Put([]byte("cold"), []byte("1"))
		}))
		require.Equal(t, n, db.Stats().LockWaiters, "the cold key went by the queue")
	})
	require.Equal(t, strconv.Itoa(n), string(ctGet(t, db, "hot")))
	s := db.Stats()
	require.Zero(t, s.LockWaiters)
	require.Zero(t, s.Deadlocks)
	require.Zero(t, s.LocksHeld)
}

// BenchmarkGetForUpdateWaiters: n transactions queue for one key's lock
// (GetForUpdate) behind a holder, then drain, each incrementing the key
// and committing. One op is the whole queue, queued and drained.
func BenchmarkGetForUpdateWaiters(b *testing.B) {
	for _, n := range []int{1000, 4000} {
		b.Run(fmt.Sprintf("waiters=%d", n), func(b *testing.B) {
			db, _ := ctOpen(b, nil)
			ctPut(b, db, "hot", "0")
			for b.Loop() {
				hotKeyWaiters(b, db, "hot", n, nil)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/waiter")
		})
	}
}
