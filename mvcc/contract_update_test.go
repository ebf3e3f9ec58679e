package mvcc_test

// Black-box tests of Update, View, read-only transactions, Stats, and a
// restart rebuilding exactly what was committed.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// conflictingFn returns an Update function that, on the attempts listed in
// conflictOn (1-based), commits a concurrent write to "k" after its
// transaction began, then writes "k" itself, so that the attempt fails
// with ErrConflict at the write or at Commit. It counts attempts.
func conflictingFn(t *testing.T, db *mvcc.DB, attempts *int, conflictOn func(n int) bool, atCommit bool) func(tx *mvcc.Txn) error {
	return func(tx *mvcc.Txn) error {
		*attempts++
		n := *attempts
		if atCommit {
			if err := tx.Put([]byte("k"), []byte(fmt.Sprintf("attempt %d", n))); err != nil {
				return err
			}
		}
		if conflictOn(n) {
			other, err := db.Begin(mvcc.ReadCommitted)
			require.NoError(t, err)
			require.NoError(t, other.Put([]byte("k"), []byte(fmt.Sprintf("concurrent %d", n))))
			require.NoError(t, other.Commit())
		}
		if atCommit {
			return nil
		}
		return tx.Put([]byte("k"), []byte(fmt.Sprintf("attempt %d", n)))
	}
}

func TestUpdateRetriesConflicts(t *testing.T) {
	for _, level := range []mvcc.Level{mvcc.Snapshot, mvcc.Serializable} {
		for _, atCommit := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/atCommit=%v", level, atCommit), func(t *testing.T) {
				db, _ := ctOpen(t, nil)
				attempts := 0
				fn := conflictingFn(t, db, &attempts, func(n int) bool { return n <= 2 }, atCommit)
				require.NoError(t, db.Update(context.Background(), level, fn))
				assert.Equal(t, 3, attempts, "two conflicts, then a commit")
				assert.Equal(t, []string{"k=attempt 3"}, dump(t, db))
				assert.Equal(t, uint64(2), db.Stats().Conflicts)
			})
		}
	}
}

func TestUpdateReadCommittedDoesNotConflict(t *testing.T) {
	db, _ := ctOpen(t, nil)
	attempts := 0
	fn := conflictingFn(t, db, &attempts, func(int) bool { return true }, false)
	require.NoError(t, db.Update(context.Background(), mvcc.ReadCommitted, fn))
	assert.Equal(t, 1, attempts)
	assert.Equal(t, []string{"k=attempt 1"}, dump(t, db), "last committer wins")
}

func TestUpdateRetriesAreBounded(t *testing.T) {
	tests := []struct {
		retries      int
		wantAttempts int
	}{
		{-1, 1}, // no retries
		{1, 2},
		{3, 4},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.retries), func(t *testing.T) {
			db, _ := ctOpen(t, &mvcc.Options{NoSync: true, MaxUpdateRetries: tt.retries})
			attempts := 0
			fn := conflictingFn(t, db, &attempts, func(int) bool { return true }, false)
			err := db.Update(context.Background(), mvcc.Snapshot, fn)
			require.ErrorIs(t, err, mvcc.ErrConflict)
			assert.Equal(t, tt.wantAttempts, attempts)
			assert.Equal(t, []string{fmt.Sprintf("k=concurrent %d", attempts)}, dump(t, db))
		})
	}
}

func TestUpdateReturnsOtherErrorsUnchanged(t *testing.T) {
	sentinel := errors.New("application error")
	wrappedConflict := fmt.Errorf("app: %w", mvcc.ErrConflict)
	tests := []struct {
		name      string
		err       error
		wantCalls int
	}{
		{"plain error", sentinel, 1},
		{"wrapped error", fmt.Errorf("step 2: %w", sentinel), 1},
		{"not found from a read", mvcc.ErrNotFound, 1},
		{"a conflict from fn is retried", wrappedConflict, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := ctOpen(t, &mvcc.Options{NoSync: true, MaxUpdateRetries: 2})
			ctPut(t, db, "k", "before")
			calls := 0
			err := db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
				calls++
				require.NoError(t, tx.Put([]byte("k"), []byte("changed")))
				require.NoError(t, tx.Put([]byte("new"), []byte("x")))
				return tt.err
			})
			assert.Same(t, tt.err, err, "returned unchanged")
			assert.Equal(t, tt.wantCalls, calls)
			assert.Equal(t, []string{"k=before"}, dump(t, db), "fn's writes are rolled back")
			assert.Zero(t, db.Stats().ActiveTxns)
		})
	}
}

