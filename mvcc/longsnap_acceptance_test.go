package mvcc_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// Acceptance tests of long snapshots, written against the public API
// alone: Options.VersionMemoryLimit, Options.MaxSnapshotAge and the Stats
// that describe what the oldest snapshot holds. The helpers serve the
// tests of reads of the past too (asof_acceptance_test.go).

func accOpen(t *testing.T, opts mvcc.Options) (*mvcc.DB, string) {
	t.Helper()
	opts.NoSync = true
	path := filepath.Join(t.TempDir(), "acc.db")
	db, err := mvcc.Open(path, &opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db, path
}

func accSet(t *testing.T, db *mvcc.DB, kv ...string) {
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

func accDel(t *testing.T, db *mvcc.DB, keys ...string) {
	t.Helper()
	require.NoError(t, db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
		for _, k := range keys {
			if err := tx.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	}))
}

// accSetAged is accSet on a DB with a MaxSnapshotAge: a commit that
// outlives the limit (a slow machine) runs again.
func accSetAged(t *testing.T, db *mvcc.DB, kv ...string) {
	t.Helper()
	for {
		err := db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
			for i := 0; i+1 < len(kv); i += 2 {
				if err := tx.Put([]byte(kv[i]), []byte(kv[i+1])); err != nil {
					return err
				}
			}
			return nil
		})
		if !errors.Is(err, mvcc.ErrSnapshotTooOld) {
			require.NoError(t, err)
			return
		}
	}
}

// accWait sleeps until at least d has passed since from: what a verdict
// on a snapshot's age needs, however slow the machine.
func accWait(from time.Time, d time.Duration) {
	for time.Since(from) <= d {
		time.Sleep(d - time.Since(from) + time.Millisecond)
	}
}

// accHeap returns the live heap, after a collection.
func accHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

func accScan(seq func(func([]byte, []byte) bool)) []string {
	var out []string
	for k, v := range seq {
		out = append(out, string(k)+"="+string(v))
	}
	return out
}

// TestAccMaxSnapshotAgeEveryCall: a snapshot older than MaxSnapshotAge
// fails at its next call, whichever it is, with ErrSnapshotTooOld (and
// ErrTxnDone); a younger one is untouched.
func TestAccMaxSnapshotAgeEveryCall(t *testing.T) {
	const age = 30 * time.Millisecond
	db, _ := accOpen(t, mvcc.Options{MaxSnapshotAge: age})
	accSetAged(t, db, "a", "1", "b", "2")
	ctx := context.Background()
	calls := map[string]func(tx *mvcc.Txn) error{
		"Get": func(tx *mvcc.Txn) error { _, err := tx.Get([]byte("a")); return err },
		"GetForUpdate": func(tx *mvcc.Txn) error {
			_, err := tx.GetForUpdate([]byte("a"))
			return err
		},
		"Put":    func(tx *mvcc.Txn) error { return tx.Put([]byte("c"), []byte("3")) },
		"Delete": func(tx *mvcc.Txn) error { return tx.Delete([]byte("a")) },
		"Commit": func(tx *mvcc.Txn) error { return tx.Commit() },
		"Scan": func(tx *mvcc.Txn) error {
			for range tx.Scan(nil, nil) {
				return errors.New("Scan yielded a key")
			}
			return tx.Err()
		},
		"ScanReverse": func(tx *mvcc.Txn) error {
			for range tx.ScanReverse(nil, nil) {
				return errors.New("ScanReverse yielded a key")
			}
			return tx.Err()
		},
		"ScanKeys": func(tx *mvcc.Txn) error {
			for range tx.ScanKeys(nil, nil) {
				return errors.New("ScanKeys yielded a key")
			}
			return tx.Err()
		},
		"ScanFunc": func(tx *mvcc.Txn) error {
			return tx.ScanFunc(nil, nil, func(k, v []byte) bool { panic("ScanFunc yielded a key") })
		},
		"ScanReverseFunc": func(tx *mvcc.Txn) error {
			return tx.ScanReverseFunc(nil, nil, func(k, v []byte) bool { panic("ScanReverseFunc yielded a key") })
		},
		"ScanPrefix": func(tx *mvcc.Txn) error {
			for range tx.ScanPrefix([]byte("a")) {
				return errors.New("ScanPrefix yielded a key")
			}
			return tx.Err()
		},
	}
	for name, call := range calls {
		for _, level := range []mvcc.Level{mvcc.Snapshot, mvcc.Serializable} {
			t.Run(name+"/"+level.String(), func(t *testing.T) {
				tx, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: level})
				require.NoError(t, err)
				defer func() { _ = tx.Rollback() }()
				accWait(time.Now(), 2*age)
				err = call(tx)
				require.ErrorIs(t, err, mvcc.ErrSnapshotTooOld)
				assert.ErrorIs(t, err, mvcc.ErrTxnDone)
				assert.NotErrorIs(t, err, mvcc.ErrConflict, "an old snapshot is no conflict")
				assert.NotContains(t, err.Error(), "conflict")
				_, err = tx.Get([]byte("a"))
				assert.ErrorIs(t, err, mvcc.ErrTxnDone, "a finished transaction stays finished")
			})
		}
	}
	t.Run("read-only", func(t *testing.T) {
		tx, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot, ReadOnly: true})
		require.NoError(t, err)
		defer func() { _ = tx.Rollback() }()
		accWait(time.Now(), 2*age)
		_, err = tx.Get([]byte("a"))
		assert.ErrorIs(t, err, mvcc.ErrSnapshotTooOld)
	})
	t.Run("young", func(t *testing.T) {
		db, _ := accOpen(t, mvcc.Options{MaxSnapshotAge: time.Hour})
		accSet(t, db, "a", "1")
		tx, err := db.Begin(mvcc.Snapshot)
		require.NoError(t, err)
		accWait(time.Now(), 2*age)
		require.NoError(t, tx.Put([]byte("a"), []byte("2")))
		require.NoError(t, tx.Commit())
	})
}

