//go:build unix

package mvcc_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/mvcc"
)

// Things that are not mvkv databases get a clear error, at once, and are
// left as they were (issue 13, point 5).
func TestOpenNotADatabaseFile(t *testing.T) {
	dir := t.TempDir()
	t.Run("directory", func(t *testing.T) {
		_, err := mvcc.Open(dir, nil)
		require.ErrorIs(t, err, mvcc.ErrCorrupt)
		assert.Contains(t, err.Error(), "is a directory")
	})
	t.Run("named pipe", func(t *testing.T) {
		fifo := filepath.Join(dir, "fifo")
		require.NoError(t, syscall.Mkfifo(fifo, 0o600))
		done := make(chan error, 1)
		go func() {
			db, err := mvcc.Open(fifo, nil)
			if db != nil {
				_ = db.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			require.ErrorIs(t, err, mvcc.ErrCorrupt)
			assert.Contains(t, err.Error(), "is a named pipe")
		case <-time.After(10 * time.Second):
			// Unblock the opener before failing.
			if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
				_ = f.Close()
			}
			t.Fatal("Open of a named pipe blocked")
		}
	})
	t.Run("empty bbolt file of another application", func(t *testing.T) {
		path := filepath.Join(dir, "other.db")
		bdb, err := bolt.Open(path, 0o600, nil)
		require.NoError(t, err)
		require.NoError(t, bdb.Close())
		before, err := os.ReadFile(path)
		require.NoError(t, err)
		_, err = mvcc.Open(path, nil)
		require.ErrorIs(t, err, mvcc.ErrCorrupt)
		assert.Contains(t, err.Error(), "an empty bbolt database")
		after, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, before, after, "the file is left as it was")
	})
	t.Run("new file leaves no temporary file", func(t *testing.T) {
		sub := t.TempDir()
		path := filepath.Join(sub, "new.db")
		db, err := mvcc.Open(path, &mvcc.Options{NoSync: true})
		require.NoError(t, err)
		require.NoError(t, db.Close())
		names, err := os.ReadDir(sub)
		require.NoError(t, err)
		require.Len(t, names, 1)
		assert.Equal(t, "new.db", names[0].Name())
	})
}

