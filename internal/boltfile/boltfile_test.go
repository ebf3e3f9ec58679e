package boltfile_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/internal/boltfile"
)

// TestBoltVersionPinned fails when the bbolt compiled in is not one this
// package was verified against: its source path (in the module cache, or
// module@version with -trimpath) names the version, whichever go.mod or
// go.work chose it; a vendored copy has none, and then go.mod says. After
// an upgrade, re-verify the format (see the package documentation) and
// add the version to VerifiedVersions.
func TestBoltVersionPinned(t *testing.T) {
	pc := reflect.ValueOf(bolt.Open).Pointer()
	file, _ := runtime.FuncForPC(pc).FileLine(pc)
	version := ""
	if m := regexp.MustCompile(`go\.etcd\.io/bbolt@(v[^/]+)/`).FindStringSubmatch(file); m != nil {
		version = m[1]
	} else {
		mod, err := os.ReadFile("../../go.mod")
		require.NoError(t, err)
		for line := range strings.Lines(string(mod)) {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "go.etcd.io/bbolt" {
				version = f[1]
			}
		}
	}
	require.True(t, slices.Contains(boltfile.VerifiedVersions, version),
		"bbolt %q is not among the versions boltfile was verified against (%v): re-read bbolt's page, meta and mmap code and its panics, then add it", version, boltfile.VerifiedVersions)
}

// TestLayoutMatchesBolt: what boltfile parses from a file agrees with
// what bbolt's API says of the same file: the meta page (page size, high
// water mark, transaction id), every page's type and element count, the
// free pages, and the walk of every bucket reaching every page in use.
func TestLayoutMatchesBolt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
	require.NoError(t, err)
	for round := range 3 {
		require.NoError(t, bdb.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("data"))
			if err != nil {
				return err
			}
			nested, err := b.CreateBucketIfNotExists([]byte("nested"))
			if err != nil {
				return err
			}
			for i := range 3000 {
				v := fmt.Appendf(nil, "round %d value %d", round, i)
				if i%300 == 7 {
					v = make([]byte, 9000) // overflow pages
				}
				if err := b.Put(fmt.Appendf(nil, "k%05d", i), v); err != nil {
					return err
				}
				if err := nested.Put(fmt.Appendf(nil, "n%05d", i), v); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	info := bdb.Info()
	var txid, size int
	require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
		txid, size = tx.ID(), int(tx.Size())
		return nil
	}))
	require.NoError(t, bdb.Close())

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	m, ok := boltfile.ReadMeta(f)
	require.True(t, ok)
	require.Equal(t, uint32(info.PageSize), m.PageSize)
	require.Equal(t, uint64(txid), m.TxID)
	require.Equal(t, uint64(size), m.Pgid*uint64(m.PageSize))
	free, err := boltfile.CheckFreelist(f, m)
	require.NoError(t, err)

	bdb, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	require.NoError(t, err)
	defer bdb.Close()
	require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
		nfree := 0
		for id := 2; id < int(m.Pgid); id++ {
			pi, err := tx.Page(id)
			require.NoError(t, err)
			require.NotNil(t, pi)
			switch pi.Type {
			case "free":
				nfree++
				require.True(t, free[uint64(id)], "page %d free for bbolt", id)
			case "branch", "leaf":
				require.False(t, free[uint64(id)])
				pg, err := boltfile.ReadPage(f, uint64(id), m)
				require.NoError(t, err, "page %d", id)
				require.Equal(t, pi.Count, pg.Count)
				require.Equal(t, pi.OverflowCount, int(pg.Overflow))
				require.Equal(t, pi.Type == "leaf", pg.Flags == boltfile.LeafFlag)
			}
		}
		require.Len(t, free, nfree)
		return nil
	}))
	w := boltfile.NewWalker(f, m, free)
	w.Nested = true
	require.NoError(t, w.Bucket(m.Root))
	require.NoError(t, w.Unaccounted())

	// The mapping: bbolt maps a file of this size with this much.
	require.Equal(t, int64(1<<30), boltfile.MapSize(600<<20, 0, 4096))
	require.Equal(t, int64(2<<30), boltfile.MapSize(1<<30+1, 0, 4096))
	require.Equal(t, int64(256<<20), boltfile.MapSize(1<<20, 256<<20, 4096))
}

// TestLeafAddressRule: bbolt hands out keys and values as slices of its
// mapping, laid out as LeafCheck expects (the first key of a page of n
// elements at 16+16n from the page's start; each next key where the
// previous value ended).
func TestLeafAddressRule(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	bdb, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	defer bdb.Close()
	require.NoError(t, bdb.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 2000 {
			if err := b.Put(fmt.Appendf(nil, "key%05d", i), fmt.Appendf(nil, "v%d", i)); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("b"))
		lc := boltfile.NewLeafCheck(bdb, b)
		require.True(t, lc.On())
		c := b.Cursor()
		k, v := c.First()
		lc.Start(c, k, v)
		n := 0
		for k, v = c.First(); k != nil; k, v = c.Next() {
			if n > 0 {
				require.NoError(t, lc.Next(k, v))
			}
			n++
		}
		require.NoError(t, lc.Next(nil, nil))
		require.Equal(t, 2000, n)
		return nil
	}))
}

// recovered runs fn and returns what it panicked with, as judged by the
// recognisers (called from the deferred function, as they must be).
func recovered(fn func()) (v any, page, decode, boltFault bool) {
	defer func() {
		v = recover()
		page, decode, boltFault = boltfile.IsPageCheckPanic(v), boltfile.IsPageDecodePanic(v), boltfile.IsBoltFault(v, 0)
	}()
	fn()
	return
}

