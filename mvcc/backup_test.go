package mvcc_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

const (
	bankAccounts = 50
	bankInitial  = 1000
)

func bankKey(i int) []byte { return fmt.Appendf(nil, "acct/%03d", i) }

func bankBalance(t testing.TB, v []byte) int64 {
	require.Len(t, v, 8)
	return balance(v)
}

func balance(v []byte) int64 { return int64(binary.BigEndian.Uint64(v)) }

// bankTotal sums every account, failing on a missing one.
func bankTotal(t testing.TB, db *mvcc.DB) int64 {
	var total int64
	n := 0
	require.NoError(t, db.View(context.Background(), func(tx *mvcc.Txn) error {
		for _, v := range tx.ScanPrefix([]byte("acct/")) {
			total += bankBalance(t, v)
			n++
		}
		return tx.Err()
	}))
	require.Equal(t, bankAccounts, n)
	return total
}

// A backup taken while transfers commit is one consistent state: opened,
// it holds every account and the total is unchanged.
func TestBackupUnderConcurrentWrites(t *testing.T) {
	dir := t.TempDir()
	db, err := mvcc.Open(filepath.Join(dir, "db"), &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	require.NoError(t, db.Update(ctx, mvcc.Serializable, func(tx *mvcc.Txn) error {
		for i := range bankAccounts {
			if err := tx.Put(bankKey(i), binary.BigEndian.AppendUint64(nil, bankInitial)); err != nil {
				return err
			}
		}
		return nil
	}))
	// Spread the data over more pages than one copy chunk.
	require.NoError(t, db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
		for i := range 2000 {
			if err := tx.Put(fmt.Appendf(nil, "pad/%05d", i), bytes.Repeat([]byte{'x'}, 200)); err != nil {
				return err
			}
		}
		return nil
	}))

	var stop atomic.Bool
	var transfers atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for !stop.Load() {
				a, b := r.IntN(bankAccounts), r.IntN(bankAccounts)
				if a == b {
					continue
				}
				err := db.Update(ctx, mvcc.Serializable, func(tx *mvcc.Txn) error {
					va, err := tx.Get(bankKey(a))
					if err != nil {
						return err
					}
					vb, err := tx.Get(bankKey(b))
					if err != nil {
						return err
					}
					amt := int64(r.IntN(10))
					if err := tx.Put(bankKey(a), binary.BigEndian.AppendUint64(nil, uint64(balance(va)-amt))); err != nil {
						return err
					}
					return tx.Put(bankKey(b), binary.BigEndian.AppendUint64(nil, uint64(balance(vb)+amt)))
				})
				if err != nil {
					t.Error(err)
					return
				}
				transfers.Add(1)
			}
		}()
	}
	for transfers.Load() < 50 {
		// let the transfers start
		runtime.Gosched()
	}
	var paths []string
	for i := range 3 {
		p := filepath.Join(dir, fmt.Sprintf("backup%d", i))
		n, err := db.BackupFile(ctx, p)
		require.NoError(t, err)
		st, err := os.Stat(p)
		require.NoError(t, err)
		require.Equal(t, st.Size(), n)
		paths = append(paths, p)
	}
	var buf bytes.Buffer
	n, err := db.Backup(ctx, &buf)
	require.NoError(t, err)
	require.Equal(t, int64(buf.Len()), n)
	stop.Store(true)
	wg.Wait()
	// The backups ran while transfers were committing (50 before the
	// first); how many more committed during them is the machine's.
	t.Logf("%d transfers committed", transfers.Load())
	p := filepath.Join(dir, "backup-buf")
	require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o600))
	paths = append(paths, p)

	for _, p := range paths {
		restored, err := mvcc.Open(p, &mvcc.Options{NoSync: true})
		require.NoError(t, err)
		require.Equal(t, int64(bankAccounts*bankInitial), bankTotal(t, restored), p)
		require.Equal(t, int64(bankAccounts+2000), restored.Stats().Keys)
		require.NoError(t, mvcc.Check(restored))
		// The copy is a working database.
		require.NoError(t, restored.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
			return tx.Put([]byte("after"), []byte("restore"))
		}))
		require.NoError(t, restored.Close())
	}
	require.Equal(t, int64(bankAccounts*bankInitial), bankTotal(t, db))
}

// A cancelled context or a closed DB stops a backup.
func TestBackupStops(t *testing.T) {
	db := openTestDB(t)
	put(t, db, "a", "1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := db.Backup(ctx, &bytes.Buffer{})
	require.ErrorIs(t, err, context.Canceled)
	path := filepath.Join(t.TempDir(), "b")
	_, err = db.BackupFile(ctx, path)
	require.ErrorIs(t, err, context.Canceled)
	_, statErr := os.Stat(path)
	require.True(t, os.IsNotExist(statErr), "a failed BackupFile leaves no file")
	require.NoError(t, db.Close())
	_, err = db.Backup(context.Background(), &bytes.Buffer{})
	require.ErrorIs(t, err, mvcc.ErrClosed)
}