// A read-committed scan over many deleted keys holds the index lock in
// bounded chunks, as every scan does: a commit gets in between them.
// Before the storage change it held the lock for the whole walk (22 ms
// for a million deleted keys).
func TestScanOverDeletedKeysLetsCommitsIn(t *testing.T) {
	n := 20000
	if raceEnabled {
		n = 8000
	}
	db, _ := ctOpen(t, &mvcc.Options{NoSync: true, NoAutovacuum: true})
	keys := make([]string, n)
	kv := make([]string, 0, 2*n)
	for i := range n {
		keys[i] = fmt.Sprintf("del/%06d", i)
		kv = append(kv, keys[i], "v")
	}
	ctPut(t, db, kv...)
	// An open snapshot keeps the tombstones in memory, where the scan
	// walks them.
	holder, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	defer holder.Rollback()
	ctDelete(t, db, keys...)
	ctPut(t, db, "zzz", "last")

	// A writer commits in a loop while the scan runs; the scan must see
	// commits land before it ends (it would not if it held the index lock
	// throughout), and it yields only the live key.
	// The scans start once the writer has committed (so that every scan
	// has "writer" to yield, however the goroutines are scheduled).
	stop := make(chan struct{})
	commits := make(chan int, 1)
	first := make(chan struct{})
	go func() {
		c := 0
		defer func() { commits <- c }()
		for {
			if db.Update(context.Background(), mvcc.ReadCommitted, func(tx *mvcc.Txn) error {
				return tx.Put([]byte("writer"), []byte(fmt.Sprint(c)))
			}) == nil {
				if c++; c == 1 {
					close(first)
				}
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	<-first
	var got []string
	for range 20 {
		require.NoError(t, db.View(context.Background(), func(tx *mvcc.Txn) error {
			got = got[:0]
			for k := range tx.Scan([]byte("del/"), nil) {
				got = append(got, string(k))
			}
			return tx.Err()
		}))
	}
	close(stop)
	assert.Positive(t, <-commits)
	assert.Equal(t, []string{"writer", "zzz"}, got[len(got)-2:])
	assert.Len(t, got, 2)
}

// Compact builds its copy in a temporary file and gives it its name only
// when complete and synced: killed at any moment, it leaves no destination
// or a complete one, and a rerun works.
func TestCompactKilledLeavesNoPartialFile(t *testing.T) {
	if dst := os.Getenv("MVKV_COMPACT_CHILD"); dst != "" {
		_, err := mvcc.Compact(dst, os.Getenv("MVKV_COMPACT_SRC"), nil)
		if err != nil {
			fmt.Println("compact failed:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	db, err := mvcc.Open(src, &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	const n = 6000
	value := strings.Repeat("v", 200)
	for lo := 0; lo < n; lo += 2000 {
		require.NoError(t, db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
			for i := lo; i < lo+2000; i++ {
				if err := tx.Put([]byte(fmt.Sprintf("k%06d", i)), []byte(value)); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	require.NoError(t, db.Close())

	// How long a whole run takes, child start included: the kills land
	// across it.
	run := func(dst string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCompactKilledLeavesNoPartialFile$", "-test.count=1")
		cmd.Env = append(os.Environ(), "MVKV_COMPACT_CHILD="+dst, "MVKV_COMPACT_SRC="+src)
		require.NoError(t, cmd.Start())
		return cmd
	}
	t0 := time.Now()
	first := run(filepath.Join(dir, "whole.db"))
	for {
		if _, err := os.Stat(filepath.Join(dir, "whole.db")); err == nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	whole := time.Since(t0) // until the copy has its name
	require.NoError(t, first.Wait())
	const kills = 5
	complete, midway := 0, 0
	for i := range kills {
		dst := filepath.Join(dir, fmt.Sprintf("dst%d.db", i))
		cmd := run(dst)
		time.Sleep(whole * time.Duration(i+1) / (kills - 1)) // the last one after the end
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if tmp, _ := filepath.Glob(dst + ".tmp-*"); len(tmp) > 0 {
			midway++ // killed while copying: the partial copy has no name
		}
		if _, err := os.Stat(dst); err == nil {
			complete++
			out, err := mvcc.Open(dst, &mvcc.Options{NoSync: true})
			require.NoError(t, err, "kill %d left a destination that does not open", i)
			assert.Equal(t, int64(n), out.Stats().Keys)
			assert.Len(t, dump(t, out), n, "kill %d left a partial destination", i)
			require.NoError(t, out.Close())
			continue
		}
		_, err := mvcc.Compact(dst, src, &mvcc.Options{NoSync: true})
		require.NoError(t, err, "the rerun after kill %d", i)
	}
	t.Logf("%d kills over %v: %d while copying, %d left a complete destination, the others none", kills, whole, midway, complete)
}

// Compact reads every record through its checksum: a damaged source fails
// with ErrCorrupt and no copy of the damage appears.
func TestCompactRefusesDamagedSource(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	db, err := mvcc.Open(src, &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	ctPut(t, db, "a", "1", "needle", "a value to damage", "z", "2")
	require.NoError(t, db.Close())
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	// Every copy (a freed page of the log may hold one too).
	for off := 0; ; {
		i := strings.Index(string(b[off:]), "a value to damage")
		if i < 0 {
			require.Positive(t, off)
			break
		}
		b[off+i+3] ^= 1
		off += i + 1
	}
	require.NoError(t, os.WriteFile(src, b, 0o600))
	dst := filepath.Join(dir, "dst.db")
	_, err = mvcc.Compact(dst, src, &mvcc.Options{NoSync: true})
	require.ErrorIs(t, err, mvcc.ErrCorrupt)
	assert.NoFileExists(t, dst)
}
