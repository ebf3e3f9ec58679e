package mvcc

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// TestBoltContractPinned pins the bbolt version whose code view.go's
// argument (one read transaction shared by goroutines without a lock) was
// verified against. On an upgrade, read the new version's Bucket.Cursor,
// Bucket.pageNode, Tx.page, DB.page and Cursor's moves again, update the
// argument, then this version.
func TestBoltContractPinned(t *testing.T) {
	// The compiled bbolt's source path names its module version
	// (.../go.etcd.io/bbolt@v1.5.0/tx.go), whichever go.mod or go.work
	// chose it; a vendored copy has none, and then go.mod says.
	file, _ := runtime.FuncForPC(reflect.ValueOf((*bolt.Tx).Rollback).Pointer()).FileLine(0)
	version := ""
	if _, v, ok := strings.Cut(file, "go.etcd.io/bbolt@"); ok {
		version, _, _ = strings.Cut(v, "/")
	} else {
		mod, err := os.ReadFile("../go.mod")
		require.NoError(t, err)
		for line := range strings.Lines(string(mod)) {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "go.etcd.io/bbolt" {
				version = f[1]
			}
		}
	}
	require.Equal(t, "v1.5.0", version,
		"view.go shares one bbolt read transaction among goroutines on an argument verified against bbolt v1.5.0: verify it again for this version")
}

// TestSharedViewManyReaders runs many goroutines through one shared view
// (point reads and chunks of scans, the two ways mvkv reads the file)
// while commits and checkpoints retire and renew it and vacuum runs; and,
// beside them, transactions reading through the public API. Every commit
// writes every key with the same counter, so a snapshot must see one
// counter throughout, and goroutines sharing a view must see the same
// records. Under -race a write that bbolt made on these paths would show
// as a data race (see view.go).
func TestSharedViewManyReaders(t *testing.T) {
	const keys = 64
	db, err := Open(filepath.Join(t.TempDir(), "views.db"), &Options{NoSync: true, CheckpointBytes: 4 << 10})
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	key := func(i int) []byte { return fmt.Appendf(nil, "key%03d", i) }
	writeAll := func(c int) error {
		return db.Update(ctx, Snapshot, func(tx *Txn) error {
			for i := range keys {
				if err := tx.Put(key(i), []byte(strconv.Itoa(c))); err != nil {
					return err
				}
			}
			return nil
		})
	}
	require.NoError(t, writeAll(0))
	require.NoError(t, db.requestCheckpoint(), "the data bucket holds every key from now on")

	commits := 300
	if testing.Short() {
		commits = 100
	}
	var (
		last   atomic.Int64 // the newest counter committed
		shared atomic.Int64 // views pinned while shared
		stop   = make(chan struct{})
		wg     sync.WaitGroup
	)
	wg.Add(1)
	go func() { // the writer: commits, checkpoints (CheckpointBytes), vacuum
		defer wg.Done()
		defer close(stop)
		for c := 1; c <= commits; c++ {
			if !assert.NoError(t, writeAll(c)) {
				return
			}
			last.Store(int64(c))
			if c%25 == 0 {
				_, err := db.Vacuum(ctx)
				assert.NoError(t, err)
			}
		}
	}()
	running := func() bool {
		select {
		case <-stop:
			return false
		default:
			return true
		}
	}

	// One view, many goroutines: each scans the whole data bucket and
	// reads keys through its own cursors; all must see the same records.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for running() {
			r, err := db.acquireView()
			if !assert.NoError(t, err) {
				return
			}
			if r.pins != nil {
				shared.Add(1)
			}
			const fan = 8
			seen := make([][]string, fan)
			var readers sync.WaitGroup
			for g := range fan {
				readers.Add(1)
				go func() {
					defer readers.Done()
					var fc fileChunk
					err := db.guard(func() error { return fc.read(r.view, r.data.Cursor(), nil, nil, true, g%2 == 1, 2*keys) })
					if !assert.NoError(t, err) {
						return
					}
					for i := range fc.len() {
						seen[g] = append(seen[g], string(fc.key(i))+"="+string(fc.value(i)))
					}
					for range 16 {
						k := key(rand.IntN(keys))
						err := db.guard(func() error {
							rec, err := getRecord(r.data, k, r.leaf)
							if err == nil && rec == nil {
								err = fmt.Errorf("key %s missing", k)
							}
							return err
						})
						assert.NoError(t, err)
					}
				}()
			}
			readers.Wait()
			r.release()
			for g := range fan {
				if g%2 == 1 { // a descending walk
					for i, j := 0, len(seen[g])-1; i < j; i, j = i+1, j-1 {
						seen[g][i], seen[g][j] = seen[g][j], seen[g][i]
					}
				}
				if !assert.Len(t, seen[g], keys) || !assert.Equal(t, seen[0], seen[g], "goroutines sharing a view read the same records") {
					return
				}
			}
		}
	}()

	// Transactions at every level read one counter throughout.
	levels := []TxOptions{
		{Isolation: Snapshot, ReadOnly: true},
		{Isolation: Serializable, ReadOnly: true},
		{Isolation: Serializable},
		{Isolation: Snapshot},
	}
	for _, opts := range levels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for running() {
				before := last.Load()
				tx, err := db.BeginTx(ctx, opts)
				if !assert.NoError(t, err) {
					return
				}
				var first []byte
				n := 0
				for k, v := range tx.Scan(nil, nil) {
					if first == nil {
						first = v
					}
					if !assert.Equal(t, string(first), string(v), "key %s: one snapshot, one counter", k) {
						break
					}
					n++
				}
				got, err := tx.Get(key(rand.IntN(keys)))
				if err == nil {
					assert.Equal(t, string(first), string(got), "a point read at the scan's snapshot")
					c, _ := strconv.Atoi(string(got))
					assert.GreaterOrEqual(t, int64(c), before, "a snapshot taken after a commit sees it")
				}
				if !assert.NoError(t, tx.Err()) {
					_ = tx.Rollback()
					continue
				}
				assert.Equal(t, keys, n)
				_ = tx.Rollback()
			}
		}()
	}
	wg.Wait()
	// Whether a view was current when acquired depends on where the
	// writer was (a checkpoint retires it): reported, not asserted.
	t.Logf("%d views pinned while shared", shared.Load())
	require.NoError(t, Check(db))
	// Every view retired has closed: bbolt counts open read transactions.
	db.retireView()
	assert.Zero(t, db.bolt.Stats().OpenTxN, "no view leaked")
	db.renewView()
	assert.True(t, bytes.Equal([]byte(strconv.Itoa(commits)), mustGet(t, db, key(0))))
}

func mustGet(t *testing.T, db *DB, k []byte) []byte {
	var v []byte
	require.NoError(t, db.View(context.Background(), func(tx *Txn) error {
		var err error
		v, err = tx.Get(k)
		return err
	}))
	return v
}
