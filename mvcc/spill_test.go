package mvcc_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// envInt reads a test's scale from the environment.
func envInt(t *testing.T, name string, def int) int {
	if s := os.Getenv(name); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, name)
		return n
	}
	return def
}

// heapNow is the live heap as the collection it forces marked it (not
// counting what other goroutines allocate after it).
func heapNow() int64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	return int64(sample[0].Value.Uint64())
}

// writeHeapProfile writes the live heap's profile to path.
func writeHeapProfile(t *testing.T, path string) {
	t.Helper()
	runtime.GC()
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, pprof.Lookup("heap").WriteTo(f, 0))
}

// snapshotOf reads every key through tx, by Scan and by Get, and
// returns each value's SHA-256: a digest, not the value, so the test's
// own record of a snapshot stays small beside the heap it measures.
func snapshotOf(t *testing.T, tx *mvcc.Txn, keys int) map[string][sha256.Size]byte {
	t.Helper()
	m := make(map[string][sha256.Size]byte, keys)
	for k, v := range tx.Scan(nil, nil) {
		m[string(k)] = sha256.Sum256(v)
	}
	require.NoError(t, tx.Err())
	for i := range keys {
		k := fmt.Sprintf("key%05d", i)
		v, err := tx.Get([]byte(k))
		if errors.Is(err, mvcc.ErrNotFound) {
			_, scanned := m[k]
			require.False(t, scanned, "Scan and Get disagree on %s", k)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, m[k], sha256.Sum256(v), "Scan and Get disagree on %s", k)
	}
	return m
}

