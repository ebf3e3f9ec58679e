package mvcc_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// The data lives in the file, not in memory. TestDataLargerThanMemory runs
// TestDataLargerThanMemoryChild in a child process whose Go memory is
// limited (GOMEMLIMIT and debug.SetMemoryLimit), so that nothing the parent
// test process holds counts: the child writes 32,000 keys of 1 KB (more
// than its limit), checks that the heap stays under the limit after the
// load, reads every key back, scans them all in order, and does it again
// after a reopen. MVKV_BIGDATA_KEYS changes the key count: .ci/run sets
// 200,000 (eight times the limit).
func TestDataLargerThanMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 200 MB")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDataLargerThanMemoryChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "MVKV_BIGDATA_CHILD="+t.TempDir(), fmt.Sprintf("GOMEMLIMIT=%dMiB", bigdataLimit>>20))
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	require.NoError(t, err)
	require.Contains(t, string(out), "--- PASS: TestDataLargerThanMemoryChild")
}

// bigdataLimit is the child's memory limit, and the bound its heap must
// stay under after loading and after reopening.
const bigdataLimit = 24 << 20

func kiloValue(i int) []byte {
	v := bytes.Repeat([]byte{byte(i)}, 1000)
	copy(v, fmt.Sprintf("value %08d", i))
	return v
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func TestDataLargerThanMemoryChild(t *testing.T) {
	dir := os.Getenv("MVKV_BIGDATA_CHILD")
	if dir == "" {
		t.Skip("run by TestDataLargerThanMemory")
	}
	debug.SetMemoryLimit(bigdataLimit)
	n := 32_000 // 1.3 times the limit in data alone
	if s := os.Getenv("MVKV_BIGDATA_KEYS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	path := filepath.Join(dir, "big.db")
	db, err := mvcc.Open(path, &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	ctx := context.Background()
	key := func(i int) []byte { return []byte(fmt.Sprintf("key%08d", i)) }
	start := time.Now()
	for i := 0; i < n; i += 1000 {
		require.NoError(t, db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
			for j := i; j < min(i+1000, n); j++ {
				if err := tx.Put(key(j), kiloValue(j)); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	heap := heapInUse()
	t.Logf("loaded %d keys of 1 KB (%d MiB file) in %v; heap in use %d MiB (limit %d MiB), %d versions in memory",
		n, fileSize(t, path)>>20, time.Since(start).Round(time.Millisecond), heap>>20, bigdataLimit>>20, db.Stats().MemVersions)
	assert.Less(t, heap, uint64(bigdataLimit), "heap after the load")

	verify := func(db *mvcc.DB) {
		for i := 0; i < n; i += 5000 {
			require.NoError(t, db.View(ctx, func(tx *mvcc.Txn) error {
				for j := i; j < min(i+5000, n); j++ {
					v, err := tx.Get(key(j))
					require.NoError(t, err, "key %d", j)
					require.Equal(t, kiloValue(j), v, "key %d", j)
				}
				return nil
			}))
		}
		require.NoError(t, db.View(ctx, func(tx *mvcc.Txn) error {
			i := 0
			for k, v := range tx.Scan(nil, nil) {
				require.Equal(t, key(i), k, "scan out of order or missing a key")
				require.Equal(t, kiloValue(i), v)
				i++
			}
			require.Equal(t, n, i)
			return tx.Err()
		}))
	}
	verify(db)
	require.NoError(t, db.Close())

	start = time.Now()
	db, err = mvcc.Open(path, &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	defer db.Close()
	heap = heapInUse()
	t.Logf("reopened in %v; heap in use %d MiB", time.Since(start).Round(time.Microsecond), heap>>20)
	assert.Less(t, heap, uint64(bigdataLimit), "heap after the reopen")
	assert.Equal(t, int64(n), db.Stats().Keys)
	verify(db)
	require.NoError(t, mvcc.Check(db))
}

func fileSize(t testing.TB, path string) int64 {
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Size()
}

// Memory grows with the versions written since the oldest open snapshot,
// and vacuum gives it back once that snapshot ends.
func TestMemoryFollowsOldestSnapshot(t *testing.T) {
	db, _ := ctOpen(t, &mvcc.Options{NoSync: true, NoAutovacuum: true})
	ctx := context.Background()
	const keys, rounds = 2000, 5
	value := bytes.Repeat([]byte("x"), 1000)
	write := func() {
		for k := 0; k < keys; k += 500 {
			require.NoError(t, db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
				for i := k; i < k+500; i++ {
					if err := tx.Put([]byte(fmt.Sprintf("k%05d", i)), value); err != nil {
						return err
					}
				}
				return nil
			}))
		}
	}
	write()
	_, err := db.Vacuum(ctx)
	require.NoError(t, err)
	require.Zero(t, db.Stats().MemVersions, "nothing in memory with no snapshot open")
	base := heapInUse()

	old, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	for range rounds {
		write()
	}
	_, err = db.Vacuum(ctx)
	require.NoError(t, err)
	st := db.Stats()
	// Every version written since old began stays, and the before-image
	// of each key that old reads.
	assert.Equal(t, int64(keys*(rounds+1)), st.MemVersions)
	held := heapInUse()
	assert.Greater(t, held, base+uint64(keys*rounds*1000/2), "the before-images are in memory")
	v, err := old.Get([]byte("k00001"))
	require.NoError(t, err)
	assert.Equal(t, value, v)
	require.NoError(t, old.Rollback())

	_, err = db.Vacuum(ctx)
	require.NoError(t, err)
	assert.Zero(t, db.Stats().MemVersions, "the snapshot ended: memory given back")
	after := heapInUse()
	t.Logf("heap: %d KiB with no snapshot, %d KiB with one held over %d overwrites, %d KiB after vacuum", base>>10, held>>10, keys*rounds, after>>10)
	assert.Less(t, after, base+(held-base)/4)
}
