package mvcc_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

func openTestDB(t testing.TB) *mvcc.DB {
	t.Helper()
	db, err := mvcc.Open(filepath.Join(t.TempDir(), "test.db"), &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	checkAtEnd(t, db)
	return db
}

func put(t testing.TB, db *mvcc.DB, kv ...string) {
	t.Helper()
	require.NoError(t, db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
		for i := 0; i+1 < len(kv); i += 2 {
			if err := tx.Put([]byte(kv[i]), []byte(kv[i+1])); err != nil {
				return err
			}
		}
		return nil
	}))
}

func begin(t testing.TB, db *mvcc.DB, level mvcc.Level) *mvcc.Txn {
	t.Helper()
	tx, err := db.Begin(level)
	require.NoError(t, err)
	return tx
}

func getInt(t testing.TB, tx *mvcc.Txn, key string) int {
	t.Helper()
	v, err := tx.Get([]byte(key))
	if errors.Is(err, mvcc.ErrNotFound) {
		return 0
	}
	require.NoError(t, err)
	n, err := strconv.Atoi(string(v))
	require.NoError(t, err)
	return n
}

// countRange sums a Scan, the "SELECT count(*)" of the range tests.
func countRange(tx *mvcc.Txn, start, end string) int {
	n := 0
	for range tx.Scan([]byte(start), []byte(end)) {
		n++
	}
	return n
}

// commitBoth runs the two halves of a write-skew style interleaving and
// returns the commit errors.
func commitBoth(t1, t2 *mvcc.Txn) (error, error) {
	return t1.Commit(), t2.Commit()
}

// Write skew on two keys: two doctors on call each see the other still on
// call and go off call. Snapshot lets both commit; Serializable must not.
func TestSSIWriteSkewTwoKeys(t *testing.T) {
	for _, level := range []mvcc.Level{mvcc.Snapshot, mvcc.Serializable} {
		t.Run(level.String(), func(t *testing.T) {
			db := openTestDB(t)
			put(t, db, "alice", "1", "bob", "1")
			t1, t2 := begin(t, db, level), begin(t, db, level)
			require.Equal(t, 2, getInt(t, t1, "alice")+getInt(t, t1, "bob"))
			require.Equal(t, 2, getInt(t, t2, "alice")+getInt(t, t2, "bob"))
			require.NoError(t, t1.Put([]byte("alice"), []byte("0")))
			require.NoError(t, t2.Put([]byte("bob"), []byte("0")))
			e1, e2 := commitBoth(t1, t2)
			require.NoError(t, e1)
			if level == mvcc.Snapshot {
				require.NoError(t, e2, "snapshot isolation allows write skew")
				return
			}
			require.ErrorIs(t, e2, mvcc.ErrConflict)
		})
	}
}

// Write skew over a range with inserts (a phantom): two bookings each
// check that a room has no booking in a slot, then insert one.
func TestSSIWriteSkewRangeInsert(t *testing.T) {
	for _, level := range []mvcc.Level{mvcc.Snapshot, mvcc.Serializable} {
		t.Run(level.String(), func(t *testing.T) {
			db := openTestDB(t)
			put(t, db, "room1/09:00/carol", "x") // another slot's booking
			t1, t2 := begin(t, db, level), begin(t, db, level)
			require.Zero(t, countRange(t1, "room1/10:00/", "room1/10:00/\xff"))
			require.Zero(t, countRange(t2, "room1/10:00/", "room1/10:00/\xff"))
			require.NoError(t, t1.Put([]byte("room1/10:00/alice"), []byte("x")))
			require.NoError(t, t2.Put([]byte("room1/10:00/bob"), []byte("x")))
			e1, e2 := commitBoth(t1, t2)
			require.NoError(t, e1)
			if level == mvcc.Snapshot {
				require.NoError(t, e2)
				return
			}
			require.ErrorIs(t, e2, mvcc.ErrConflict)
		})
	}
}

// A reader that scans a range after a concurrent insert into it committed
// learns of the insert from the index (the phantom is visible as a newer
// version) and is still caught.
func TestSSIPhantomSeenAfterCommit(t *testing.T) {
	db := openTestDB(t)
	t1, t2 := begin(t, db, mvcc.Serializable), begin(t, db, mvcc.Serializable)
	// t2 reads the range first and writes outside it.
	require.Zero(t, countRange(t2, "a/", "a/\xff"))
	require.NoError(t, t2.Put([]byte("b/1"), []byte("x")))
	// t1 reads b's range, then inserts into a's range and commits first.
	require.Zero(t, countRange(t1, "b/", "b/\xff"))
	require.NoError(t, t1.Put([]byte("a/1"), []byte("x")))
	require.NoError(t, t1.Commit())
	// t2 -rw-> t1 (t2 scanned a/, t1 inserted) and t1 -rw-> t2 (t1 scanned
	// b/, t2 inserts): a cycle; t2 is the pivot and must fail.
	require.ErrorIs(t, t2.Commit(), mvcc.ErrConflict)
}

