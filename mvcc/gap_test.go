package mvcc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
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

// versionsDB writes a closed database whose version bucket is a tree of
// many leaves (the first of two versions of each of 1000 keys, kept by
// HistoryRetention), and returns its path and bytes.
func versionsDB(t *testing.T) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "v.db")
	db, err := Open(path, &Options{NoSync: true, NoAutovacuum: true, HistoryRetention: time.Hour})
	require.NoError(t, err)
	for round := range 2 {
		kv := make([]string, 0, 2000)
		for i := range 1000 {
			kv = append(kv, fmt.Sprintf("k%05d", i), fmt.Sprintf("round %d value %d", round, i))
		}
		require.NoError(t, faultPut(db, kv...))
		_, err := db.Vacuum(context.Background()) // the checkpoint applies the round
		require.NoError(t, err)
	}
	require.GreaterOrEqual(t, db.Stats().DiskVersions, int64(1000))
	require.NoError(t, db.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return path, b
}

// bucketLeaves returns the leaf pages of bucket name in the file at path,
// in key order.
func bucketLeaves(t *testing.T, path string, name []byte) []boltfile.Page {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	var root uint64
	require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket(name).Root())
		return nil
	}))
	require.NoError(t, bdb.Close())
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	m, ok := boltfile.ReadMeta(f)
	require.True(t, ok)
	var leaves []boltfile.Page
	var walk func(id uint64)
	walk = func(id uint64) {
		pg, err := boltfile.ReadPage(f, id, m)
		require.NoError(t, err)
		if pg.Flags == boltfile.LeafFlag {
			leaves = append(leaves, pg)
			return
		}
		for i := range pg.Count {
			walk(pg.Child(i))
		}
	}
	walk(root)
	return leaves
}

// hidingDamage is damage to one leaf page that leaves every record a
// cursor yields sound and in order, yet hides some from it.
type hidingDamage struct {
	name   string
	file   []byte
	leaves []int // the leaves (indexes in key order) whose records it may hide or show, and their neighbours
}

// hidingDamages applies, to each leaf page of the tree, the two damages
// no record checksum nor the leaf check of the page before can see: an
// element count of 0 (bbolt's cursor steps over an empty page), and a
// first element whose key position moved onto the first record of a
// later page (a page's search stops at it, and the record before is the
// last of the page before). Each is what one flipped bit does in a tree
// whose pages hold records of one size (count 32 is bit 5; pos moves by
// a page with bit 12); here the element's lengths are set to the other
// record's too, whatever the sizes. And a count grown past the page (bit
// 14): a descending walk entering the page from above reads element
// headers out of the pages after it, and lands on whatever they point
// at (sound records of another bucket among them).
func hidingDamages(t *testing.T, b []byte, leaves []boltfile.Page) []hidingDamage {
	t.Helper()
	const ps = 4096
	// The pages in use only: the file is grown ahead of them by megabytes.
	m, ok := boltfile.ReadMeta(bytes.NewReader(b))
	require.True(t, ok)
	require.Equal(t, uint32(ps), m.PageSize)
	b = b[:m.Pgid*ps]
	e := binary.NativeEndian
	var out []hidingDamage
	for i, p := range leaves {
		d := bytes.Clone(b)
		e.PutUint16(d[p.ID*ps+10:], 0)
		out = append(out, hidingDamage{fmt.Sprintf("leaf %d of %d (page %d): count 0", i, len(leaves), p.ID), d, []int{i - 1, i, i + 1}})
		d = bytes.Clone(b)
		e.PutUint16(d[p.ID*ps+10:], e.Uint16(d[p.ID*ps+10:])|0x4000)
		out = append(out, hidingDamage{fmt.Sprintf("leaf %d (page %d): count grown past the page", i, p.ID), d, []int{i - 1, i, i + 1}})
		for j, q := range leaves[i+1:] {
			if q.ID <= p.ID {
				continue // a key position is unsigned: it moves forward
			}
			d := bytes.Clone(b)
			from, to := p.ID*ps+16, q.ID*ps+16 // the first elements
			e.PutUint32(d[from+4:], uint32(to-from)+e.Uint32(d[to+4:]))
			copy(d[from+8:from+16], d[to+8:to+16]) // key and value sizes
			j += i + 1
			out = append(out, hidingDamage{fmt.Sprintf("leaf %d (page %d): first element moved onto page %d's", i, p.ID, q.ID), d, []int{i - 1, i, i + 1, j - 1, j, j + 1}})
			break
		}
	}
	return out
}