// TestAccMaxSnapshotAgeManaged: View, ViewTx and Update return the error
// of a call made too late, and Update does not retry it as a conflict.
func TestAccMaxSnapshotAgeManaged(t *testing.T) {
	const age = 30 * time.Millisecond
	db, _ := accOpen(t, mvcc.Options{MaxSnapshotAge: age})
	accSetAged(t, db, "a", "1")
	ctx := context.Background()
	slow := func(tx *mvcc.Txn) error {
		accWait(time.Now(), 2*age)
		_, err := tx.Get([]byte("a"))
		return err
	}
	assert.ErrorIs(t, db.View(ctx, slow), mvcc.ErrSnapshotTooOld)
	assert.ErrorIs(t, db.ViewTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot}, slow), mvcc.ErrSnapshotTooOld)
	runs := 0
	err := db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
		runs++
		if err := slow(tx); err != nil {
			return err
		}
		return tx.Put([]byte("a"), []byte("2"))
	})
	assert.ErrorIs(t, err, mvcc.ErrSnapshotTooOld)
	assert.Equal(t, 1, runs, "a snapshot too old is no conflict: not retried")
}

// TestAccMaxSnapshotAgeZero: zero means no limit.
func TestAccMaxSnapshotAgeZero(t *testing.T) {
	db, _ := accOpen(t, mvcc.Options{})
	accSet(t, db, "a", "1")
	tx, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	accWait(time.Now(), 50*time.Millisecond)
	v, err := tx.Get([]byte("a"))
	require.NoError(t, err)
	assert.Equal(t, "1", string(v))
	require.NoError(t, tx.Commit())
}

// TestAccMaxSnapshotAgeReleasesVersions: a snapshot past the limit is
// ended in the background, before any call of its own: it no longer
// keeps what it could see from vacuum, and Stats stops naming it.
func TestAccMaxSnapshotAgeReleasesVersions(t *testing.T) {
	const age = 100 * time.Millisecond
	db, _ := accOpen(t, mvcc.Options{MaxSnapshotAge: age, NoAutovacuum: true})
	ctx := context.Background()
	accSetAged(t, db, "k", "0")
	start := time.Now() // before Begin: time.Since(start) bounds the snapshot's age
	tx, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	for i := range 20 {
		accSetAged(t, db, "k", fmt.Sprint(i+1))
	}
	_, err = db.Vacuum(ctx)
	require.NoError(t, err)
	held := db.Stats()
	if time.Since(start) < age { // else a slow machine outran the limit: nothing to check here
		require.GreaterOrEqual(t, held.DeadVersions, int64(20), "the snapshot holds the overwritten versions")
		require.Positive(t, held.OldestSnapshotAge)
	}
	accWait(start, age)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(age / 4) {
		_, err = db.Vacuum(ctx)
		require.NoError(t, err)
		st := db.Stats()
		if st.ActiveTxns == 0 && st.DeadVersions < 5 {
			assert.Zero(t, st.OldestSnapshotAge, "Stats no longer names the ended snapshot")
			break
		}
		require.True(t, time.Now().Before(deadline), "a snapshot past the limit still holds %d versions", st.DeadVersions)
	}
	_, err = tx.Get([]byte("k"))
	assert.ErrorIs(t, err, mvcc.ErrSnapshotTooOld)
}

