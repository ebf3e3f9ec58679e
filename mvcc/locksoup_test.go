package mvcc_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// The lock soup: 24 goroutines run transactions that lock a few of a
// dozen keys in random order, by GetForUpdate (read committed), by
// locking reads, scans and writes (serializable by locking), and plain
// read-committed writes that wait for the locks at commit. Every
// transaction must commit or be a deadlock victim: a missed deadlock
// stalls the soup (the context bounds each transaction, so a stall fails
// rather than hangs). MVKV_LOCK_SOUP_TXNS sets the transactions per
// goroutine (default 150).
func TestLockSoup(t *testing.T) {
	perWorker := 150
	if s := os.Getenv("MVKV_LOCK_SOUP_TXNS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "MVKV_LOCK_SOUP_TXNS")
		perWorker = n
	}
	const workers, keys = 24, 12
	db := openTestDB(t)
	key := func(i int) []byte { return fmt.Appendf(nil, "s%02d", i) }
	for i := range keys {
		put(t, db, string(key(i)), "0")
	}
	var (
		wg               sync.WaitGroup
		mu               sync.Mutex
		commits, victims int
		errs             []error
	)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 20))
			for range perWorker {
				kind := rng.IntN(3)
				err := soupTxn(db, rng, kind, keys, key)
				mu.Lock()
				switch {
				case err == nil:
					commits++
				case errors.Is(err, mvcc.ErrDeadlock) && errors.Is(err, mvcc.ErrConflict):
					victims++
				default:
					errs = append(errs, fmt.Errorf("worker %d, kind %d: %w", w, kind, err))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs, "every transaction commits or is a deadlock victim")
	require.Equal(t, workers*perWorker, commits+victims)
	s := db.Stats()
	require.Equal(t, uint64(victims), s.Deadlocks)
	require.Zero(t, s.LockWaiters)
	require.Zero(t, s.LocksHeld)
	t.Logf("%d committed, %d deadlock victims", commits, victims)
}

// soupTxn runs one transaction of the soup.
func soupTxn(db *mvcc.DB, rng *rand.Rand, kind, keys int, key func(int) []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := mvcc.TxOptions{Isolation: mvcc.ReadCommitted}
	if kind == 1 {
		opts = mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: true}
	}
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for range 1 + rng.IntN(3) {
		k := key(rng.IntN(keys))
		switch kind {
		case 0: // GetForUpdate, then a write
			if _, err := tx.GetForUpdate(k); err != nil {
				return err
			}
		case 1: // locking reads, scans and writes
			switch rng.IntN(3) {
			case 0:
				if _, err := tx.Get(k); err != nil {
					return err
				}
			case 1:
				i := rng.IntN(keys)
				for range tx.Scan(key(i), key(i+1+rng.IntN(3))) {
				}
				if err := tx.Err(); err != nil {
					return err
				}
			}
		}
		if err := tx.Put(k, []byte(strconv.Itoa(rng.IntN(100)))); err != nil {
			return err
		}
	}
	return tx.Commit()
}
