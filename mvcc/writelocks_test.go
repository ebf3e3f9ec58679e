package mvcc_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// goDo runs fn on its own goroutine.
func goDo(fn func() error) <-chan result {
	ch := make(chan result, 1)
	go func() { ch <- result{err: fn()} }()
	return ch
}

// A plain write of a key another transaction locked waits for the lock at
// its commit, then follows its level's rule.
func TestWritesWaitForLocks(t *testing.T) {
	cases := []struct {
		level   mvcc.Level
		wantErr error
		want    string
	}{
		{mvcc.ReadCommitted, nil, "writer"},
		{mvcc.Snapshot, mvcc.ErrConflict, "holder"},
		{mvcc.Serializable, mvcc.ErrConflict, "holder"},
	}
	for _, c := range cases {
		t.Run(c.level.String(), func(t *testing.T) {
			db, _ := ctOpen(t, nil)
			ctPut(t, db, "k", "0")
			holder, err := db.Begin(mvcc.ReadCommitted)
			require.NoError(t, err)
			_, err = holder.GetForUpdate([]byte("k"))
			require.NoError(t, err)
			writer, err := db.Begin(c.level)
			require.NoError(t, err)
			require.NoError(t, writer.Put([]byte("k"), []byte("writer")))
			ch := goDo(writer.Commit)
			requireBlocked(t, ch)
			require.NoError(t, holder.Put([]byte("k"), []byte("holder")))
			require.NoError(t, holder.Commit())
			r := await(t, ch)
			if c.wantErr != nil {
				require.ErrorIs(t, r.err, c.wantErr)
			} else {
				require.NoError(t, r.err)
			}
			require.Equal(t, c.want, string(ctGet(t, db, "k")))
		})
	}
}

func ctGet(t *testing.T, db *mvcc.DB, key string) []byte {
	t.Helper()
	var v []byte
	require.NoError(t, db.View(context.Background(), func(tx *mvcc.Txn) error {
		var err error
		v, err = tx.Get([]byte(key))
		return err
	}))
	return v
}

// A Rollback from another goroutine ends a transaction waiting for a lock
// at once: in GetForUpdate, in a locking read, and in Commit.
func TestRollbackEndsLockWait(t *testing.T) {
	waits := map[string]func(tx *mvcc.Txn) error{
		"GetForUpdate": func(tx *mvcc.Txn) error { _, err := tx.GetForUpdate([]byte("k")); return err },
		"locking Get":  func(tx *mvcc.Txn) error { _, err := tx.Get([]byte("k")); return err },
		"Commit": func(tx *mvcc.Txn) error {
			if err := tx.Put([]byte("k"), []byte("w")); err != nil {
				return err
			}
			return tx.Commit()
		},
	}
	for name, wait := range waits {
		t.Run(name, func(t *testing.T) {
			db, _ := ctOpen(t, nil)
			holder, err := db.Begin(mvcc.ReadCommitted)
			require.NoError(t, err)
			_, err = holder.GetForUpdate([]byte("k"))
			require.ErrorIs(t, err, mvcc.ErrNotFound)
			tx, err := db.BeginTx(context.Background(), mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: name == "locking Get"})
			require.NoError(t, err)
			ch := goDo(func() error { return wait(tx) })
			requireBlocked(t, ch)
			require.NoError(t, tx.Rollback())
			require.ErrorIs(t, await(t, ch).err, mvcc.ErrTxnDone)
			require.NoError(t, holder.Commit())
			require.Zero(t, db.Stats().LocksHeld)
		})
	}
}

// The mixed bank of issue 12: read-committed transfers lock both accounts
// with GetForUpdate, others run at snapshot, serializable (SSI) and
// serializable by locking with plain Get and Put. Money is never created
// or destroyed.
func TestMixedBankKeepsTotal(t *testing.T) {
	const accounts, initial, workers, transfers = 8, 100, 8, 60
	db, _ := ctOpen(t, nil)
	for i := range accounts {
		ctPut(t, db, "acct"+strconv.Itoa(i), strconv.Itoa(initial))
	}
	kinds := []mvcc.TxOptions{
		{Isolation: mvcc.ReadCommitted},
		{Isolation: mvcc.Snapshot},
		{Isolation: mvcc.Serializable},
		{Isolation: mvcc.Serializable, Locking: true},
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 12))
			opts := kinds[w%len(kinds)]
			for range transfers {
				from, to := rng.IntN(accounts), rng.IntN(accounts)
				if from == to {
					continue
				}
				if err := transfer(db, opts, from, to, rng.IntN(20)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	total := 0
	for i := range accounts {
		n, err := strconv.Atoi(string(ctGet(t, db, "acct"+strconv.Itoa(i))))
		require.NoError(t, err)
		total += n
	}
	require.Equal(t, accounts*initial, total)
}

// transfer moves amount between two accounts, retrying conflicts.
func transfer(db *mvcc.DB, opts mvcc.TxOptions, from, to, amount int) error {
	for {
		err := func() error {
			tx, err := db.BeginTx(context.Background(), opts)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			read := tx.Get
			if opts.Isolation == mvcc.ReadCommitted {
				read = tx.GetForUpdate
			}
			for _, acct := range [][2]int{{from, -amount}, {to, amount}} {
				key := []byte("acct" + strconv.Itoa(acct[0]))
				v, err := read(key)
				if err != nil {
					return err
				}
				n, err := strconv.Atoi(string(v))
				if err != nil {
					return fmt.Errorf("account %s: %w", key, err)
				}
				if err := tx.Put(key, []byte(strconv.Itoa(n+acct[1]))); err != nil {
					return err
				}
			}
			return tx.Commit()
		}()
		if !errors.Is(err, mvcc.ErrConflict) {
			return err
		}
	}
}
