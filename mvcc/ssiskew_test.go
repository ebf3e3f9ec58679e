package mvcc_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// TestSSIWriteSkewStressMixed runs the classic write-skew constraint over
// many pairs at once, so that the transactions fall into different SSI
// partitions: each pair (x, y) must keep x+y >= 0, and a withdrawal reads
// both and takes from one only if the sum allows it. Writers run at
// Serializable by SSI and by locking; read-only audits check every pair in
// their snapshot. Under snapshot isolation alone the sums go negative;
// a lost rw-antidependency anywhere shows as a negative sum.
// MVKV_SSISKEW_OPS scales it.
func TestSSIWriteSkewStressMixed(t *testing.T) {
	perWorker := 150
	if s := os.Getenv("MVKV_SSISKEW_OPS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			perWorker = n
		}
	}
	const pairs, workers = 4, 6
	db := openTestDB(t)
	ctx := context.Background()
	key := func(p int, side string) []byte { return []byte(fmt.Sprintf("p%d/%s", p, side)) }
	require.NoError(t, db.Update(ctx, mvcc.Serializable, func(tx *mvcc.Txn) error {
		for p := range pairs {
			if err := tx.Put(key(p, "x"), []byte("10")); err != nil {
				return err
			}
			if err := tx.Put(key(p, "y"), []byte("10")); err != nil {
				return err
			}
		}
		return nil
	}))
	get := func(tx *mvcc.Txn, k []byte) (int, error) {
		v, err := tx.Get(k)
		if err != nil {
			return 0, err
		}
		return strconv.Atoi(string(v))
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for range perWorker {
				p := rng.IntN(pairs)
				if w == 0 { // the auditor: read-only, every pair
					err := db.UpdateTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable, ReadOnly: true}, func(tx *mvcc.Txn) error {
						for q := range pairs {
							x, err := get(tx, key(q, "x"))
							if err != nil {
								return err
							}
							y, err := get(tx, key(q, "y"))
							if err != nil {
								return err
							}
							if x+y < 0 {
								return fmt.Errorf("pair %d: %d+%d < 0 in a serializable snapshot", q, x, y)
							}
						}
						return nil
					})
					if !assert.NoError(t, err) {
						return
					}
					continue
				}
				side, other := "x", "y"
				if rng.IntN(2) == 0 {
					side, other = other, side
				}
				amount := 1 + rng.IntN(15)
				opts := mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: w%3 == 0}
				err := db.UpdateTx(ctx, opts, func(tx *mvcc.Txn) error {
					a, err := get(tx, key(p, side))
					if err != nil {
						return err
					}
					b, err := get(tx, key(p, other))
					if err != nil {
						return err
					}
					if a+b < amount {
						return nil
					}
					runtime.Gosched() // let a concurrent withdrawal read the same pair
					return tx.Put(key(p, side), []byte(strconv.Itoa(a-amount)))
				})
				if err != nil && !errors.Is(err, mvcc.ErrConflict) {
					assert.NoError(t, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, db.View(ctx, func(tx *mvcc.Txn) error {
		for p := range pairs {
			x, err := get(tx, key(p, "x"))
			require.NoError(t, err)
			y, err := get(tx, key(p, "y"))
			require.NoError(t, err)
			assert.GreaterOrEqual(t, x+y, 0, "pair %d: write skew committed", p)
		}
		return nil
	}))
}
