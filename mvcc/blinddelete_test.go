package mvcc_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// A delete is a write whether or not its key exists when Delete is called:
// these scripts failed when a Delete of an absent key buffered nothing.

var allLevels = []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable}

// value returns key's committed value, or "" when absent.
func value(t *testing.T, db *mvcc.DB, key string) string {
	t.Helper()
	tx := begin(t, db, mvcc.Snapshot)
	defer tx.Rollback()
	v, err := tx.Get([]byte(key))
	if err == mvcc.ErrNotFound {
		return ""
	}
	require.NoError(t, err)
	return string(v)
}

// T1 deletes absent x; T2 reads absent z and puts x; T1 puts z. At snapshot
// and serializable the second committer, in either order, conflicts on x:
// otherwise T1 -ww(x)-> T2 -rw(z)-> T1 is a cycle (and first-committer-wins
// is broken). At read committed both commit and the last committer's write
// of x wins.
func TestBlindDeleteCycle(t *testing.T) {
	for _, level := range allLevels {
		for _, t1First := range []bool{true, false} {
			name := level.String() + "/T2-commits-first"
			if t1First {
				name = level.String() + "/T1-commits-first"
			}
			t.Run(name, func(t *testing.T) {
				db := openTestDB(t)
				put(t, db, "other", "1")
				t1, t2 := begin(t, db, level), begin(t, db, level)
				require.NoError(t, t1.Delete([]byte("x")))
				_, err := t2.Get([]byte("z"))
				require.ErrorIs(t, err, mvcc.ErrNotFound)
				require.NoError(t, t2.Put([]byte("x"), []byte("t2")))
				require.NoError(t, t1.Put([]byte("z"), []byte("t1")))
				first, second := t1, t2
				if !t1First {
					first, second = t2, t1
				}
				require.NoError(t, first.Commit())
				err = second.Commit()
				if level == mvcc.ReadCommitted {
					require.NoError(t, err)
					wantX := "t2"
					if !t1First {
						wantX = "" // T1's delete committed last
					}
					assert.Equal(t, wantX, value(t, db, "x"))
					assert.Equal(t, "t1", value(t, db, "z"))
					return
				}
				require.ErrorIs(t, err, mvcc.ErrConflict, "both writers of x committed")
				if t1First {
					assert.Empty(t, value(t, db, "x"))
					assert.Equal(t, "t1", value(t, db, "z"))
				} else {
					assert.Equal(t, "t2", value(t, db, "x"))
					assert.Empty(t, value(t, db, "z"))
				}
			})
		}
	}
}

// T1 deletes absent x; T2 puts x and commits; T1 commits. First committer
// wins at snapshot and serializable; at read committed the delete,
// committed last, wins.
func TestBlindDeleteConcurrentInsert(t *testing.T) {
	for _, level := range allLevels {
		t.Run(level.String(), func(t *testing.T) {
			db := openTestDB(t)
			t1, t2 := begin(t, db, level), begin(t, db, level)
			require.NoError(t, t1.Delete([]byte("x")))
			require.NoError(t, t2.Put([]byte("x"), []byte("t2")))
			require.NoError(t, t2.Commit())
			err := t1.Commit()
			if level == mvcc.ReadCommitted {
				require.NoError(t, err)
				assert.Empty(t, value(t, db, "x"), "the last committer's delete was lost")
				return
			}
			require.ErrorIs(t, err, mvcc.ErrConflict)
			assert.Equal(t, "t2", value(t, db, "x"))
		})
	}
}

// A transaction sees its own delete of a key that was absent when it
// deleted it, after another transaction's insert of that key committed;
// and the same for a Put then Delete of a key absent from the store.
func TestBlindDeleteOwnReads(t *testing.T) {
	for _, level := range allLevels {
		for _, putFirst := range []bool{false, true} {
			name := level.String() + "/delete"
			if putFirst {
				name = level.String() + "/put-then-delete"
			}
			t.Run(name, func(t *testing.T) {
				db := openTestDB(t)
				put(t, db, "w", "1")
				t1 := begin(t, db, level)
				if putFirst {
					require.NoError(t, t1.Put([]byte("x"), []byte("t1")))
				}
				require.NoError(t, t1.Delete([]byte("x")))
				put(t, db, "x", "t2")
				_, err := t1.Get([]byte("x"))
				require.ErrorIs(t, err, mvcc.ErrNotFound, "own delete not seen by Get")
				var keys []string
				for k := range t1.Scan(nil, nil) {
					keys = append(keys, string(k))
				}
				require.NoError(t, t1.Err())
				assert.Equal(t, []string{"w"}, keys, "own delete not seen by Scan")
				err = t1.Commit()
				if level == mvcc.ReadCommitted {
					require.NoError(t, err)
					assert.Empty(t, value(t, db, "x"))
				} else {
					require.ErrorIs(t, err, mvcc.ErrConflict)
					assert.Equal(t, "t2", value(t, db, "x"))
				}
			})
		}
	}
}

// A Scan that dooms a serializable transaction yields its snapshot; from
// then on every call reports the conflict (so DB.Update retries), a second
// Scan included, until Rollback.
func TestDoomedByScanKeepsReportingConflict(t *testing.T) {
	db := openTestDB(t)
	put(t, db, "x", "0", "y", "0")
	t2, t3 := begin(t, db, mvcc.Serializable), begin(t, db, mvcc.Serializable)
	_, err := t2.Get([]byte("y"))
	require.NoError(t, err)
	require.NoError(t, t3.Put([]byte("y"), []byte("3")))
	require.NoError(t, t3.Commit()) // T2 -rw(y)-> T3, T3 committed first
	t1 := begin(t, db, mvcc.Serializable)
	require.NoError(t, t1.Put([]byte("w"), []byte("1")))
	require.NoError(t, t2.Put([]byte("x"), []byte("2")))
	require.NoError(t, t2.Commit())
	// T1's scan meets T2's newer x: T1 -rw(x)-> T2 -rw(y)-> T3.
	n := 0
	for range t1.Scan(nil, nil) {
		n++
	}
	require.ErrorIs(t, t1.Err(), mvcc.ErrConflict)
	for range t1.Scan(nil, nil) {
		t.Fatal("a doomed transaction's second Scan yielded")
	}
	require.ErrorIs(t, t1.Err(), mvcc.ErrConflict, "the second Scan hid the conflict")
	_, err = t1.Get([]byte("x"))
	require.ErrorIs(t, err, mvcc.ErrConflict)
	require.ErrorIs(t, t1.Put([]byte("x"), []byte("1")), mvcc.ErrConflict)
	require.ErrorIs(t, t1.Commit(), mvcc.ErrConflict)
	require.ErrorIs(t, t1.Err(), mvcc.ErrTxnDone)
	require.ErrorIs(t, t1.Rollback(), mvcc.ErrTxnDone)
	require.ErrorIs(t, t1.Err(), mvcc.ErrTxnDone)
	require.NotErrorIs(t, t1.Err(), mvcc.ErrConflict, "still a conflict after Rollback")
	assert.Empty(t, value(t, db, "w"))
}
