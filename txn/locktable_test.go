package txn_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/txn"
)

// acquire takes key's exclusive lock for owner, waiting as needed.
func acquire(ctx context.Context, lt *txn.LockTable, done <-chan struct{}, owner uint64, key string) error {
	w, err := lt.Lock(owner, []byte(key), txn.Exclusive)
	if err != nil || w == nil {
		return err
	}
	return w.Wait(ctx, done)
}

// acquireAsync runs acquire in a goroutine; the result arrives on the
// channel.
func acquireAsync(ctx context.Context, lt *txn.LockTable, done <-chan struct{}, owner uint64, key string) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- acquire(ctx, lt, done, owner, key) }()
	return ch
}

// requireBlocked checks that an Acquire is still waiting a moment later.
func requireBlocked(t *testing.T, ch <-chan error) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("Acquire returned %v, want it to wait", err)
	case <-time.After(20 * time.Millisecond):
	}
}

func TestLockTableAcquireRelease(t *testing.T) {
	lt := txn.NewLockTable()
	ctx := context.Background()
	require.NoError(t, acquire(ctx, lt, nil, 1, "k"))
	require.NoError(t, acquire(ctx, lt, nil, 1, "k"), "re-entrant: the owner holds it already")
	require.Equal(t, 1, lt.Held())

	// A second owner waits until the holder releases.
	ch := acquireAsync(ctx, lt, nil, 2, "k")
	requireBlocked(t, ch)
	lt.ReleaseAll(1)
	require.NoError(t, <-ch)
	require.Equal(t, 1, lt.Held())
	lt.ReleaseAll(2)
	require.Zero(t, lt.Held())
}

// A wait that would close a cycle fails at once; the other waiter gets
// the lock once the failed owner releases.
func TestLockTableDeadlock(t *testing.T) {
	lt := txn.NewLockTable()
	ctx := context.Background()
	err := acquire(ctx, lt, nil, 1, "a")
	require.NoError(t, err)
	err = acquire(ctx, lt, nil, 2, "b")
	require.NoError(t, err)
	ch := acquireAsync(ctx, lt, nil, 1, "b") // 1 waits for 2
	requireBlocked(t, ch)
	start := time.Now()
	err = acquire(ctx, lt, nil, 2, "a") // 2 would wait for 1
	require.ErrorIs(t, err, txn.ErrDeadlock)
	require.Less(t, time.Since(start), time.Second, "found when it forms, not by timeout")
	lt.ReleaseAll(2)
	require.NoError(t, <-ch)
	lt.ReleaseAll(1)
	require.Zero(t, lt.Held())
}

// A longer cycle, 1 -> 2 -> 3 -> 1, is found too.
func TestLockTableDeadlockThroughThree(t *testing.T) {
	lt := txn.NewLockTable()
	ctx := context.Background()
	for i, k := range []string{"a", "b", "c"} {
		err := acquire(ctx, lt, nil, uint64(i+1), k)
		require.NoError(t, err)
	}
	w1 := acquireAsync(ctx, lt, nil, 1, "b")
	requireBlocked(t, w1)
	w2 := acquireAsync(ctx, lt, nil, 2, "c")
	requireBlocked(t, w2)
	err := acquire(ctx, lt, nil, 3, "a")
	require.ErrorIs(t, err, txn.ErrDeadlock)
	lt.ReleaseAll(3)
	require.NoError(t, <-w2)
	lt.ReleaseAll(2)
	require.NoError(t, <-w1)
	lt.ReleaseAll(1)
	require.Zero(t, lt.Held())
}

// A wait ends with the context's error, or with the closed-wait error
// when the table's done channel closes.
func TestLockTableWaitEnds(t *testing.T) {
	lt := txn.NewLockTable()
	err := acquire(context.Background(), lt, nil, 1, "k")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ch := acquireAsync(ctx, lt, nil, 2, "k")
	requireBlocked(t, ch)
	cancel()
	require.ErrorIs(t, <-ch, context.Canceled)

	done := make(chan struct{})
	ch = acquireAsync(context.Background(), lt, done, 3, "k")
	requireBlocked(t, ch)
	close(done)
	err = <-ch
	require.True(t, txn.IsClosedWait(err), "got %v", err)
	require.NotErrorIs(t, err, txn.ErrDeadlock)
	require.Equal(t, 1, lt.Held())
}