// TestSpillBoundsHeap holds a snapshot while writers overwrite 1 KB
// values far past Options.VersionMemoryLimit: the heap stays under the
// limit plus a constant, the snapshot (and one taken halfway) reads what
// it saw at its start, from memory and from the version store on disk,
// and once the readers end and vacuum runs, the version store empties and
// the file's pages are reused instead of the file growing.
//
// MVKV_SPILL_UPDATES, MVKV_SPILL_WRITERS, MVKV_SPILL_KEYS and
// MVKV_SPILL_LIMIT_MIB scale it (the test: 2000000 updates, 16
// writers, 64 MiB).
func TestSpillBoundsHeap(t *testing.T) {
	def := 12000
	if raceEnabled {
		def = 4000
	}
	updates := envInt(t, "MVKV_SPILL_UPDATES", def)
	writers := envInt(t, "MVKV_SPILL_WRITERS", 4)
	keys := envInt(t, "MVKV_SPILL_KEYS", 2000)
	limit := int64(envInt(t, "MVKV_SPILL_LIMIT_MIB", 1)) << 20
	const valueSize = 1024
	// What the heap may hold beyond the limit: the log not yet applied
	// (CheckpointBytes), a spill's bbolt transaction, the keys' entries,
	// the test's own maps, the runtime's slack.
	const checkpointBytes = 256 << 10
	slack := int64(checkpointBytes) + int64(keys)*600 + 8<<20

	path := filepath.Join(t.TempDir(), "spill.db")
	db, err := mvcc.Open(path, &mvcc.Options{NoSync: true, VersionMemoryLimit: limit, CheckpointBytes: checkpointBytes})
	require.NoError(t, err)
	defer db.Close()
	checkAtEnd(t, db)
	ctx := context.Background()
	value := func(r *rand.Rand) []byte {
		v := make([]byte, valueSize)
		for i := range v {
			v[i] = byte('a' + r.IntN(26))
		}
		return v
	}
	r := rand.New(rand.NewPCG(1, 2))
	require.NoError(t, db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
		for i := range keys {
			if err := tx.Put(fmt.Appendf(nil, "key%05d", i), value(r)); err != nil {
				return err
			}
		}
		return nil
	}))

	old, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot, ReadOnly: true})
	require.NoError(t, err)
	oldSeen := snapshotOf(t, old, keys)
	base := heapNow()

	var (
		peak   int64
		peakMu sync.Mutex
	)
	// runWriters starts the writers; writer 0 closes halfway (if not nil)
	// at its halfway point. It returns a wait for them all.
	runWriters := func(halfway chan struct{}) (wait func()) {
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(w), 7))
				n := updates / writers
				for i := range n {
					k := fmt.Appendf(nil, "key%05d", r.IntN(keys))
					v := value(r)
					if err := db.Update(ctx, mvcc.ReadCommitted, func(tx *mvcc.Txn) error { return tx.Put(k, v) }); err != nil {
						t.Error(err)
						return
					}
					if w == 0 && halfway != nil && i == n/2 {
						close(halfway)
					}
					if w == 0 && i%(max(n/8, 1)) == 0 {
						h := heapNow() - base
						peakMu.Lock()
						peak = max(peak, h)
						peakMu.Unlock()
						assert.LessOrEqual(t, db.Stats().MemVersionBytes, limit+4*checkpointBytes+1<<20, "the version store's own account (the log may run ahead of the checkpointer)")
					}
				}
			}()
		}
		return wg.Wait
	}
	halfway, done := make(chan struct{}), make(chan struct{})
	wait := runWriters(halfway)
	go func() { wait(); close(done) }()
	select {
	case <-halfway:
	case <-done: // a writer failed before halfway: the errors say why
	}
	// A second snapshot, taken while the writers run.
	mid, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot, ReadOnly: true})
	require.NoError(t, err)
	midSeen := snapshotOf(t, mid, keys)
	<-done
	s := db.Stats()
	t.Logf("after %d updates: heap +%d MiB (peak +%d MiB, limit %d MiB), memory %d versions %d MiB, disk %d versions %d MiB",
		updates, (heapNow()-base)>>20, peak>>20, limit>>20, s.MemVersions, s.MemVersionBytes>>20, s.DiskVersions, s.DiskVersionBytes>>20)
	// bbolt's freelist records, for every page it hands out again while
	// the page is in use, the transaction that took it (for rollbacks):
	// about 1% of what spilled. The version store counts that share
	// against its limit up to half of the limit (spill.go, versionHeap),
	// so only what spills past some hundred times the limit adds to the
	// heap, by about 1%.
	bboltShare := max(0, s.DiskVersionBytes/64-limit/2)
	assert.LessOrEqual(t, peak, limit+slack+bboltShare, "the heap is bounded whatever the snapshot's age")
	if p := os.Getenv("MVKV_SPILL_HEAPPROFILE"); p != "" {
		writeHeapProfile(t, p)
	}
	assert.Positive(t, s.DiskVersions, "versions went to disk")
	assert.Positive(t, s.OldestSnapshotAge)

	assert.Equal(t, oldSeen, snapshotOf(t, old, keys), "the old snapshot reads what it saw at its start")
	assert.Equal(t, midSeen, snapshotOf(t, mid, keys), "so does the one taken halfway")
	require.NoError(t, old.Rollback())
	require.NoError(t, mid.Rollback())

	_, err = db.Vacuum(ctx)
	require.NoError(t, err)
	s = db.Stats()
	assert.Zero(t, s.DiskVersions, "no reader needs the spilled versions")
	assert.Zero(t, s.DiskVersionBytes)
	size := fileSize(t, path)

	// The same work again without a reader: the version store's pages
	// are free and reused, so the file does not grow by what spilled.
	runWriters(nil)()
	_, err = db.Vacuum(ctx)
	require.NoError(t, err)
	grown := fileSize(t, path) - size
	t.Logf("file %d MiB after the first round, grew %d KiB in the second", size>>20, grown>>10)
	assert.Less(t, grown, max(size/10, 2<<20), "freed pages are reused")
}

