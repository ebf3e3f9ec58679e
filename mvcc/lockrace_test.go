package mvcc_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// TestLockWaitEndRaces ends a GetForUpdate wait in every way at once: the
// waiter's context is cancelled, another goroutine rolls it back, and the
// holder commits, all released together. Whatever wins, the wait returns,
// the waiter is done, and no lock is left behind: a fresh transaction
// takes the key's lock at once. MVKV_LOCKRACE_ROUNDS scales it.
func TestLockWaitEndRaces(t *testing.T) {
	rounds := 50
	if s := os.Getenv("MVKV_LOCKRACE_ROUNDS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			rounds = n
		}
	}
	db, _ := ctOpen(t, nil)
	for i := range rounds {
		holder, err := db.Begin(mvcc.ReadCommitted)
		require.NoError(t, err)
		_, err = holder.GetForUpdate([]byte("k"))
		if err != nil {
			require.ErrorIs(t, err, mvcc.ErrNotFound)
		}
		require.NoError(t, holder.Put([]byte("k"), []byte(strconv.Itoa(i))))
		ctx, cancel := context.WithCancel(context.Background())
		level := []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable}[i%3]
		waiter, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: level, Locking: level == mvcc.Serializable && i%2 == 0})
		require.NoError(t, err)
		ch := goDo(func() error {
			if level == mvcc.Serializable && i%2 == 0 {
				_, err := waiter.Get([]byte("k"))
				return err
			}
			_, err := waiter.GetForUpdate([]byte("k"))
			return err
		})
		var start sync.WaitGroup
		start.Add(1)
		var wg sync.WaitGroup
		wg.Add(3)
		go func() { defer wg.Done(); start.Wait(); cancel() }()
		go func() { defer wg.Done(); start.Wait(); _ = waiter.Rollback() }()
		go func() { defer wg.Done(); start.Wait(); assert.NoError(t, holder.Commit()) }()
		start.Done()
		wg.Wait()
		<-ch // any outcome; it must return
		require.Error(t, waiter.Put([]byte("k"), []byte("x")), "the waiter is done")
		_ = waiter.Rollback()
		// No lock is left: a new transaction locks and writes k at once.
		after, err := db.Begin(mvcc.ReadCommitted)
		require.NoError(t, err)
		v, err := after.GetForUpdate([]byte("k"))
		require.NoError(t, err)
		require.Equal(t, strconv.Itoa(i), string(v))
		require.NoError(t, after.Commit())
		require.Zero(t, db.Stats().LocksHeld)
	}
}

// TestGetForUpdateThenPlainWritesCommit: a snapshot transaction that locked
// one key with GetForUpdate and writes it and another key commits (its
// commit's intent locks coexist with its own exclusive lock), and its end
// releases everything.
func TestGetForUpdateThenPlainWritesCommit(t *testing.T) {
	db, _ := ctOpen(t, nil)
	for _, level := range []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable} {
		tx, err := db.Begin(level)
		require.NoError(t, err)
		_, _ = tx.GetForUpdate([]byte("a"))
		require.NoError(t, tx.Put([]byte("a"), []byte(level.String())))
		require.NoError(t, tx.Put([]byte("b"), []byte(level.String())))
		require.NoError(t, tx.Commit())
		require.Zero(t, db.Stats().LocksHeld)
		other, err := db.BeginTx(context.Background(), mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: true})
		require.NoError(t, err)
		v, err := other.Get([]byte("a"))
		require.NoError(t, err)
		require.Equal(t, level.String(), string(v))
		require.NoError(t, other.Put([]byte("b"), []byte("x")))
		require.NoError(t, other.Commit())
		require.Zero(t, db.Stats().LocksHeld)
	}
}