// TestAccStatsOldestSnapshot: OldestSnapshotAge and the versions and
// bytes the oldest snapshot holds, in memory and on disk; all zero once
// it ends and vacuum runs.
func TestAccStatsOldestSnapshot(t *testing.T) {
	db, _ := accOpen(t, mvcc.Options{VersionMemoryLimit: 256 << 10, NoAutovacuum: true, CheckpointBytes: 64 << 10})
	ctx := context.Background()
	val := func(round, i int) string { return fmt.Sprintf("%04d-%03d-%01000d", i, round, 0) }
	const keys = 200
	for i := range keys {
		accSet(t, db, fmt.Sprintf("k%04d", i), val(0, i))
	}
	_, err := db.Vacuum(ctx)
	require.NoError(t, err)
	st := db.Stats()
	assert.Zero(t, st.OldestSnapshotAge, "no snapshot open")
	assert.Zero(t, st.DiskVersions)
	assert.Zero(t, st.DiskVersionBytes)

	reader, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	start := time.Now()
	for round := 1; round <= 10; round++ {
		for i := range keys {
			accSet(t, db, fmt.Sprintf("k%04d", i), val(round, i))
		}
	}
	accWait(start, 20*time.Millisecond)
	st = db.Stats()
	assert.GreaterOrEqual(t, st.OldestSnapshotAge, 20*time.Millisecond)
	assert.LessOrEqual(t, st.OldestSnapshotAge, time.Since(start)+time.Second)
	assert.Positive(t, st.MemVersions)
	assert.Positive(t, st.MemVersionBytes)
	assert.Positive(t, st.DiskVersions, "past the limit, versions go to disk")
	assert.Greater(t, st.DiskVersionBytes, st.DiskVersions*1000, "each version on disk holds its 1 KB value")
	assert.GreaterOrEqual(t, st.DeadVersions, int64(10*keys), "every overwritten version is held")
	for i := range keys {
		v, err := reader.Get([]byte(fmt.Sprintf("k%04d", i)))
		require.NoError(t, err)
		require.Equal(t, val(0, i), string(v))
	}
	require.NoError(t, reader.Rollback())
	_, err = db.Vacuum(ctx)
	require.NoError(t, err)
	st = db.Stats()
	assert.Zero(t, st.OldestSnapshotAge)
	assert.Zero(t, st.DiskVersions)
	assert.Zero(t, st.DiskVersionBytes)
	assert.Zero(t, st.DeadVersions)
}

// TestAccVersionMemoryLimitDefault: zero means 64 MiB, not zero bytes: a
// few megabytes of versions held by a snapshot stay in memory.
func TestAccVersionMemoryLimitDefault(t *testing.T) {
	for _, tc := range []struct {
		limit  int64
		onDisk bool
	}{{0, false}, {128 << 10, true}} {
		t.Run(fmt.Sprint(tc.limit), func(t *testing.T) {
			db, _ := accOpen(t, mvcc.Options{VersionMemoryLimit: tc.limit, NoAutovacuum: true})
			big := string(make([]byte, 1024))
			for i := range 100 {
				accSet(t, db, fmt.Sprint(i), big)
			}
			tx, err := db.Begin(mvcc.Snapshot)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback() }()
			for round := range 20 {
				for i := range 100 {
					accSet(t, db, fmt.Sprint(i), fmt.Sprint(round)+big)
				}
			}
			_, err = db.Vacuum(context.Background())
			require.NoError(t, err)
			st := db.Stats()
			assert.Equal(t, tc.onDisk, st.DiskVersions > 0, "versions on disk: %d", st.DiskVersions)
			v, err := tx.Get([]byte("7"))
			require.NoError(t, err)
			assert.Equal(t, big, string(v))
		})
	}
}

