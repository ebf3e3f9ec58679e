package mvcc

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordsEnd returns where the records of segment b end: the first
// record cut short or failing its header's checksum (zeros do) ends them.
func recordsEnd(b []byte) int {
	off := walHeader
	for off+walRecord <= len(b) {
		h := b[off:]
		if binary.BigEndian.Uint32(h[24:]) != crc32.Checksum(h[:24], castagnoli) {
			break
		}
		n := int(binary.BigEndian.Uint32(h))
		if off+walRecord+n > len(b) {
			break
		}
		off += walRecord + n
	}
	return off
}

// TestWALSpareSegments: with fdatasync on, each new segment is the spare
// made ahead of need, full of zeros past its records; the segment before
// it is cut to its records when it stops being the last, so a crash image
// reads every commit, and Close leaves neither segment nor spare.
func TestWALSpareSegments(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src.db")
	db, err := Open(src, &Options{NoAutovacuum: true})
	require.NoError(t, err)
	db.wal.mu.Lock()
	db.wal.segBytes = 4 << 10
	db.wal.mu.Unlock()
	db.ck.pass.Lock() // no checkpoint: every commit stays in the log
	locked := func(f func() bool) func() bool {
		return func() bool { db.wal.mu.Lock(); defer db.wal.mu.Unlock(); return f() }
	}
	n := 0
	for range 4 {
		// No commit runs: the spare begun by Open or the last rotation is
		// made once its goroutine is done.
		db.wal.prep.Wait()
		require.True(t, locked(func() bool { return db.wal.spare != nil })(), "a spare is made")
		segs := len(db.wal.segs)
		for locked(func() bool { return len(db.wal.segs) == segs })() {
			require.NoError(t, faultPut(db, walKey(n), walValue(n)))
			n++
		}
		require.True(t, locked(func() bool { return db.wal.prealloc })(), "the new segment is the spare")
	}
	seqs, err := walSegments(src)
	require.NoError(t, err)
	require.Len(t, seqs, 4)
	for i, seq := range seqs {
		b, err := os.ReadFile(segName(src, seq))
		require.NoError(t, err)
		end := recordsEnd(b)
		if i < len(seqs)-1 {
			assert.Equal(t, len(b), end, "segment %d ends with its last record", seq)
			continue
		}
		assert.Greater(t, len(b), end+1000, "the last segment is preallocated")
		assert.Equal(t, make([]byte, len(b)-end), b[end:], "zeros past its records")
	}

	// A crash image: the file and the segments, not the spare.
	assert.Equal(t, n, walKeys(t, copyLogImage(t, src, seqs), n))

	db.ck.pass.Unlock()
	require.NoError(t, db.Close())
	left, err := filepath.Glob(src + ".wal.*")
	require.NoError(t, err)
	assert.Empty(t, left, "Close leaves no segment and no spare")
}

// TestWALSpareLeftOver: a spare a crash left, whatever it holds, is not
// part of the log: Open ignores and replaces it, Close removes it.
func TestWALSpareLeftOver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	db, err := Open(path, nil)
	require.NoError(t, err)
	require.NoError(t, faultPut(db, "k", "v"))
	require.NoError(t, db.Close())
	require.NoError(t, os.WriteFile(spareName(path), bytes.Repeat([]byte("not a segment "), 1000), 0o600))

	db, err = Open(path, nil)
	require.NoError(t, err)
	assert.Equal(t, "v", faultGet(t, db, "k"))
	require.NoError(t, faultPut(db, "k2", "v2"))
	require.NoError(t, db.Close())
	_, err = os.Stat(spareName(path))
	assert.ErrorIs(t, err, os.ErrNotExist)

	db, err = Open(path, &Options{NoSync: true})
	require.NoError(t, err)
	assert.Equal(t, "v2", faultGet(t, db, "k2"))
	db.wal.mu.Lock()
	db.wal.prepareSpare(false)
	assert.False(t, db.wal.preparing, "no spare without fdatasync")
	db.wal.mu.Unlock()
	require.NoError(t, db.Close())
}