// viewDamaged opens damage's file with bbolt alone (Open's check of the
// trees would catch these pages in a file this small) and runs fn in a
// read transaction; fn runs each read under db's guard, as reads run.
func viewDamaged(t *testing.T, damage hidingDamage, fn func(db *DB, tx *bolt.Tx) error) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "damaged.db")
	require.NoError(t, os.WriteFile(path, damage.file, 0o600))
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer bdb.Close()
	db := &DB{bolt: bdb, path: path}
	return bdb.View(func(tx *bolt.Tx) error { return fn(db, tx) })
}

// near returns the indexes in keys of the records the damage's leaves
// held: reading the records of the whole tree for each damage would take
// long, and the damage hides or shows none beyond them.
func near(t *testing.T, damage hidingDamage, leaves []boltfile.Page, keys [][]byte) []int {
	t.Helper()
	at := make(map[string]int, len(keys))
	for i, k := range keys {
		at[string(k)] = i
	}
	var idx []int
	for _, l := range damage.leaves {
		if l < 0 || l >= len(leaves) {
			continue
		}
		for j := range leaves[l].Count {
			k, err := leaves[l].Key(j)
			require.NoError(t, err)
			i, ok := at[string(k)]
			require.True(t, ok, "leaf key %x is a record", k)
			idx = append(idx, i)
		}
	}
	return idx
}

// records returns every record of bucket name in the file at path.
func records(t *testing.T, path string, name []byte) (keys, values [][]byte) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer bdb.Close()
	require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
		return tx.Bucket(name).ForEach(func(k, v []byte) error {
			keys, values = append(keys, bytes.Clone(k)), append(values, bytes.Clone(v))
			return nil
		})
	}))
	return keys, values
}

// dataReads reads, in the data bucket of tx, each record idx names (a
// point read, getRecord, and a scan from it, seekChecked) and, when
// between, a key just after each (which is absent): each returns the
// record (the next one, the scan from an absent key) or ErrCorrupt, never
// "absent" nor another record. It returns how many said ErrCorrupt.
func dataReads(t *testing.T, name string, db *DB, tx *bolt.Tx, keys, values [][]byte, idx []int, between bool) (corrupt int) {
	data, bdb := tx.Bucket(dataBucket), db.bolt
	read := func(k []byte, i int) { // i: the record k names, or the first after it
		var rec []byte
		err := db.guard(func() (err error) {
			rec, err = getRecord(data, k, newLeafCheck(bdb, data))
			return err
		})
		switch {
		case errors.Is(err, ErrCorrupt):
			corrupt++
		case err != nil:
			t.Errorf("%s: key %s: %v", name, k, err)
		case i == len(keys) || !bytes.Equal(k, keys[i]):
			assert.Nil(t, rec, "%s: key %s, never written, read as present", name, k)
		case rec == nil:
			t.Errorf("%s: key %s read as absent", name, k)
		default:
			assert.Equal(t, values[i], rec, "%s: key %s", name, k)
		}
		lc := newLeafCheck(bdb, data)
		var got []byte
		err = db.guard(func() (err error) {
			got, _, err = seekChecked(data.Cursor(), &lc, k, true)
			return err
		})
		switch {
		case errors.Is(err, ErrCorrupt):
			corrupt++
		case err != nil:
			t.Errorf("%s: scan from %s: %v", name, k, err)
		case i == len(keys):
			assert.Nil(t, got, "%s: a scan from %s, past the last key, starts at %s", name, k, got)
		default:
			assert.Equal(t, string(keys[i]), string(got), "%s: a scan from %s starts at another key", name, k)
		}
	}
	for _, i := range idx {
		read(keys[i], i)
		if between {
			read(append(bytes.Clone(keys[i]), '-'), i+1)
		}
	}
	return corrupt
}

