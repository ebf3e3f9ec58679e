package mvcc_test

// Black-box tests under concurrency (run with -race): snapshots see whole
// commits only, and Close racing with committers loses no acknowledged
// commit.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

func TestSnapshotsSeeWholeCommits(t *testing.T) {
	// Writers move money between accounts (each transfer reads and writes
	// two accounts); readers check, in every snapshot they take, that the
	// total is unchanged. A reader that saw half of a transfer, or a lost
	// update among writers, breaks the total.
	const accounts, initial = 8, 100
	for _, level := range []mvcc.Level{mvcc.Snapshot, mvcc.Serializable} {
		t.Run(level.String(), func(t *testing.T) {
			db, _ := ctOpen(t, &mvcc.Options{NoSync: true, MaxUpdateRetries: 10000})
			var kvs []string
			for a := 0; a < accounts; a++ {
				kvs = append(kvs, fmt.Sprintf("acct/%d", a), strconv.Itoa(initial))
			}
			ctPut(t, db, kvs...)
			readTotal := func(tx *mvcc.Txn) (int, error) {
				total, n := 0, 0
				for _, v := range tx.Scan([]byte("acct/"), []byte("acct0")) {
					x, err := strconv.Atoi(string(v))
					if err != nil {
						return 0, err
					}
					total += x
					n++
				}
				if n != accounts {
					return 0, fmt.Errorf("scan saw %d accounts", n)
				}
				return total, nil
			}
			ctx := context.Background()
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for r := 0; r < 2; r++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						err := db.View(ctx, func(tx *mvcc.Txn) error {
							total, err := readTotal(tx)
							if err == nil && total != accounts*initial {
								err = fmt.Errorf("snapshot at %d sees total %d", tx.ReadTS(), total)
							}
							return err
						})
						if !assert.NoError(t, err) {
							return
						}
					}
				}()
			}
			var writers sync.WaitGroup
			for w := 0; w < 3; w++ {
				writers.Add(1)
				go func(w int) {
					defer writers.Done()
					rng := rand.New(rand.NewPCG(uint64(w), 1))
					for i := 0; i < 60; i++ {
						from, to := rng.IntN(accounts), rng.IntN(accounts-1)
						if to >= from {
							to++
						}
						amount := rng.IntN(20)
						err := db.Update(ctx, level, func(tx *mvcc.Txn) error {
							read := func(a int) (int, error) {
								v, err := tx.Get([]byte(fmt.Sprintf("acct/%d", a)))
								if err != nil {
									return 0, err
								}
								return strconv.Atoi(string(v))
							}
							fb, err := read(from)
							if err != nil {
								return err
							}
							tb, err := read(to)
							if err != nil {
								return err
							}
							if err := tx.Put([]byte(fmt.Sprintf("acct/%d", from)), []byte(strconv.Itoa(fb-amount))); err != nil {
								return err
							}
							return tx.Put([]byte(fmt.Sprintf("acct/%d", to)), []byte(strconv.Itoa(tb+amount)))
						})
						if !assert.NoError(t, err) {
							return
						}
					}
				}(w)
			}
			writers.Wait()
			close(stop)
			wg.Wait()
			require.NoError(t, db.View(ctx, func(tx *mvcc.Txn) error {
				total, err := readTotal(tx)
				assert.Equal(t, accounts*initial, total)
				return err
			}))
		})
	}
}

func TestCloseRacingCommits(t *testing.T) {
	// Committers race Close: each commit either succeeds or fails with
	// ErrClosed, and every one that succeeded is there after reopening.
	db, path := ctOpen(t, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var acked []string
	start := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			<-start
			for i := 0; ; i++ {
				k := fmt.Sprintf("w%d/%04d", w, i)
				err := db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
					return tx.Put([]byte(k), []byte("v"))
				})
				if errors.Is(err, mvcc.ErrClosed) {
					return
				}
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				acked = append(acked, k)
				mu.Unlock()
			}
		}(w)
	}
	close(start)
	// Let some commits through before closing.
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 50 {
			break
		}
		ctPutOrClosed(db)
	}
	require.NoError(t, db.Close())
	wg.Wait()

	db2, err := mvcc.Open(path, &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	defer db2.Close()
	require.NoError(t, db2.View(context.Background(), func(tx *mvcc.Txn) error {
		for _, k := range acked {
			_, err := tx.Get([]byte(k))
			require.NoError(t, err, "acknowledged %s lost at Close", k)
		}
		return nil
	}))
}

// ctPutOrClosed commits one write from the test goroutine, tolerating a
// closed DB; it paces the wait for the writers without sleeping.
func ctPutOrClosed(db *mvcc.DB) {
	_ = db.Update(context.Background(), mvcc.ReadCommitted, func(tx *mvcc.Txn) error {
		return tx.Put([]byte("pace"), []byte("x"))
	})
}