func TestUpdateStopsWhenContextEnds(t *testing.T) {
	db, _ := ctOpen(t, &mvcc.Options{NoSync: true, MaxUpdateRetries: 1 << 20})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	attempts := 0
	inner := conflictingFn(t, db, &attempts, func(int) bool { return true }, false)
	err := db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
		if attempts == 2 {
			cancel()
		}
		return inner(tx)
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.LessOrEqual(t, attempts, 4, "no retry after the context ended")
	assert.GreaterOrEqual(t, attempts, 3)
	assert.Zero(t, db.Stats().ActiveTxns)
}

func TestUpdateConcurrentIncrements(t *testing.T) {
	// Lost updates are impossible under snapshot and serializable, and
	// Update's retries make every increment land.
	const workers, each = 4, 25
	for _, level := range []mvcc.Level{mvcc.Snapshot, mvcc.Serializable} {
		t.Run(level.String(), func(t *testing.T) {
			db, _ := ctOpen(t, &mvcc.Options{NoSync: true, MaxUpdateRetries: 10000})
			ctPut(t, db, "n", "0")
			var wg sync.WaitGroup
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < each; i++ {
						err := db.Update(context.Background(), level, func(tx *mvcc.Txn) error {
							v, err := tx.Get([]byte("n"))
							if err != nil {
								return err
							}
							var n int
							if _, err := fmt.Sscan(string(v), &n); err != nil {
								return err
							}
							return tx.Put([]byte("n"), []byte(fmt.Sprint(n+1)))
						})
						if !assert.NoError(t, err) {
							return
						}
					}
				}()
			}
			wg.Wait()
			assert.Equal(t, []string{fmt.Sprintf("n=%d", workers*each)}, dump(t, db))
		})
	}
}

func TestUpdateTxnEndsWithUpdate(t *testing.T) {
	db, _ := ctOpen(t, nil)
	var kept *mvcc.Txn
	require.NoError(t, db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
		kept = tx
		return tx.Put([]byte("k"), []byte("v"))
	}))
	assert.ErrorIs(t, kept.Put([]byte("k2"), []byte("v")), mvcc.ErrTxnDone)
	_, err := kept.Get([]byte("k"))
	assert.ErrorIs(t, err, mvcc.ErrTxnDone)
}

func TestViewIsReadOnly(t *testing.T) {
	db, _ := ctOpen(t, nil)
	ctPut(t, db, "k", "v")
	var kept *mvcc.Txn
	err := db.View(context.Background(), func(tx *mvcc.Txn) error {
		kept = tx
		assert.ErrorIs(t, tx.Put([]byte("k"), []byte("x")), mvcc.ErrReadOnly)
		assert.ErrorIs(t, tx.Put([]byte("new"), []byte("x")), mvcc.ErrReadOnly)
		assert.ErrorIs(t, tx.Delete([]byte("k")), mvcc.ErrReadOnly)
		// A rejected write leaves the transaction usable.
		assert.Equal(t, "v", getStr(t, tx, "k"))
		assert.Equal(t, []string{"k=v"}, scanAll(tx, nil, nil))
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"k=v"}, dump(t, db))
	_, err = kept.Get([]byte("k"))
	assert.ErrorIs(t, err, mvcc.ErrTxnDone, "View's transaction ends with View")

	sentinel := errors.New("from fn")
	assert.Same(t, sentinel, db.View(context.Background(), func(*mvcc.Txn) error { return sentinel }))
}