// TestPointReadSeesHiddenPage: a leaf page of the data emptied (count 0)
// or whose first element names another page's record hides records from
// bbolt's cursor; a point read (getRecord) of each record, and a scan
// from it (seekChecked), returns the record or ErrCorrupt, never
// "absent" nor another key, and the hidden ones read as ErrCorrupt. In
// the sound file every read, of every key and of a key between each two,
// finds what is there.
func TestPointReadSeesHiddenPage(t *testing.T) {
	path, b := pagedDB(t)
	keys, values := records(t, path, dataBucket)
	require.Len(t, keys, 1000)
	leaves := bucketLeaves(t, path, dataBucket)
	require.Greater(t, len(leaves), 10)
	damages := hidingDamages(t, b, leaves)
	require.Greater(t, len(damages), len(leaves)+5, "both damages, to most leaves")
	all := make([]int, len(keys))
	for i := range all {
		all[i] = i
	}
	sound := hidingDamage{name: "sound", file: b}
	require.NoError(t, viewDamaged(t, sound, func(db *DB, tx *bolt.Tx) error {
		assert.Zero(t, dataReads(t, sound.name, db, tx, keys, values, all, true))
		return nil
	}))
	for _, damage := range damages {
		corrupt := 0
		err := viewDamaged(t, damage, func(db *DB, tx *bolt.Tx) error {
			corrupt = dataReads(t, damage.name, db, tx, keys, values, near(t, damage, leaves, keys), false)
			return nil
		})
		require.NoError(t, err, damage.name)
		assert.Positive(t, corrupt, "%s: the hidden keys read as ErrCorrupt", damage.name)
	}
}

// versionReads reads, in the version bucket of tx, each record idx names,
// as a read at its timestamp does (seekBelow, which reads of the version
// store and of the clock go through: the last record before the key's
// name at ts+1), and, when below, at the timestamp before it (the record
// before it, another key's or an older version). Each finds the record or
// ErrCorrupt, never another record, nor none. It returns how many said
// ErrCorrupt.
func versionReads(t *testing.T, name string, db *DB, tx *bolt.Tx, vks, recs [][]byte, idx []int, below bool) (corrupt int) {
	versions, bdb := tx.Bucket(versionsBucket), db.bolt
	read := func(target []byte, i int) { // i: the record expected, -1 none
		var bk, bv []byte
		err := db.guard(func() (err error) {
			bk, bv, _, err = seekBelow(versions.Cursor(), newLeafCheck(bdb, versions), target, decodeVRecordErr)
			return err
		})
		switch {
		case errors.Is(err, ErrCorrupt):
			corrupt++
		case err != nil:
			t.Errorf("%s: seeking below %x: %v", name, target, err)
		case i < 0:
			assert.Nil(t, bk, "%s: a record below the first, %x", name, bk)
		default:
			assert.Equal(t, vks[i], bk, "%s: seeking below %x", name, target)
			assert.Equal(t, recs[i], bv, "%s: seeking below %x", name, target)
		}
	}
	for _, i := range idx {
		key, ts, ok := splitVKey(vks[i])
		require.True(t, ok)
		read(appendVKey(nil, key, ts+1), i)
		if below {
			read(vks[i], i-1)
		}
	}
	return corrupt
}

// TestVersionReadSeesHiddenPage: the same damage to the version bucket's
// leaves: a read of a version as of a past time finds the version or says
// ErrCorrupt, never an older version, "none", or another key's, and in
// the sound file every read finds what is there.
func TestVersionReadSeesHiddenPage(t *testing.T) {
	path, b := versionsDB(t)
	vks, recs := records(t, path, versionsBucket)
	require.GreaterOrEqual(t, len(vks), 1000)
	leaves := bucketLeaves(t, path, versionsBucket)
	require.Greater(t, len(leaves), 10)
	damages := hidingDamages(t, b, leaves)
	require.Greater(t, len(damages), len(leaves)+5, "both damages, to most leaves")
	all := make([]int, len(vks))
	for i := range all {
		all[i] = i
	}
	sound := hidingDamage{name: "sound", file: b}
	require.NoError(t, viewDamaged(t, sound, func(db *DB, tx *bolt.Tx) error {
		assert.Zero(t, versionReads(t, sound.name, db, tx, vks, recs, all, true))
		return nil
	}))
	for _, damage := range damages {
		corrupt := 0
		err := viewDamaged(t, damage, func(db *DB, tx *bolt.Tx) error {
			corrupt = versionReads(t, damage.name, db, tx, vks, recs, near(t, damage, leaves, vks), false)
			return nil
		})
		require.NoError(t, err, damage.name)
		assert.Positive(t, corrupt, "%s: the hidden versions read as ErrCorrupt", damage.name)
	}
}

