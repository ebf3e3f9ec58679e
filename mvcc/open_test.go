package mvcc_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/mvcc"
)

// validDB writes a small durable mvkv database and returns its bytes.
func validDB(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "valid")
	db, err := mvcc.Open(path, nil)
	require.NoError(t, err)
	for i := 0; i < 20; i++ {
		ctPut(t, db, "k"+string(rune('a'+i)), string(bytes.Repeat([]byte{'v'}, 1000)))
	}
	ctDelete(t, db, "kb")
	require.NoError(t, db.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// boltFile builds a bbolt file with fill, and returns its bytes.
func boltFile(t *testing.T, fill func(tx *bolt.Tx) error) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bolt")
	bdb, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.Update(fill))
	require.NoError(t, bdb.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// mvkvLike fills a bbolt file with mvkv's layout, changed by tweak.
func mvkvLike(format string, ts []byte, versions map[string][]byte) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket([]byte("mvkv"))
		if err != nil {
			return err
		}
		if format != "" {
			if err := meta.Put([]byte("format"), []byte(format)); err != nil {
				return err
			}
		}
		if ts != nil {
			if err := meta.Put([]byte("ts"), ts); err != nil {
				return err
			}
		}
		if versions == nil {
			return nil
		}
		b, err := tx.CreateBucket([]byte("versions"))
		if err != nil {
			return err
		}
		for k, v := range versions {
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	}
}

func rev(ts uint64, seq uint32) string {
	b := binary.BigEndian.AppendUint64(nil, ts)
	return string(binary.BigEndian.AppendUint32(b, seq))
}

func TestOpenRejectsBadFiles(t *testing.T) {
	valid := validDB(t)
	used := usedSize(t, valid)
	require.Greater(t, used, 4*4096)
	rng := rand.New(rand.NewPCG(3, 4))
	junk := make([]byte, 64<<10)
	for i := range junk {
		junk[i] = byte(rng.Uint32())
	}
	ts1 := binary.BigEndian.AppendUint64(nil, 1)
	goodRecord := append([]byte{0, 1}, "kv"...)
	tests := []struct {
		name string
		data []byte
	}{
		{"junk", junk},
		{"short junk", []byte("hello, world")},
		{"one byte", []byte{0}},
		{"text file", bytes.Repeat([]byte("not a database\n"), 1000)},
		{"truncated to 100 bytes", valid[:100]},
		{"truncated to one page", valid[:4096]},
		{"truncated to the meta pages", valid[:8192]},
		{"truncated to half the used pages", valid[:used/2]},
		{"last used page missing", valid[:used-4096]},
		{"last used page cut short", valid[:used-100]},
		{"meta pages zeroed", append(make([]byte, 8192), valid[8192:]...)},
		{"another application's bbolt file", boltFile(t, func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("users"))
			if err != nil {
				return err
			}
			return b.Put([]byte("alice"), []byte("admin"))
		})},
		{"unknown format", boltFile(t, mvkvLike("mvkv/99", ts1, map[string][]byte{}))},
		{"missing format", boltFile(t, mvkvLike("", ts1, map[string][]byte{}))},
		{"missing timestamp", boltFile(t, mvkvLike("mvkv/1", nil, map[string][]byte{}))},
		{"short timestamp", boltFile(t, mvkvLike("mvkv/1", []byte{1}, map[string][]byte{}))},
		{"missing versions bucket", boltFile(t, mvkvLike("mvkv/1", ts1, nil))},
		{"bad version key", boltFile(t, mvkvLike("mvkv/1", ts1, map[string][]byte{"short": goodRecord}))},
		{"bad record flags", boltFile(t, mvkvLike("mvkv/1", ts1, map[string][]byte{rev(1, 0): append([]byte{0x80, 1}, "kv"...)}))},
		{"record key past its end", boltFile(t, mvkvLike("mvkv/1", ts1, map[string][]byte{rev(1, 0): {0, 9, 'k'}}))},
		{"record with empty key", boltFile(t, mvkvLike("mvkv/1", ts1, map[string][]byte{rev(1, 0): {0, 0, 'v'}}))},
		{"empty record", boltFile(t, mvkvLike("mvkv/1", ts1, map[string][]byte{rev(1, 0): {}}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db")
			require.NoError(t, os.WriteFile(path, tt.data, 0o600))
			var db *mvcc.DB
			var err error
			require.NotPanics(t, func() { db, err = mvcc.Open(path, &mvcc.Options{LockTimeout: 100 * time.Millisecond}) })
			if db != nil {
				_ = db.Close()
			}
			require.Error(t, err)
			assert.Nil(t, db)
			assert.ErrorIs(t, err, mvcc.ErrCorrupt)
			assert.Contains(t, err.Error(), path, "the error names the file")
			after, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			assert.True(t, bytes.Equal(tt.data, after), "the file is left as it was (%d bytes before, %d after)", len(tt.data), len(after))
		})
	}
	// The untouched original still opens, and so does the file cut right
	// after its last used page (bbolt grows files ahead of use): the cases
	// above failed on their damage, not on something every file has.
	for _, data := range [][]byte{valid, valid[:used]} {
		path := filepath.Join(t.TempDir(), "db")
		require.NoError(t, os.WriteFile(path, data, 0o600))
		db, err := mvcc.Open(path, nil)
		require.NoError(t, err)
		assert.Len(t, dump(t, db), 19)
		require.NoError(t, db.Close())
	}
}