// TestSpillRacesReads spills after every commit group (a limit of one
// byte) while readers at the newest snapshot read keys whose newest
// version memory holds without its value (InFile: the data bucket's) and
// writers supersede them: each read returns a value written to that key,
// the same one twice in a snapshot, never an error. An old snapshot reads
// its own values throughout.
func TestSpillRacesReads(t *testing.T) {
	db, err := mvcc.Open(filepath.Join(t.TempDir(), "r.db"), &mvcc.Options{
		NoSync: true, VersionMemoryLimit: 1, CheckpointBytes: 4 << 10,
		AutovacuumThreshold: 10, AutovacuumInterval: 5 * time.Millisecond, // passes race the reads too
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	checkAtEnd(t, db)
	ctx := context.Background()
	const keys, rounds = 8, 150
	key := func(i int) []byte { return fmt.Appendf(nil, "k%d", i) }
	for i := range keys {
		put(t, db, string(key(i)), fmt.Sprintf("k%d=0", i))
	}
	old, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot, ReadOnly: true})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 1; n <= rounds; n++ {
				i := (n + w) % keys
				if err := db.Update(ctx, mvcc.ReadCommitted, func(tx *mvcc.Txn) error {
					return tx.Put(key(i), fmt.Appendf(nil, "k%d=%d", i, n))
				}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	readErrs := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range rounds * 2 {
				i := n % keys
				err := db.View(ctx, func(tx *mvcc.Txn) error {
					a, err := tx.Get(key(i))
					if err != nil {
						return err
					}
					b, err := tx.Get(key(i))
					if err != nil {
						return err
					}
					if string(a) != string(b) || !strings.HasPrefix(string(a), fmt.Sprintf("k%d=", i)) {
						return fmt.Errorf("key %d read %q then %q", i, a, b)
					}
					return nil
				})
				if err != nil {
					readErrs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(readErrs)
	for err := range readErrs {
		t.Error(err)
	}
	assert.Positive(t, db.Stats().DiskVersions)
	for i := range keys {
		v, err := old.Get(key(i))
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("k%d=0", i), string(v))
	}
	require.NoError(t, old.Rollback())
	// Once no snapshot needs it, vacuum empties the version store. The
	// pipeline may still be spilling after the last group's commit
	// returned, with a plan made while the snapshot held those versions:
	// what it writes after a pass, the next pass removes.
	assert.Eventually(t, func() bool {
		_, err := db.Vacuum(ctx)
		require.NoError(t, err)
		return db.Stats().DiskVersions == 0
	}, 10*time.Second, time.Millisecond, "the version store empties")
}

// TestSpillEvictedKeys: a key whose older versions went to disk and whose
// newest the file holds leaves memory whole; snapshots still read their
// versions, and first committer wins still sees the newest commit (from
// the file), at Commit and at GetForUpdate.
func TestSpillEvictedKeys(t *testing.T) {
	db, err := mvcc.Open(filepath.Join(t.TempDir(), "e.db"), &mvcc.Options{NoSync: true, VersionMemoryLimit: 1, CheckpointBytes: 1, NoAutovacuum: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	checkAtEnd(t, db)
	ctx := context.Background()
	put(t, db, "k", "v0")
	old, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot, ReadOnly: true})
	require.NoError(t, err)
	t1, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	t2, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	ser, err := db.Begin(mvcc.Serializable)
	require.NoError(t, err)
	put(t, db, "k", "v1")
	_, err = db.Vacuum(ctx) // the checkpoint applies v1; the snapshots keep v0
	require.NoError(t, err)
	// The pipeline spills after it acknowledged a group (here z's): the
	// next group waits for that spill.
	put(t, db, "z", "other")
	put(t, db, "z2", "other")
	s := db.Stats()
	// k: v0 is on disk, v1 in the file. z and z2 leave memory with an
	// absence marker once applied, which the checkpointer may or may not
	// have done yet.
	require.LessOrEqual(t, s.MemVersions, int64(2), "memory holds at most z and z2")
	require.Positive(t, s.DiskVersions)

	for _, tx := range []*mvcc.Txn{old, ser} {
		v, err := tx.Get([]byte("k"))
		require.NoError(t, err)
		assert.Equal(t, "v0", string(v), "the snapshot reads its version from disk")
	}
	require.NoError(t, t1.Put([]byte("k"), []byte("lost update")))
	assert.ErrorIs(t, t1.Commit(), mvcc.ErrConflict, "first committer wins, though memory no longer holds k")
	_, err = t2.GetForUpdate([]byte("k"))
	assert.ErrorIs(t, err, mvcc.ErrConflict)
	require.NoError(t, db.View(ctx, func(tx *mvcc.Txn) error {
		v, err := tx.Get([]byte("k"))
		assert.Equal(t, "v1", string(v))
		return err
	}))
	put(t, db, "k", "v2") // brings k back to memory
	v, err := old.Get([]byte("k"))
	require.NoError(t, err)
	assert.Equal(t, "v0", string(v))
	for _, tx := range []*mvcc.Txn{old, t2, ser} {
		_ = tx.Rollback()
	}
	_, err = db.Vacuum(ctx)
	require.NoError(t, err)
	assert.Zero(t, db.Stats().DiskVersions)
}

// TestSpillInsertsLeaveMemory holds a snapshot while thousands of new keys
// are inserted: once applied, each leaves memory whole with an absence
// marker on disk, so memory does not grow with the keys inserted since
// the oldest snapshot. The snapshot sees none of them, by Get, Scan and
// ScanKeys; a new one sees them all; a key inserted, evicted, deleted and
// inserted again reads right at every snapshot; and once the snapshot
// ends, vacuum empties the version store.
func TestSpillInsertsLeaveMemory(t *testing.T) {
	db, err := mvcc.Open(filepath.Join(t.TempDir(), "ins.db"), &mvcc.Options{
		NoSync: true, VersionMemoryLimit: 64 << 10, CheckpointBytes: 4 << 10, NoAutovacuum: true,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	checkAtEnd(t, db)
	ctx := context.Background()
	put(t, db, "a", "before")
	old, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot, ReadOnly: true})
	require.NoError(t, err)
	const keys, perTx = 5000, 10
	value := strings.Repeat("v", 100)
	for i := 0; i < keys; i += perTx {
		require.NoError(t, db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
			for j := i; j < i+perTx; j++ {
				if err := tx.Put(fmt.Appendf(nil, "n%05d", j), []byte(value)); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	// A key that leaves memory, comes back deleted, leaves again and is
	// inserted again: each absence marker is removed by its own entry.
	_, err = db.Vacuum(ctx) // applies everything (the snapshot keeps its versions)
	require.NoError(t, err)
	put(t, db, "zz", "spilled") // a group, then a spill
	mid, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot, ReadOnly: true})
	require.NoError(t, err)
	require.NoError(t, db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error { return tx.Delete([]byte("n00007")) }))
	put(t, db, "n00007", "again")
	_, err = db.Vacuum(ctx)
	require.NoError(t, err)
	put(t, db, "zz", "spilled again")
	// The pipeline spills after it acknowledged a group: the next group
	// waits for that spill.
	put(t, db, "zz", "after the spill")

	s := db.Stats()
	t.Logf("after %d inserts: memory %d versions %d KiB, disk %d versions", keys, s.MemVersions, s.MemVersionBytes>>10, s.DiskVersions)
	assert.Less(t, s.MemVersions, int64(keys/4), "the inserted keys left memory")
	assert.Positive(t, s.DiskVersions)

	_, err = old.Get([]byte("n00042"))
	assert.ErrorIs(t, err, mvcc.ErrNotFound, "inserted after the snapshot")
	_, err = old.Get([]byte("n00007"))
	assert.ErrorIs(t, err, mvcc.ErrNotFound)
	var seen []string
	for k := range old.ScanKeys(nil, nil) {
		seen = append(seen, string(k))
	}
	require.NoError(t, old.Err())
	assert.Equal(t, []string{"a"}, seen, "the snapshot sees none of the inserted keys")
	n := 0
	for k, v := range old.Scan(nil, nil) {
		n++
		assert.Equal(t, "a", string(k))
		assert.Equal(t, "before", string(v))
	}
	require.NoError(t, old.Err())
	assert.Equal(t, 1, n)
	v, err := mid.Get([]byte("n00007"))
	require.NoError(t, err)
	assert.Equal(t, value, string(v), "the snapshot between the insert and the delete")

	require.NoError(t, db.View(ctx, func(tx *mvcc.Txn) error {
		n := 0
		for k, v := range tx.Scan([]byte("n"), []byte("o")) {
			want := value
			if string(k) == "n00007" {
				want = "again"
			}
			assert.Equal(t, want, string(v), "key %s", k)
			n++
		}
		assert.Equal(t, keys, n)
		return tx.Err()
	}))
	require.NoError(t, old.Rollback())
	require.NoError(t, mid.Rollback())
	_, err = db.Vacuum(ctx)
	require.NoError(t, err)
	assert.Zero(t, db.Stats().DiskVersions, "no snapshot needs the markers")
}
