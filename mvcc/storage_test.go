package mvcc_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/mvcc"
)

// A file of the first format, which logged every version by commit
// timestamp, is refused with an error naming its format.
func TestOpenRefusesFormat1(t *testing.T) {
	b := boltFile(t, func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket([]byte("mvkv"))
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucket([]byte("versions")); err != nil {
			return err
		}
		if err := meta.Put([]byte("ts"), make([]byte, 8)); err != nil {
			return err
		}
		return meta.Put([]byte("format"), []byte("mvkv/1"))
	})
	path := filepath.Join(t.TempDir(), "old.db")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	_, err := mvcc.Open(path, nil)
	require.ErrorIs(t, err, mvcc.ErrCorrupt)
	assert.Contains(t, err.Error(), `"mvkv/1"`)
	assert.Contains(t, err.Error(), `"mvkv/4"`)
	after, rerr := os.ReadFile(path)
	require.NoError(t, rerr)
	assert.True(t, bytes.Equal(b, after), "the file was changed")
}

// Every stored record carries a checksum: a flipped bit in a value, in its
// timestamp, or in its key reads as ErrCorrupt, from Get and from Scan,
// never as data.
func TestDamagedRecordIsAnError(t *testing.T) {
	value := []byte("a value of some length, long enough to have a middle: 0123456789 ABCDEFGHIJ")
	for _, tc := range []struct {
		name string
		find []byte // bytes to find in the file; the flip hits the first
	}{
		{"value", value[40:56]},
		{"key", []byte("needle-key")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db")
			db, err := mvcc.Open(path, nil)
			require.NoError(t, err)
			ctPut(t, db, "a", "1", "needle-key", string(value), "z", "2")
			require.NoError(t, db.Close())
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			// Flip the bit in every copy: the pages the checkpoint freed
			// (the log's) still hold one.
			found := 0
			for i := bytes.Index(b, tc.find); i >= 0; {
				b[i+3] ^= 0x04
				found++
				j := bytes.Index(b[i+1:], tc.find)
				if j < 0 {
					break
				}
				i += 1 + j
			}
			require.Positive(t, found)
			require.NoError(t, os.WriteFile(path, b, 0o600))

			db, err = mvcc.Open(path, nil)
			require.NoError(t, err)
			defer db.Close()
			err = db.View(context.Background(), func(tx *mvcc.Txn) error {
				_, err := tx.Get([]byte("needle-key"))
				return err
			})
			// A renamed key is found too: the point read checks the
			// records on either side of where the key would be.
			require.ErrorIs(t, err, mvcc.ErrCorrupt)
			err = db.View(context.Background(), func(tx *mvcc.Txn) error {
				for range tx.Scan(nil, nil) {
				}
				return tx.Err()
			})
			require.ErrorIs(t, err, mvcc.ErrCorrupt)
			// The undamaged records still read.
			require.NoError(t, db.View(context.Background(), func(tx *mvcc.Txn) error {
				v, err := tx.Get([]byte("a"))
				assert.Equal(t, "1", string(v))
				return err
			}))
		})
	}
}

// Slices returned by Get and yielded by Scan are the caller's: changing
// them changes nothing for anyone else.
func TestReturnedSlicesAreCopies(t *testing.T) {
	db, _ := ctOpen(t, nil)
	ctPut(t, db, "k", "hello")
	own, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	require.NoError(t, own.Put([]byte("mine"), []byte("own value")))
	mutate := func(tx *mvcc.Txn) {
		for _, k := range []string{"k", "mine"} {
			if v, err := tx.Get([]byte(k)); err == nil {
				v[0] = 'X'
			}
		}
		for k, v := range tx.Scan(nil, nil) {
			k[0], v[0] = 'Y', 'Y'
		}
	}
	mutate(own)
	v, err := own.Get([]byte("mine"))
	require.NoError(t, err)
	assert.Equal(t, "own value", string(v), "own writes changed by a caller")
	require.NoError(t, own.Commit())
	for range 2 {
		require.NoError(t, db.View(context.Background(), func(tx *mvcc.Txn) error {
			mutate(tx)
			return nil
		}))
	}
	assert.Equal(t, []string{"k=hello", "mine=own value"}, dump(t, db))
}