// usedSize returns how much of a bbolt file its newest meta page says is in
// use (high-water mark times page size): bbolt grows files ahead of need,
// so only a cut below this loses data.
func usedSize(t *testing.T, b []byte) int {
	t.Helper()
	best, txid := 0, uint64(0)
	for _, off := range []int{0, 4096} {
		m := b[off+16:]
		e := binary.NativeEndian
		require.Equal(t, uint32(0xED0CDAED), e.Uint32(m), "bbolt magic")
		require.Equal(t, uint32(4096), e.Uint32(m[8:]), "page size")
		if tx := e.Uint64(m[48:]); tx >= txid {
			best, txid = int(e.Uint64(m[40:]))*4096, tx
		}
	}
	return best
}

func TestOpenNewOrEmptyFile(t *testing.T) {
	for _, name := range []string{"missing", "empty"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db")
			if name == "empty" {
				require.NoError(t, os.WriteFile(path, nil, 0o600))
			}
			db, err := mvcc.Open(path, nil)
			require.NoError(t, err)
			assert.Equal(t, mvcc.Stats{}, db.Stats())
			ctPut(t, db, "k", "v")
			require.NoError(t, db.Close())
			db, err = mvcc.Open(path, nil)
			require.NoError(t, err)
			assert.Equal(t, []string{"k=v"}, dump(t, db))
			require.NoError(t, db.Close())
		})
	}
}

func TestOpenBadPaths(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{dir, filepath.Join(dir, "no", "such", "dir", "db"), ""} {
		var err error
		require.NotPanics(t, func() {
			var db *mvcc.DB
			db, err = mvcc.Open(path, nil)
			if db != nil {
				_ = db.Close()
			}
		})
		assert.Error(t, err, "%q", path)
	}
}

func TestOpenLockedFile(t *testing.T) {
	db, path := ctOpen(t, nil)
	ctPut(t, db, "k", "v")
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	// (That Open waits for the holder is TestOpenWaitsForLockRelease.)
	for _, timeout := range []time.Duration{-1, 100 * time.Millisecond} {
		second, err := mvcc.Open(path, &mvcc.Options{LockTimeout: timeout})
		if second != nil {
			_ = second.Close()
		}
		require.ErrorIs(t, err, mvcc.ErrLocked, "timeout %v", timeout)
		assert.Nil(t, second)
		assert.Contains(t, err.Error(), path)
	}
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after, "a failed Open leaves the file as it was")
	// The holder is not disturbed, and once it closes the file opens.
	assert.Equal(t, []string{"k=v"}, dump(t, db))
	require.NoError(t, db.Close())
	again, err := mvcc.Open(path, &mvcc.Options{LockTimeout: -1})
	require.NoError(t, err)
	assert.Equal(t, []string{"k=v"}, dump(t, again))
	require.NoError(t, again.Close())
}

func TestOpenWaitsForLockRelease(t *testing.T) {
	db, path := ctOpen(t, nil)
	ctPut(t, db, "k", "v")
	released := make(chan struct{})
	go func() {
		time.Sleep(20 * time.Millisecond)
		_ = db.Close()
		close(released)
	}()
	second, err := mvcc.Open(path, &mvcc.Options{LockTimeout: time.Minute})
	require.NoError(t, err)
	<-released
	defer second.Close()
	require.NoError(t, second.View(context.Background(), func(tx *mvcc.Txn) error {
		assert.Equal(t, "v", getStr(t, tx, "k"))
		return nil
	}))
}

func TestOpenDamagedPages(t *testing.T) {
	// Damage the header or the first elements of each used page in turn.
	// Open, or else a scan of everything, must fail with ErrCorrupt
	// leaving the file as it was, or (for a page nobody uses any more)
	// succeed; it must never take the process down, which bbolt's own
	// page checks do when they run in a goroutine of theirs.
	valid := validDB(t)
	used := usedSize(t, valid)
	corrupt := 0
	for pg := 2; pg < used/4096; pg++ {
		for _, off := range []int{0, 16} {
			d := bytes.Clone(valid[:used])
			for i := 0; i < 64; i++ {
				d[pg*4096+off+i] ^= 0x5a
			}
			path := filepath.Join(t.TempDir(), "db")
			require.NoError(t, os.WriteFile(path, d, 0o600))
			db, err := mvcc.Open(path, nil)
			if err == nil {
				// Open reads no data page: damage there shows at the read.
				err = db.View(context.Background(), func(tx *mvcc.Txn) error {
					for range tx.Scan(nil, nil) {
					}
					return tx.Err()
				})
				require.NoError(t, db.Close())
				if err == nil {
					continue
				}
			}
			corrupt++
			require.ErrorIs(t, err, mvcc.ErrCorrupt, "page %d offset %d", pg, off)
			after, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			require.True(t, bytes.Equal(d, after), "page %d offset %d: file changed", pg, off)
		}
	}
	assert.Greater(t, corrupt, 4, "damage to used pages is detected")
}
