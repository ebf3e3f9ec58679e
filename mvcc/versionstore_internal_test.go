package mvcc

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/internal/boltfile"
)

// TestVKeyOrder: version names keep keys in byte order, group each key's
// versions together in timestamp order (no other key's between them,
// whatever bytes the keys hold), and decode back.
func TestVKeyOrder(t *testing.T) {
	keys := [][]byte{
		{1}, {1, 0}, {1, 0, 0}, {1, 0, 0xff}, {1, 0, 1}, {1, 1},
		{1, 0xff}, {0xff}, {0xff, 0}, []byte("a"), []byte("a\x00\x00\x00\x00\x00\x00\x00\x05"), []byte("ab"),
	}
	slices.SortFunc(keys, bytes.Compare)
	var names [][]byte
	for _, k := range keys {
		for _, ts := range []uint64{1, 5, 1 << 40} {
			vk := appendVKey(nil, k, ts)
			names = append(names, vk)
			got, gts, ok := splitVKey(vk)
			require.True(t, ok, "%x", vk)
			assert.Equal(t, k, got)
			assert.Equal(t, ts, gts)
			assert.True(t, bytes.HasPrefix(vk, vkeyPrefix(k)))
			n, ok := vkeyLen(vk)
			assert.True(t, ok)
			assert.Equal(t, len(k), n)
		}
	}
	assert.True(t, slices.IsSortedFunc(names, bytes.Compare), "names sort as (key, ts)")
	// Among them the data bucket's own keys, which a damaged child
	// pointer can make a version read land on.
	for _, bad := range [][]byte{nil, {1, 2, 3}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {1, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		[]byte("rec/02394"), []byte("a key of some length"), {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		_, _, ok := splitVKey(bad)
		assert.False(t, ok, "%x", bad)
		_, ok = vkeyLen(bad)
		assert.False(t, ok, "%x", bad)
	}
}

// TestVRecordChecksum: any flipped bit of a version record or of its name
// reads as ErrCorrupt.
func TestVRecordChecksum(t *testing.T) {
	vk := appendVKey(nil, []byte("key"), 7)
	rec := appendVRecord(nil, vk, []byte("value"), false, 9)
	v, tomb, until, err := decodeVRecord(vk, rec)
	require.NoError(t, err)
	assert.Equal(t, "value", string(v))
	assert.False(t, tomb)
	assert.Equal(t, uint64(9), until)
	for i := range len(rec) * 8 {
		bad := bytes.Clone(rec)
		bad[i/8] ^= 1 << (i % 8)
		_, _, _, err := decodeVRecord(vk, bad)
		assert.ErrorIs(t, err, ErrCorrupt)
	}
	for i := range len(vk) * 8 {
		bad := bytes.Clone(vk)
		bad[i/8] ^= 1 << (i % 8)
		_, _, _, err := decodeVRecord(bad, rec)
		assert.ErrorIs(t, err, ErrCorrupt)
	}
	// A record without its until (as written before it was recorded)
	// still reads.
	old := appendVRecord(nil, vk, []byte("value"), true, 0)
	v, tomb, until, err = decodeVRecord(vk, old)
	require.NoError(t, err)
	assert.Equal(t, "value", string(v))
	assert.True(t, tomb)
	assert.Zero(t, until)
}

// historyOnDisk writes a closed database whose version store holds a
// version on disk (the first of two of a key, kept by HistoryRetention),
// and returns its path and the options to open it with.
func historyOnDisk(t *testing.T) (string, *Options) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "h.db")
	opts := &Options{NoSync: true, NoAutovacuum: true, HistoryRetention: time.Hour}
	db, err := Open(path, opts)
	require.NoError(t, err)
	require.NoError(t, faultPut(db, "a", "1"))
	require.NoError(t, faultPut(db, "a", "2"))
	_, err = db.Vacuum(context.Background())
	require.NoError(t, err)
	require.Positive(t, db.Stats().DiskVersions, "the first version is on disk")
	require.NoError(t, db.Close())
	return path, opts
}

// TestOpenRefusesMissingVersionBucket: the meta values count versions on
// disk and the version bucket is gone (a damaged bucket directory hides
// it from bbolt's lookup): Open says ErrCorrupt rather than serve every
// read of the past as "no older version".
func TestOpenRefusesMissingVersionBucket(t *testing.T) {
	path, opts := historyOnDisk(t)
	bdb, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(versionsBucket) }))
	require.NoError(t, bdb.Close())
	_, err = Open(path, opts)
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, "no version bucket")
}

// TestOpenChecksBucketDirectory: a damaged element of bbolt's bucket
// directory (the root bucket's page), whose key now lies outside the page,
// hides the buckets after it from bbolt's lookup; Open's check of the
// trees reads the directory first and says ErrCorrupt.
func TestOpenChecksBucketDirectory(t *testing.T) {
	path, opts := historyOnDisk(t)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	m, ok := boltfile.ReadMeta(f)
	require.True(t, ok)
	dir, err := boltfile.ReadPage(f, m.Root, m)
	require.NoError(t, err)
	require.Equal(t, uint16(boltfile.LeafFlag), dir.Flags)
	require.GreaterOrEqual(t, dir.Count, 5, "data, log, meta and the version store's buckets")
	// The last element's key position (bytes 4..7 of the element) moves
	// 8 MiB on.
	at := int64(m.Root)*int64(m.PageSize) + boltfile.PageHeaderSize + int64(dir.Count-1)*boltfile.ElementSize + 6
	var b [1]byte
	_, err = f.ReadAt(b[:], at)
	require.NoError(t, err)
	b[0] ^= 0x80
	_, err = f.WriteAt(b[:], at)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = Open(path, opts)
	require.ErrorIs(t, err, ErrCorrupt)
}

// TestCheckVerifiesQueueEntries: DB.Check verifies each version queue
// entry's checksum: a flipped byte of the checksum, or of the entry's
// until (which leaves it naming a version below it), is reported, where
// nothing else reads the entry until vacuum consumes it.
func TestCheckVerifiesQueueEntries(t *testing.T) {
	path, opts := historyOnDisk(t)
	clean, err := os.ReadFile(path)
	require.NoError(t, err)
	// The entry's key (until, then the version's name) and value (its
	// checksum) lie side by side in the file, whether the queue has a
	// page of its own or is inline in the bucket directory's.
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	var entry []byte
	require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
		q := tx.Bucket(vqueueBucket)
		require.NotNil(t, q)
		qk, qv := q.Cursor().First()
		require.NotNil(t, qk)
		require.NoError(t, checkQueueEntry(qk, qv))
		entry = append(bytes.Clone(qk), qv...)
		return nil
	}))
	require.NoError(t, bdb.Close())
	for _, tt := range []struct {
		name string
		at   int // the byte flipped, from the entry's start
	}{
		{"checksum", len(entry) - 1},
		{"until", 7},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := bytes.Clone(clean)
			n := 0
			for i := 0; ; {
				j := bytes.Index(d[i:], entry)
				if j < 0 {
					break
				}
				d[i+j+tt.at] ^= 0x01
				i += j + len(entry)
				n++
			}
			require.Positive(t, n, "the entry is in the file")
			require.NoError(t, os.WriteFile(path, d, 0o600))
			db, err := Open(path, opts)
			require.NoError(t, err, "Open reads no queue entry")
			defer db.Close()
			err = db.Check(context.Background())
			require.ErrorIs(t, err, ErrCorrupt)
			require.ErrorContains(t, err, "version queue entry")
		})
	}
}