// The read-only anomaly (Fekete, O'Neil & O'Neil 2004): a read-only
// transaction sees a state that no serial order explains. X is checking,
// Y savings; T2 withdraws 10 from X charging a 1 fee when X+Y would go
// negative; T3 deposits 20 into Y; T1 reads both.
func TestSSIReadOnlyAnomaly(t *testing.T) {
	for _, level := range []mvcc.Level{mvcc.Snapshot, mvcc.Serializable} {
		t.Run(level.String(), func(t *testing.T) {
			db := openTestDB(t)
			put(t, db, "x", "0", "y", "0")
			t2 := begin(t, db, level)
			x, y := getInt(t, t2, "x"), getInt(t, t2, "y")

			t3 := begin(t, db, level)
			require.NoError(t, t3.Put([]byte("y"), []byte(strconv.Itoa(getInt(t, t3, "y")+20))))
			require.NoError(t, t3.Commit())

			t1, err := db.BeginTx(context.Background(), mvcc.TxOptions{Isolation: level, ReadOnly: true})
			require.NoError(t, err)
			seenX, seenY := getInt(t, t1, "x"), getInt(t, t1, "y")
			require.Equal(t, [2]int{0, 20}, [2]int{seenX, seenY})
			e1 := t1.Commit()

			fee := 0
			if x+y-10 < 0 {
				fee = 1
			}
			require.NoError(t, t2.Put([]byte("x"), []byte(strconv.Itoa(x-10-fee))))
			e2 := t2.Commit()
			if level == mvcc.Snapshot {
				require.NoError(t, e1)
				require.NoError(t, e2, "snapshot isolation allows the read-only anomaly")
				return
			}
			// T1 saw the deposit but not the withdrawal, so in any serial
			// order T3 < T1 < T2, and T2 (which saw no deposit) must come
			// before T3: a cycle. SSI aborts the pivot T2.
			require.NoError(t, e1, "the read-only transaction itself commits")
			require.ErrorIs(t, e2, mvcc.ErrConflict)
		})
	}
}

// A single rw edge is not a dangerous structure: a serializable
// transaction that read what another wrote later still commits.
func TestSSISingleEdgeCommits(t *testing.T) {
	db := openTestDB(t)
	put(t, db, "a", "1", "b", "1")
	t1, t2 := begin(t, db, mvcc.Serializable), begin(t, db, mvcc.Serializable)
	getInt(t, t1, "a")
	require.NoError(t, t1.Put([]byte("b"), []byte("2")))
	require.NoError(t, t2.Put([]byte("a"), []byte("2")))
	require.NoError(t, t2.Commit())
	require.NoError(t, t1.Commit(), "t1 -rw-> t2 alone is serializable (t1 before t2)")
}

// Transactions on disjoint keys and disjoint ranges never conflict.
func TestSSIDisjointNeverConflict(t *testing.T) {
	db := openTestDB(t)
	const n = 8
	txs := make([]*mvcc.Txn, n)
	for i := range txs {
		txs[i] = begin(t, db, mvcc.Serializable)
	}
	for i, tx := range txs {
		p := fmt.Sprintf("p%d/", i)
		countRange(tx, p, p+"\xff")
		getInt(t, tx, p+"counter")
		require.NoError(t, tx.Put([]byte(p+"counter"), []byte("1")))
		require.NoError(t, tx.Put([]byte(p+"row"), []byte("1")))
	}
	for _, tx := range txs {
		require.NoError(t, tx.Commit())
	}
}

// A scan that stops early has read only up to where it stopped: an insert
// beyond that point is no conflict.
func TestSSIScanEarlyBreakNarrowsRange(t *testing.T) {
	db := openTestDB(t)
	put(t, db, "k1", "1", "k2", "1", "k3", "1")
	t1, t2 := begin(t, db, mvcc.Serializable), begin(t, db, mvcc.Serializable)
	for range t1.Scan([]byte("k"), []byte("l")) {
		break // read k1 only
	}
	getInt(t, t2, "z")
	require.NoError(t, t1.Put([]byte("z"), []byte("1")))
	require.NoError(t, t2.Put([]byte("k9"), []byte("1")))
	require.NoError(t, t2.Commit())
	require.NoError(t, t1.Commit(), "t1 never read k9's position")
}

// SSI state returns to nothing once serializable transactions are gone,
// and stays bounded while a long workload runs.
func TestSSIStateBounded(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	maxTracked := 0
	for i := 0; i < 2000; i++ {
		k := []byte(fmt.Sprintf("k%d", i%50))
		_ = db.Update(ctx, mvcc.Serializable, func(tx *mvcc.Txn) error {
			_, _ = tx.Get(k)
			for range tx.Scan([]byte("k1"), []byte("k2")) {
			}
			return tx.Put(k, []byte("v"))
		})
		s := db.Stats()
		maxTracked = max(maxTracked, s.SSIActive+s.SSIRetained)
	}
	s := db.Stats()
	require.Zero(t, s.SSIActive)
	require.Zero(t, s.SSIRetained)
	require.LessOrEqual(t, maxTracked, 2)
}