// scanAll reads the whole data bucket of tx as a scan does (fileChunk's
// read, chunk after chunk), ascending or descending, and returns the
// keys it yielded, in ascending order, or the error that stopped it.
func scanAll(db *DB, tx *bolt.Tx, desc bool) (keys []string, err error) {
	v := &view{tx: tx, data: tx.Bucket(dataBucket)}
	v.leaf = newLeafCheck(db.bolt, v.data)
	var from []byte
	inclusive := true
	for {
		fc := &fileChunk{}
		err := db.guard(func() error { return fc.read(v, v.data.Cursor(), from, nil, inclusive, desc, scanChunk) })
		if err != nil {
			return nil, err
		}
		for i := range fc.len() {
			keys = append(keys, string(fc.key(i)))
		}
		if !fc.more || fc.len() == 0 {
			break
		}
		from, inclusive = bytes.Clone(fc.key(fc.len()-1)), false
	}
	if desc {
		slices.Reverse(keys)
	}
	return keys, nil
}

// TestScanSeesHiddenPage: the same damage to the data's leaves, under a
// scan of the whole bucket, ascending and descending: it yields every
// record, or stops with ErrCorrupt, never skipping a page's records
// (bbolt's cursor steps over an empty page, and a descending one entering
// a page whose count grew reads records of other pages).
func TestScanSeesHiddenPage(t *testing.T) {
	path, b := pagedDB(t)
	want, _ := records(t, path, dataBucket)
	leaves := bucketLeaves(t, path, dataBucket)
	damages := append([]hidingDamage{{name: "sound", file: b}}, hidingDamages(t, b, leaves)...)
	for _, damage := range damages {
		for _, desc := range []bool{false, true} {
			require.NoError(t, viewDamaged(t, damage, func(db *DB, tx *bolt.Tx) error {
				keys, err := scanAll(db, tx, desc)
				if damage.name != "sound" && errors.Is(err, ErrCorrupt) {
					return nil
				}
				require.NoError(t, err, "%s, descending %v", damage.name, desc)
				require.Len(t, keys, len(want), "%s, descending %v: a scan lost records", damage.name, desc)
				for i := range keys {
					require.Equal(t, string(want[i]), keys[i], "%s, descending %v", damage.name, desc)
				}
				return nil
			}))
		}
	}
}

// TestVersionKeysSeeHiddenPage: the same damage to the version bucket's
// leaves, under the walk that lists the keys it holds for a scan as of a
// past time (versionKeys: a key deleted since lives only there): the
// walk, whole or from the middle, ascending and descending, lists every
// key of its range or stops with ErrCorrupt.
func TestVersionKeysSeeHiddenPage(t *testing.T) {
	path, b := versionsDB(t)
	vks, _ := records(t, path, versionsBucket)
	var want []string
	for _, vk := range vks {
		k, _, ok := splitVKey(vk)
		require.True(t, ok)
		if len(want) == 0 || want[len(want)-1] != string(k) {
			want = append(want, string(k))
		}
	}
	require.Len(t, want, 1000)
	leaves := bucketLeaves(t, path, versionsBucket)
	damages := append([]hidingDamage{{name: "sound", file: b}}, hidingDamages(t, b, leaves)...)
	for _, damage := range damages {
		require.NoError(t, viewDamaged(t, damage, func(db *DB, tx *bolt.Tx) error {
			versions := tx.Bucket(versionsBucket)
			for _, from := range []string{"", want[500]} {
				for _, desc := range []bool{false, true} {
					var keys [][]byte
					var f []byte
					if from != "" {
						f = []byte(from)
					}
					err := db.guard(func() (err error) {
						keys, _, err = versionKeys(versions, newLeafCheck(db.bolt, versions), f, nil, true, desc, 2000)
						return err
					})
					if damage.name != "sound" && errors.Is(err, ErrCorrupt) {
						continue
					}
					require.NoError(t, err, "%s, from %q, descending %v", damage.name, from, desc)
					exp := want
					switch {
					case from != "" && desc:
						exp = want[:500]
					case from != "":
						exp = want[500:]
					}
					got := make([]string, len(keys))
					for i, k := range keys {
						got[i] = string(k)
					}
					if desc {
						slices.Reverse(got)
					}
					require.Equal(t, exp, got, "%s, from %q, descending %v: keys lost", damage.name, from, desc)
				}
			}
			return nil
		}))
	}
}
