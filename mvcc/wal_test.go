package mvcc

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// walImage commits n one-key transactions to a database whose checkpoint
// cannot run, in log segments of about 4 KiB, and copies the file and
// its log as a crash would leave them (a copy of files synced after each
// commit). It returns the copy's path and its segments.
func walImage(t *testing.T, n int) (string, []uint64) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src.db")
	db, err := Open(src, &Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	db.wal.segBytes = 4 << 10
	db.ck.pass.Lock() // no checkpoint: every commit stays in the log
	for i := range n {
		require.NoError(t, faultPut(db, walKey(i), walValue(i)))
	}
	segs, err := walSegments(src)
	require.NoError(t, err)
	require.Greater(t, len(segs), 2, "several segments")
	dst := copyLogImage(t, src, segs)
	db.ck.pass.Unlock()
	require.NoError(t, db.Close())
	return dst, segs
}

// copyLogImage copies the database file at src and its log segments segs
// (not a spare: walspare.go) to a new path, which it returns.
func copyLogImage(t *testing.T, src string, segs []uint64) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "image.db")
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, b, 0o600))
	for _, seq := range segs {
		b, err := os.ReadFile(segName(src, seq))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(segName(dst, seq), b, 0o600))
	}
	return dst
}

func walKey(i int) string   { return fmt.Sprintf("key%04d", i) }
func walValue(i int) string { return fmt.Sprintf("value %d %0100d", i, i) }

// walKeys returns how many of the first n keys the database at path
// holds, failing t on a wrong value or a gap (a later commit present
// after an earlier one missing).
func walKeys(t *testing.T, path string, n int) int {
	t.Helper()
	db, err := Open(path, &Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.check())
	found := 0
	for i := range n {
		v := faultGet(t, db, walKey(i))
		if v == "" {
			continue
		}
		require.Equal(t, walValue(i), v)
		require.Equal(t, i, found, "commit %d present after a missing one", i)
		found++
	}
	segs, err := walSegments(path)
	require.NoError(t, err)
	assert.Empty(t, segs, "Open applied the log and removed it")
	return found
}

// TestWALReplay: Open applies every commit the log holds, in order.
func TestWALReplay(t *testing.T) {
	const n = 120
	path, _ := walImage(t, n)
	assert.Equal(t, n, walKeys(t, path, n))
	assert.Equal(t, n, walKeys(t, path, n), "and again, from the data")
}

// TestWALTornTail: a crash cuts the last group being written (never
// acknowledged): whatever is left of it, Open reads the log up to it, and
// every commit before it is there.
func TestWALTornTail(t *testing.T) {
	const n = 120
	for _, cut := range []int{1, walRecord - 1, walRecord + 3} {
		t.Run(fmt.Sprintf("cut=%d", cut), func(t *testing.T) {
			path, segs := walImage(t, n)
			last := segName(path, segs[len(segs)-1])
			b, err := os.ReadFile(last)
			require.NoError(t, err)
			// The last record starts where the one before it ends: find it.
			off, prev := walHeader, walHeader
			for off < len(b) {
				prev = off
				off += walRecord + int(uint32(b[off])<<24|uint32(b[off+1])<<16|uint32(b[off+2])<<8|uint32(b[off+3]))
			}
			require.NoError(t, os.WriteFile(last, b[:prev+cut], 0o600))
			assert.Equal(t, n-1, walKeys(t, path, n))
		})
	}
	t.Run("header", func(t *testing.T) {
		// A crash right after the segment was created: its header cut
		// short, no record in it; the segments before hold the rest.
		path, segs := walImage(t, n)
		last := segName(path, segs[len(segs)-1])
		require.NoError(t, os.Truncate(last, walHeader/2))
		found := walKeys(t, path, n)
		assert.Positive(t, found)
		assert.Less(t, found, n)
	})
	t.Run("flipped", func(t *testing.T) {
		path, segs := walImage(t, n)
		last := segName(path, segs[len(segs)-1])
		b, err := os.ReadFile(last)
		require.NoError(t, err)
		b[len(b)-3] ^= 0x10 // the last record's value
		require.NoError(t, os.WriteFile(last, b, 0o600))
		assert.Equal(t, n-1, walKeys(t, path, n), "read as the cut of a crash: never served")
	})
}