// TestAccBadOptions: negative durations and limits open a database (as
// their zero) or fail with an error; they never panic.
func TestAccBadOptions(t *testing.T) {
	for _, o := range []mvcc.Options{
		{VersionMemoryLimit: -1},
		{MaxSnapshotAge: -time.Second},
		{HistoryRetention: -time.Hour},
		{VersionMemoryLimit: 1},
		{MaxSnapshotAge: 1},
		{HistoryRetention: 1},
	} {
		t.Run(fmt.Sprintf("%+v", o), func(t *testing.T) {
			o.NoSync = true
			db, err := mvcc.Open(filepath.Join(t.TempDir(), "x.db"), &o)
			if err != nil {
				t.Logf("Open: %v", err)
				return
			}
			defer func() { require.NoError(t, db.Close()) }()
			tx, err := db.Begin(mvcc.Snapshot)
			require.NoError(t, err)
			if err := tx.Put([]byte("k"), []byte("v")); err == nil {
				err = tx.Commit()
				if o.MaxSnapshotAge > 0 {
					if err != nil {
						require.ErrorIs(t, err, mvcc.ErrSnapshotTooOld)
					}
				} else {
					require.NoError(t, err)
				}
			}
			_, err = db.Vacuum(context.Background())
			require.NoError(t, err)
			_ = db.Stats()
		})
	}
}

// accHistory writes a small history and returns the times between its
// commits: k=v1 at t[0], k=v2 (and gone=x) at t[1], k deleted and gone
// deleted at t[2], new=n at t[3].
// TestAccSpillHeldSnapshot: a snapshot held while writers overwrite keys
// far past VersionMemoryLimit: the heap stays bounded, the snapshot reads
// what it saw at its start (Get, Scan, ScanReverse: keys deleted and
// inserted since included), versions go to disk and leave it once the
// reader ends, and the file's pages are reused by the next round rather
// than the file growing again. MVKV_ACC_ROUNDS scales the rounds.
func TestAccSpillHeldSnapshot(t *testing.T) {
	const (
		keys    = 250
		writers = 4
		limit   = 1 << 20
	)
	rounds := 16 // 16 x 250 x 4 KB: 16 MB of versions a cycle
	if !testing.Short() && os.Getenv("MVKV_ACC_ROUNDS") != "" {
		_, _ = fmt.Sscan(os.Getenv("MVKV_ACC_ROUNDS"), &rounds)
	}
	db, path := accOpen(t, mvcc.Options{VersionMemoryLimit: limit, CheckpointBytes: 256 << 10, NoAutovacuum: true})
	ctx := context.Background()
	key := func(i int) []byte { return []byte(fmt.Sprintf("key%05d", i)) }
	val := func(gen, i int) []byte { return []byte(fmt.Sprintf("%06d/%05d/%04000d", gen, i, gen)) }
	for i := range keys {
		accSet(t, db, string(key(i)), string(val(0, i)))
	}
	var gen int
	cycle := func(t *testing.T, reading mvcc.TxOptions) {
		t.Helper()
		base := gen
		heapBefore := accHeap()
		reader, err := db.BeginTx(ctx, reading)
		require.NoError(t, err)
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := 1; r <= rounds; r++ {
					for i := w; i < keys; i += writers {
						// Some rounds delete the key and insert another
						// in its place; the last round puts it back.
						tmp := []byte(fmt.Sprintf("tmp%05d", i))
						if err := db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
							if r < rounds && (i+r)%5 == 0 {
								if err := tx.Delete(key(i)); err != nil {
									return err
								}
								return tx.Put(tmp, val(base+r, i))
							}
							if err := tx.Delete(tmp); err != nil {
								return err
							}
							return tx.Put(key(i), val(base+r, i))
						}); err != nil {
							errs <- err
							return
						}
					}
				}
			}()
		}
		// Read while they write, and after.
		check := func() {
			for i := 0; i < keys; i += 7 {
				v, err := reader.Get(key(i))
				require.NoError(t, err)
				require.Equal(t, string(val(base, i)), string(v))
			}
		}
		check()
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		gen = base + rounds
		grown := accHeap() - heapBefore
		t.Logf("live heap grew %d KiB while the snapshot held %d MB of versions", grown>>10, rounds*keys*4/1000)
		assert.Less(t, grown, int64(limit+8<<20), "the heap stays near VersionMemoryLimit")
		check()
		n := 0
		for k, v := range reader.Scan(nil, nil) {
			require.Equal(t, string(key(n)), string(k))
			require.Equal(t, string(val(base, n)), string(v))
			n++
		}
		require.NoError(t, reader.Err())
		require.Equal(t, keys, n)
		n = keys
		for k, v := range reader.ScanReverse(nil, nil) {
			n--
			require.Equal(t, string(key(n)), string(k))
			require.Equal(t, string(val(base, n)), string(v))
		}
		require.NoError(t, reader.Err())
		require.Zero(t, n)

		st := db.Stats()
		assert.Positive(t, st.DiskVersions, "versions went to disk")
		assert.LessOrEqual(t, st.MemVersionBytes, int64(2*limit), "memory's versions stay near the limit")
		assert.GreaterOrEqual(t, st.DiskVersions+st.MemVersions, int64(keys*rounds/2))
		require.NoError(t, reader.Commit())
		_, err = db.Vacuum(ctx)
		require.NoError(t, err)
		st = db.Stats()
		assert.Zero(t, st.DiskVersions, "vacuum removes the versions from disk once the reader ends")
		assert.Zero(t, st.DiskVersionBytes)
	}
	fileSize := func() int64 {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		return fi.Size()
	}
	cycle(t, mvcc.TxOptions{Isolation: mvcc.Snapshot, ReadOnly: true})
	first := fileSize()
	cycle(t, mvcc.TxOptions{Isolation: mvcc.Serializable})
	assert.LessOrEqual(t, fileSize(), first+first/4, "later rounds reuse the pages the first one freed (%d then %d bytes)", first, fileSize())
	// Current data intact.
	require.NoError(t, db.View(ctx, func(tx *mvcc.Txn) error {
		for i := range keys {
			v, err := tx.Get(key(i))
			if err != nil {
				return err
			}
			if string(v) != string(val(gen, i)) {
				return fmt.Errorf("key %d: %q", i, v[:20])
			}
		}
		return nil
	}))
	require.NoError(t, mvcc.Check(db))
}