// A read-only serializable transaction started while no read-write one is
// active runs on a safe snapshot: it is never tracked and never aborts.
func TestSSISafeSnapshotReadOnly(t *testing.T) {
	db := openTestDB(t)
	put(t, db, "x", "0", "y", "0")
	ro, err := db.BeginTx(context.Background(), mvcc.TxOptions{Isolation: mvcc.Serializable, ReadOnly: true})
	require.NoError(t, err)
	require.Zero(t, db.Stats().SSIActive)
	getInt(t, ro, "x")
	put(t, db, "x", "5")
	getInt(t, ro, "y")
	require.NoError(t, ro.Commit())
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

var errOverLimit = errors.New("limit exceeded")

// Randomized predicate workload: each transaction counts the rows of a
// group with a Scan and inserts one only when the group has fewer than
// limit rows (or deletes one when it is full). Serial executions never
// exceed the limit, so under Serializable no committed state, hence no
// snapshot, may ever show more: every interleaving of concurrent inserts
// into a scanned range must be caught. (Under Snapshot this test fails
// within a few hundred transactions.)
func TestSSIRandomizedPredicateLimit(t *testing.T) {
	const groups, limit, workers, perWorker = 3, 3, 4, 150
	db := openTestDB(t)
	ctx := context.Background()
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func(w int) {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; i < perWorker; i++ {
				g := fmt.Sprintf("g%d/", rng.IntN(groups))
				row := fmt.Sprintf("%sw%d-%d", g, w, i)
				err := db.Update(ctx, mvcc.Serializable, func(tx *mvcc.Txn) error {
					var rows [][]byte
					for k := range tx.Scan([]byte(g), []byte(g+"\xff")) {
						rows = append(rows, k)
					}
					if len(rows) > limit {
						return fmt.Errorf("a snapshot shows %d rows in %s: %w", len(rows), g, errOverLimit)
					}
					runtime.Gosched() // widen the window between read and write
					if len(rows) < limit {
						return tx.Put([]byte(row), []byte("x"))
					}
					return tx.Delete(rows[rng.IntN(len(rows))])
				})
				if err != nil && !errors.Is(err, mvcc.ErrConflict) {
					errs <- err
					return
				}
			}
			errs <- nil
		}(w)
	}
	for w := 0; w < workers; w++ {
		require.NoError(t, <-errs)
	}
	tx := begin(t, db, mvcc.Snapshot)
	total := 0
	for g := 0; g < groups; g++ {
		p := fmt.Sprintf("g%d/", g)
		n := countRange(tx, p, p+"\xff")
		require.LessOrEqual(t, n, limit, "group %s", p)
		total += n
	}
	require.Positive(t, total)
	s := db.Stats()
	t.Logf("commits %d, conflicts %d", s.Commits, s.Conflicts)
}

// A long-running serializable transaction keeps every transaction that
// commits during its life relevant; SSI folds the older ones into a
// summary so that its memory stays bounded, and still catches the write
// skew the long transaction takes part in.
func TestSSIStateBoundedWithLongRunningTxn(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	put(t, db, "on-call/alice", "1", "on-call/bob", "1")
	long := begin(t, db, mvcc.Serializable)
	require.Equal(t, 2, countRange(long, "on-call/", "on-call/\xff"))

	const n = 6000 // enough to fold once
	maxTracked := 0
	for i := 0; i < n; i++ {
		k := []byte(fmt.Sprintf("k%d", i%500))
		require.NoError(t, db.Update(ctx, mvcc.Serializable, func(tx *mvcc.Txn) error {
			_, _ = tx.Get([]byte(fmt.Sprintf("k%d", (i+1)%500)))
			return tx.Put(k, []byte("v"))
		}))
		s := db.Stats()
		maxTracked = max(maxTracked, s.SSIRetained)
	}
	require.Less(t, maxTracked, 4096+2, "retained committed transactions are folded")

	// Bob goes off call after reading the roster (rw edge long -> bob's
	// transaction is not needed: a plain write skew between the two).
	bob := begin(t, db, mvcc.Serializable)
	require.Equal(t, 2, countRange(bob, "on-call/", "on-call/\xff"))
	require.NoError(t, bob.Delete([]byte("on-call/bob")))
	require.NoError(t, bob.Commit())
	require.NoError(t, long.Delete([]byte("on-call/alice")))
	require.ErrorIs(t, long.Commit(), mvcc.ErrConflict)

	s := db.Stats()
	require.Zero(t, s.SSIActive)
	require.Zero(t, s.SSIRetained)
}
