package mvcc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// pagedDB writes a database whose data bucket is a two-level tree (a
// branch root over many leaves, a few with overflow pages) and returns its
// path and bytes.
func pagedDB(t *testing.T) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "paged.db")
	db, err := Open(path, &Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	for round := range 2 {
		kv := make([]string, 0, 2000)
		for i := range 1000 {
			v := fmt.Sprintf("round %d value %d", round, i)
			if i%200 == 7 {
				v = string(bytes.Repeat([]byte{'x'}, 9000))
			}
			kv = append(kv, fmt.Sprintf("k%05d", i), v)
		}
		require.NoError(t, faultPut(db, kv...))
	}
	require.NoError(t, db.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return path, b
}

// pagesOfType lists the pages in use (not free) of the file at path whose
// type is typ ("branch", "leaf", "freelist"), as bbolt reports them.
func pagesOfType(t *testing.T, path, typ string) []int {
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	require.NoError(t, err)
	defer bdb.Close()
	var ids []int
	require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
		for id := 2; ; id++ {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				return err
			}
			if info.Type == typ {
				ids = append(ids, id)
			}
		}
	}))
	return ids
}

// walkLeaves reads every record of the data bucket of the file at path
// with bbolt alone (no mvkv check at Open), through a cursor checked by
// leafCheck, as a scan does.
func walkLeaves(t *testing.T, path string) (n int, err error) {
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer bdb.Close()
	err = bdb.View(func(tx *bolt.Tx) error {
		data := tx.Bucket(dataBucket)
		lc := newLeafCheck(bdb, data)
		require.True(t, lc.c.On(), "the data bucket has pages of its own")
		c := data.Cursor()
		k, v := c.First()
		lc.start(c, k, v)
		for k, v = c.First(); k != nil; k, v = c.Next() {
			if n > 0 {
				if err := lc.next(k, v); err != nil {
					return err
				}
			}
			n++
		}
		return lc.next(nil, nil)
	})
	return n, err
}

// TestLeafCheck: the address rule leafCheck relies on holds for every leaf
// page bbolt writes, and a leaf page whose element count was lowered is
// caught by it (a scan) and by getRecord (a point read of a hidden key).
func TestLeafCheck(t *testing.T) {
	path, b := pagedDB(t)
	n, err := walkLeaves(t, path)
	require.NoError(t, err)
	require.Equal(t, 1000, n)

	leaves := pagesOfType(t, path, "leaf")
	require.Greater(t, len(leaves), 10)
	caught, damaged := 0, 0
	for _, id := range leaves {
		d := bytes.Clone(b)
		count := binary.NativeEndian.Uint16(d[id*4096+10:])
		if count < 2 || binary.NativeEndian.Uint32(d[id*4096+16:])&1 != 0 {
			continue // too small, or the root bucket's page (its elements are buckets)
		}
		binary.NativeEndian.PutUint16(d[id*4096+10:], count-1)
		damaged++
		path := filepath.Join(t.TempDir(), "damaged.db")
		require.NoError(t, os.WriteFile(path, d, 0o600))
		_, err := walkLeaves(t, path)
		if !errors.Is(err, ErrCorrupt) {
			continue
		}
		caught++
		// The hidden key, read alone, is not called absent.
		bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		require.NoError(t, err)
		require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
			data := tx.Bucket(dataBucket)
			c := data.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				if _, err := getRecord(data, k, newLeafCheck(bdb, data)); err != nil {
					return err
				}
			}
			// Every key present before, absent now, must read as damage.
			for i := range 1000 {
				key := []byte(fmt.Sprintf("k%05d", i))
				if data.Get(key) != nil {
					continue
				}
				_, err := getRecord(data, key, newLeafCheck(bdb, data))
				assert.ErrorIs(t, err, ErrCorrupt, "hidden key %s read as absent", key)
			}
			return nil
		}))
		require.NoError(t, bdb.Close())
	}
	assert.Equal(t, damaged, caught, "a lowered count of a leaf page in use is caught")
}

// TestOpenChecksTreeTop: damage to the data tree's branch page and to the
// freelist, which no record checksum covers, fails Open (checkTree,
// checkFreelist) instead of sending reads astray.
func TestOpenChecksTreeTop(t *testing.T) {
	path, b := pagedDB(t)
	branches := pagesOfType(t, path, "branch")
	require.Len(t, branches, 1, "a two-level tree")
	root := branches[0]
	freelists := pagesOfType(t, path, "freelist")
	require.Len(t, freelists, 1)
	fl := freelists[0]
	e := binary.NativeEndian
	free := e.Uint64(b[fl*4096+16:]) // the first free page
	child := func(i int) int { return root*4096 + 16 + 16*i + 8 }
	tests := []struct {
		name   string
		damage func(d []byte)
	}{
		{"child points at its parent (a cycle)", func(d []byte) { e.PutUint64(d[child(1):], uint64(root)) }},
		{"child points at a free page", func(d []byte) { e.PutUint64(d[child(1):], free) }},
		{"child points at a sibling", func(d []byte) { e.PutUint64(d[child(1):], e.Uint64(d[child(2):])) }},
		{"child points past the end", func(d []byte) { e.PutUint64(d[child(1):], 1<<40) }},
		{"branch count lowered", func(d []byte) { e.PutUint16(d[root*4096+10:], e.Uint16(d[root*4096+10:])-1) }},
		{"separators swapped", func(d []byte) {
			a, c := d[root*4096+16:root*4096+32], d[root*4096+32:root*4096+48]
			tmp := bytes.Clone(a)
			copy(a[8:], c[8:])
			copy(c[8:], tmp[8:])
		}},
		{"freelist count huge", func(d []byte) { e.PutUint16(d[fl*4096+10:], 0xFFFF); e.PutUint64(d[fl*4096+16:], 1<<50) }},
		{"freelist id in use", func(d []byte) { e.PutUint64(d[fl*4096+16:], uint64(root)) }},
		{"freelist id past the end", func(d []byte) { e.PutUint64(d[fl*4096+16:], 1<<40) }},
		{"freelist page type", func(d []byte) { d[fl*4096+8] = 0x02 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := bytes.Clone(b)
			tt.damage(d)
			path := filepath.Join(t.TempDir(), "db")
			require.NoError(t, os.WriteFile(path, d, 0o600))
			db, err := Open(path, nil)
			if err == nil {
				_ = db.Close()
			}
			require.ErrorIs(t, err, ErrCorrupt)
			// Nothing leaks: the file is not left locked (nor mapped).
			assertUnlocked(t, path)
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(d, after), "the file is left as it was")
		})
	}
}