// TestAccMaxSnapshotAgeInsideScan: a snapshot that passes the limit
// inside a Scan loop, while writers overwrite what it has still to read
// and vacuum runs, reads what it saw (or stops with ErrSnapshotTooOld),
// never a newer version; its next call fails.
func TestAccMaxSnapshotAgeInsideScan(t *testing.T) {
	const age = 20 * time.Millisecond
	db, _ := accOpen(t, mvcc.Options{MaxSnapshotAge: age, AutovacuumInterval: time.Millisecond, AutovacuumThreshold: 1})
	ctx := context.Background()
	const keys = 2000 // more than a scan's first chunk
	// setAll writes v to every key, in batches small enough to commit
	// within the limit; a batch that outlives it anyway (a slow machine)
	// runs again.
	setAll := func(t *testing.T, v string) {
		for i := 0; i < keys; i += 50 {
			for {
				err := db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
					for j := i; j < i+50; j++ {
						if err := tx.Put([]byte(fmt.Sprintf("k%05d", j)), []byte(v)); err != nil {
							return err
						}
					}
					return nil
				})
				if !errors.Is(err, mvcc.ErrSnapshotTooOld) {
					require.NoError(t, err)
					break
				}
			}
		}
	}
	for _, scan := range []string{"Scan", "ScanReverse", "ScanKeys"} {
		t.Run(scan, func(t *testing.T) {
			setAll(t, "old")
			tx, err := db.Begin(mvcc.Snapshot)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback() }()
			start := time.Now()
			n := 0
			check := func(v []byte) bool {
				if n == 0 {
					// Overwrite everything, let vacuum run, and outlive the limit.
					setAll(t, "new")
					_, err := db.Vacuum(ctx)
					require.NoError(t, err)
					accWait(start, 3*age)
				}
				n++
				return v == nil || assert.Equal(t, "old", string(v))
			}
			switch scan {
			case "Scan":
				for _, v := range tx.Scan(nil, nil) {
					if !check(v) {
						break
					}
				}
			case "ScanReverse":
				for _, v := range tx.ScanReverse(nil, nil) {
					if !check(v) {
						break
					}
				}
			case "ScanKeys":
				for range tx.ScanKeys(nil, nil) {
					check(nil)
				}
			}
			if err := tx.Err(); err != nil {
				require.ErrorIs(t, err, mvcc.ErrSnapshotTooOld)
			} else {
				assert.Equal(t, keys, n, "the whole snapshot")
			}
			_, err = tx.Get([]byte("k00000"))
			assert.ErrorIs(t, err, mvcc.ErrSnapshotTooOld)
		})
	}
}