// TestWALDamage: damage anywhere but the last segment's tail fails Open
// with ErrCorrupt, and leaves the files as they were.
func TestWALDamage(t *testing.T) {
	const n = 120
	cases := []struct {
		name   string
		damage func(t *testing.T, path string, segs []uint64)
	}{
		{"a record of an earlier segment", func(t *testing.T, path string, segs []uint64) {
			flipAt(t, segName(path, segs[0]), walHeader+walRecord+2)
		}},
		{"a record header of an earlier segment", func(t *testing.T, path string, segs []uint64) {
			flipAt(t, segName(path, segs[1]), walHeader+9)
		}},
		{"a segment header", func(t *testing.T, path string, segs []uint64) {
			flipAt(t, segName(path, segs[len(segs)-1]), 3)
		}},
		{"a segment missing", func(t *testing.T, path string, segs []uint64) {
			require.NoError(t, os.Remove(segName(path, segs[1])))
		}},
		{"a segment under another number", func(t *testing.T, path string, segs []uint64) {
			last := segs[len(segs)-1]
			require.NoError(t, os.Rename(segName(path, last), segName(path, last+1)))
			require.NoError(t, os.Rename(segName(path, segs[0]), segName(path, last)))
			require.NoError(t, os.Rename(segName(path, last+1), segName(path, segs[0])))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, segs := walImage(t, n)
			tc.damage(t, path, segs)
			before, err := walSegments(path)
			require.NoError(t, err)
			_, err = Open(path, &Options{NoSync: true})
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrCorrupt)
			after, err := walSegments(path)
			require.NoError(t, err)
			assert.Equal(t, before, after, "the log stays for whoever repairs it")
		})
	}
}

func flipAt(t *testing.T, name string, off int) {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	require.Less(t, off, len(b))
	b[off] ^= 0x04
	require.NoError(t, os.WriteFile(name, b, 0o600))
}

// TestLogBucketReplay: a file written before the write-ahead log (format
// "mvkv/3") keeps the commits after "applied" in its log bucket; Open
// applies them (and empties the bucket) and marks the file "mvkv/4", and
// a read-only Open reads them from memory and changes nothing.
func TestLogBucketReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := Open(path, &Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	require.NoError(t, faultPut(db, "a", "1", "b", "2"))
	require.NoError(t, db.Close())
	// As a commit group of that format left it: two transactions in the
	// log, the last commit timestamp moved, "applied" not.
	bdb, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.Update(func(btx *bolt.Tx) error {
		meta, log := btx.Bucket(metaBucket), btx.Bucket(logBucket)
		ts, err := getMeta(meta, tsKey)
		if err != nil {
			return err
		}
		for i, w := range []struct {
			ts       uint64
			seq      uint32
			key, val string
			del      bool
		}{{ts + 1, 0, "a", "10", false}, {ts + 1, 1, "c", "3", false}, {ts + 2, 0, "b", "", true}} {
			if err := log.Put(appendRev(nil, w.ts, w.seq), appendLogged(nil, []byte(w.key), []byte(w.val), w.del)); err != nil {
				return fmt.Errorf("write %d: %w", i, err)
			}
		}
		if err := putMeta(meta, tsKey, ts+2); err != nil {
			return err
		}
		return meta.Put(formatKey, format3)
	}))
	require.NoError(t, bdb.Close())
	format := func() string {
		t.Helper()
		bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		require.NoError(t, err)
		defer bdb.Close()
		var f string
		require.NoError(t, bdb.View(func(btx *bolt.Tx) error {
			f = string(btx.Bucket(metaBucket).Get(formatKey))
			return nil
		}))
		return f
	}

	ro, err := Open(path, &Options{ReadOnly: true})
	require.NoError(t, err)
	assert.Equal(t, "10", faultGet(t, ro, "a"))
	assert.Empty(t, faultGet(t, ro, "b"))
	assert.Equal(t, "3", faultGet(t, ro, "c"))
	assert.Equal(t, int64(2), ro.Stats().Keys)
	require.NoError(t, ro.check())
	require.NoError(t, ro.Close())
	assert.Equal(t, "mvkv/3", format(), "a read-only open upgrades nothing")

	db, err = Open(path, &Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	assert.Equal(t, "10", faultGet(t, db, "a"))
	assert.Empty(t, faultGet(t, db, "b"))
	assert.Equal(t, "3", faultGet(t, db, "c"))
	assert.Equal(t, int64(2), db.Stats().Keys)
	assert.Equal(t, db.oracle.Visible(), db.applied.Load(), "applied at Open")
	require.NoError(t, db.check()) // the log bucket is empty again
	require.NoError(t, faultPut(db, "d", "4"))
	require.NoError(t, db.Close())
	assert.Equal(t, "mvkv/4", format(), "upgraded: an older release refuses the file, whose log it would not apply")
}

// TestWALWithoutItsDatabase: a log whose database is gone is not applied
// to a new one created in its place.
func TestWALWithoutItsDatabase(t *testing.T) {
	path, segs := walImage(t, 60)
	require.NoError(t, os.Remove(path))
	_, err := Open(path, &Options{NoSync: true})
	require.ErrorIs(t, err, ErrCorrupt)
	assert.Contains(t, err.Error(), segName(path, segs[0]))
	assert.NoFileExists(t, path, "no database created")
	for _, seq := range segs {
		require.NoError(t, os.Remove(segName(path, seq)))
	}
	db, err := Open(path, &Options{NoSync: true})
	require.NoError(t, err)
	assert.Empty(t, faultGet(t, db, walKey(0)))
	require.NoError(t, db.Close())
}