// TestPanicRecognition: a page bbolt finds naming another id panics with
// a value IsPageCheckPanic recognises; the same message panicked by
// other code, and a nil pointer fault, are not recognised.
func TestPanicRecognition(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	bdb, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 500 {
			if err := b.Put(fmt.Appendf(nil, "key%05d", i), make([]byte, 100)); err != nil {
				return err
			}
		}
		return nil
	}))
	var root uint64
	require.NoError(t, bdb.View(func(tx *bolt.Tx) error { root = uint64(tx.Bucket([]byte("b")).Root()); return nil }))
	require.NoError(t, bdb.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[root*4096] ^= 0x40 // the root page names another id
	require.NoError(t, os.WriteFile(path, b, 0o600))
	bdb, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer bdb.Close()
	v, page, _, _ := recovered(func() {
		_ = bdb.View(func(tx *bolt.Tx) error {
			tx.Bucket([]byte("b")).Cursor().First()
			return nil
		})
	})
	require.NotNil(t, v)
	require.True(t, page, "bbolt's page check: %v", v)

	v, page, decode, _ := recovered(func() { panic("assertion failed: Page expected to be: 1, but self identifies as 2") })
	require.NotNil(t, v)
	require.False(t, page || decode, "not raised by bbolt")

	v, page, decode, boltFault := recovered(func() {
		var p *int
		_ = *p
	})
	require.NotNil(t, v)
	require.False(t, page || decode || boltFault, "a nil pointer is no damage")
}

// TestWalkerFindsShortcut: a branch page's child pointer that names a leaf
// of the subtree it used to name leaves a tree that is sound in every way
// but its depth (keys in order, within the separators, no page met
// twice); the walk finds it. The sound tree, built with splits and then
// rebalanced by deletes, passes.
func TestWalkerFindsShortcut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	bdb, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("data"))
		if err != nil {
			return err
		}
		for i := range 4000 {
			// Long keys: few per branch page, so the tree has three levels.
			if err := b.Put(fmt.Appendf(nil, "%0400d", i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, bdb.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("data"))
		for i := 0; i < 4000; i += 3 {
			if err := b.Delete(fmt.Appendf(nil, "%0400d", i)); err != nil {
				return err
			}
		}
		return nil
	}))
	var root uint64
	require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket([]byte("data")).Root())
		return nil
	}))
	require.NoError(t, bdb.Close())

	require.NoError(t, walkTree(t, path, root))

	// Point the root's second child pointer at that child's own first
	// child, a level down.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	m, ok := boltfile.ReadMeta(f)
	require.True(t, ok)
	top, err := boltfile.ReadPage(f, root, m)
	require.NoError(t, err)
	require.Equal(t, uint16(boltfile.BranchFlag), top.Flags)
	require.GreaterOrEqual(t, top.Count, 2)
	mid, err := boltfile.ReadPage(f, top.Child(1), m)
	require.NoError(t, err)
	require.Equal(t, uint16(boltfile.BranchFlag), mid.Flags, "the tree has three levels")
	var id [8]byte
	binary.NativeEndian.PutUint64(id[:], mid.Child(0))
	_, err = f.WriteAt(id[:], int64(root)*int64(m.PageSize)+boltfile.PageHeaderSize+boltfile.ElementSize+8)
	require.NoError(t, err)
	require.ErrorContains(t, walkTree(t, path, root), "not balanced")
}

// TestWalkerChecksInlineBuckets: an inline bucket's page lives in its
// parent's value, and bbolt may read it from a copy on the heap, where a
// damaged element pointing far off faults outside the mapping (beyond
// what a guard can tell from a bug): the walk checks it, nested or not.
func TestWalkerChecksInlineBuckets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	bdb, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket([]byte("empty")); err != nil {
			return err
		}
		b, err := tx.CreateBucket([]byte("small"))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("k1"), []byte("v1")); err != nil {
			return err
		}
		return b.Put([]byte("k2"), []byte("v2"))
	}))
	require.NoError(t, bdb.Close())

	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	m, ok := boltfile.ReadMeta(f)
	require.True(t, ok)
	require.NoError(t, walkTree(t, path, m.Root), "sound inline buckets, one empty")

	dir, err := boltfile.ReadPage(f, m.Root, m)
	require.NoError(t, err)
	var at int64 = -1
	for i := range dir.Count {
		k, err := dir.Key(i)
		require.NoError(t, err)
		if string(k) == "small" {
			v, bucket, err := dir.Value(i)
			require.NoError(t, err)
			require.True(t, bucket)
			require.Zero(t, binary.NativeEndian.Uint64(v), "inline")
			// The high byte of the inline page's first key position.
			at = int64(m.Root)*int64(m.PageSize) + int64(boltfile.Addr(v)-boltfile.Addr(dir.B)) + 16 + boltfile.PageHeaderSize + 4 + 3
		}
	}
	require.NotEqual(t, int64(-1), at)
	_, err = f.WriteAt([]byte{0x08}, at)
	require.NoError(t, err)
	require.ErrorContains(t, walkTree(t, path, m.Root), "inline bucket")
}

// walkTree walks the tree whose root page is root in the file at path,
// as it stands, without a budget.
func walkTree(t *testing.T, path string, root uint64) error {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	m, ok := boltfile.ReadMeta(f)
	require.True(t, ok)
	free, err := boltfile.CheckFreelist(f, m)
	require.NoError(t, err)
	return boltfile.NewWalker(f, m, free).Bucket(root)
}