func TestViewReadsOneSnapshot(t *testing.T) {
	db, _ := ctOpen(t, nil)
	ctPut(t, db, "a", "1", "b", "1")
	err := db.View(context.Background(), func(tx *mvcc.Txn) error {
		assert.Equal(t, "1", getStr(t, tx, "a"))
		ctPut(t, db, "a", "2", "b", "2", "c", "2")
		assert.Equal(t, "1", getStr(t, tx, "a"))
		assert.Equal(t, "1", getStr(t, tx, "b"))
		assert.Equal(t, []string{"a=1", "b=1"}, scanAll(tx, nil, nil))
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"a=2", "b=2", "c=2"}, dump(t, db))
}

func TestReadOnlyTxn(t *testing.T) {
	for _, level := range levels {
		t.Run(level.String(), func(t *testing.T) {
			db, _ := ctOpen(t, nil)
			ctPut(t, db, "k", "v")
			tx, err := db.BeginTx(context.Background(), mvcc.TxOptions{Isolation: level, ReadOnly: true})
			require.NoError(t, err)
			assert.ErrorIs(t, tx.Put([]byte("k"), []byte("x")), mvcc.ErrReadOnly)
			assert.ErrorIs(t, tx.Delete([]byte("k")), mvcc.ErrReadOnly)
			assert.Equal(t, "v", getStr(t, tx, "k"))
			require.NoError(t, tx.Commit())
			assert.Equal(t, []string{"k=v"}, dump(t, db))
		})
	}
}

func TestStats(t *testing.T) {
	db, _ := ctOpen(t, nil)
	st := db.Stats()
	assert.Equal(t, mvcc.Stats{}, st, "a new database has nothing")

	ctPut(t, db, "a", "1", "b", "1") // ts 1: 2 versions
	ctPut(t, db, "a", "2")           // ts 2
	ctDelete(t, db, "b")             // ts 3: a tombstone is a version
	st = db.Stats()
	assert.Equal(t, int64(4), st.Versions, "a1, a2, b1 and b's tombstone")
	assert.Equal(t, int64(1), st.Keys, "a deleted key is not a key")
	assert.Equal(t, uint64(3), st.LastCommitTS)
	assert.Equal(t, uint64(3), st.Commits)
	assert.GreaterOrEqual(t, st.CommitBatches, uint64(1))
	assert.LessOrEqual(t, st.CommitBatches, st.Commits)

	// Read-only commits count as commits but write nothing.
	require.NoError(t, db.View(context.Background(), func(*mvcc.Txn) error { return nil }))
	ro, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	require.NoError(t, ro.Commit())

	rb, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	require.NoError(t, rb.Put([]byte("x"), []byte("never")))
	require.NoError(t, rb.Rollback())

	loser, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	require.NoError(t, loser.Put([]byte("a"), []byte("loser")))
	ctPut(t, db, "a", "3") // ts 4
	require.ErrorIs(t, loser.Commit(), mvcc.ErrConflict)

	open1, err := db.Begin(mvcc.ReadCommitted)
	require.NoError(t, err)
	time.Sleep(2 * time.Millisecond)
	open2, err := db.BeginTx(context.Background(), mvcc.TxOptions{ReadOnly: true})
	require.NoError(t, err)

	st = db.Stats()
	assert.Equal(t, int64(5), st.Versions)
	assert.Equal(t, int64(1), st.Keys)
	assert.Equal(t, uint64(4), st.LastCommitTS, "failed and empty commits take no timestamp")
	assert.Equal(t, uint64(5), st.Commits, "4 writing commits + 1 read-only one")
	assert.GreaterOrEqual(t, st.Rollbacks, uint64(1))
	assert.Equal(t, uint64(1), st.Conflicts)
	assert.Equal(t, 2, st.ActiveTxns)
	assert.GreaterOrEqual(t, st.OldestTxnAge, 2*time.Millisecond, "open1 has been open that long at least")

	require.NoError(t, open1.Rollback())
	require.NoError(t, open2.Rollback())
	st = db.Stats()
	assert.Zero(t, st.ActiveTxns)
	assert.Zero(t, st.OldestTxnAge)
}
