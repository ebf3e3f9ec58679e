package mvcc_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/mvcc"
)

// format2File writes a database and rewrites its meta bucket as format
// "mvkv/2" wrote it: numbers of 8 bytes, without checksums.
func format2File(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "db")
	db, err := mvcc.Open(path, &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	ctPut(t, db, "a", "1", "b", "2")
	ctPut(t, db, "a", "3")
	require.NoError(t, db.Close())
	bdb, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte("mvkv"))
		for _, k := range []string{"ts", "applied", "keys"} {
			v := meta.Get([]byte(k))
			require.Len(t, v, 12)
			if err := meta.Put([]byte(k), binary.BigEndian.AppendUint64(nil, binary.BigEndian.Uint64(v))); err != nil {
				return err
			}
		}
		return meta.Put([]byte("format"), []byte("mvkv/2"))
	}))
	require.NoError(t, bdb.Close())
	return path
}

func formatOf(t *testing.T, path string) string {
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer bdb.Close()
	var f string
	require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
		f = string(tx.Bucket([]byte("mvkv")).Get([]byte("format")))
		return nil
	}))
	return f
}

// A file of format "mvkv/2" (meta values without checksums) is read as it
// is by a read-only Open, and upgraded in place by a read-write one.
func TestOpenUpgradesFormat2(t *testing.T) {
	path := format2File(t)
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	ro, err := mvcc.Open(path, &mvcc.Options{ReadOnly: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"a=3", "b=2"}, dump(t, ro))
	require.NoError(t, ro.Check(context.Background()))
	require.NoError(t, ro.Close())
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, bytes.Equal(before, after), "a read-only open upgraded the file")
	require.Equal(t, "mvkv/2", formatOf(t, path))

	db, err := mvcc.Open(path, &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"a=3", "b=2"}, dump(t, db))
	ctPut(t, db, "c", "4")
	require.NoError(t, db.Check(context.Background()))
	require.NoError(t, mvcc.Check(db))
	require.NoError(t, db.Close())
	require.Equal(t, "mvkv/4", formatOf(t, path))
	db, err = mvcc.Open(path, &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"a=3", "b=2", "c=4"}, dump(t, db))
	require.NoError(t, db.Close())
}

// An "mvkv/2" file whose applied mark is past its last commit (a flipped
// high bit, which its format cannot see) is refused, not upgraded.
func TestOpenFormat2RangeChecks(t *testing.T) {
	path := format2File(t)
	bdb, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte("mvkv"))
		a := binary.BigEndian.Uint64(meta.Get([]byte("applied")))
		return meta.Put([]byte("applied"), binary.BigEndian.AppendUint64(nil, a|1<<40))
	}))
	require.NoError(t, bdb.Close())
	_, err = mvcc.Open(path, nil)
	require.ErrorIs(t, err, mvcc.ErrCorrupt)
	assert.Contains(t, err.Error(), "applied")
	require.Equal(t, "mvkv/2", formatOf(t, path))
}
