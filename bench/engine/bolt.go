package engine

import (
	"bytes"
	"cmp"
	"fmt"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/mvcc"
)

var boltBucket = []byte("kv")

// boltEngine runs transactions on a raw bbolt file: one bucket, keys as
// they are. bbolt has one writer at a time, so every write transaction
// runs alone: histories are serial, stronger than every level, and nothing
// ever aborts. batch uses DB.Batch, which runs concurrent writers' functions
// in one write transaction (one fsync), at the cost of its 10 ms timer.
type boltEngine struct {
	db     *bolt.DB
	bucket []byte
	batch  bool
}

func openBolt(dir string, opts Options, batch bool) (*boltEngine, error) {
	db, err := bolt.Open(filepath.Join(dir, "bbolt.db"), 0o600, &bolt.Options{
		NoSync:          !opts.Durable,
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: cmp.Or(opts.MmapSize, 256<<20),
	})
	if err != nil {
		return nil, err
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(boltBucket)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, err
	}
	return &boltEngine{db: db, bucket: boltBucket, batch: batch}, nil
}

// OpenBoltFile opens the bbolt file at path read-only as the engine
// "bbolt", its keys those of bucket. The goals read an mvkv database's
// own file through it (mvkv keeps each key's newest value in its data
// bucket, "data", under the key itself), so that bbolt and mvkv read the
// same B+tree.
func OpenBoltFile(path, bucket string, opts Options) (Engine, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, InitialMmapSize: cmp.Or(opts.MmapSize, 256<<20)})
	if err != nil {
		return nil, err
	}
	if err := db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte(bucket)) == nil {
			return fmt.Errorf("bench: %s has no bucket %q", path, bucket)
		}
		return nil
	}); err != nil {
		_ = db.Close()
		return nil, err
	}
	return &boltEngine{db: db, bucket: []byte(bucket)}, nil
}

func (e *boltEngine) Name() string {
	if e.batch {
		return "bbolt-batch"
	}
	return "bbolt"
}

func (e *boltEngine) Levels() []mvcc.Level { return engineInfo[e.Name()].levels }
func (e *boltEngine) Note() string         { return engineInfo[e.Name()].note }

func (e *boltEngine) Txn(_ mvcc.Level, readOnly bool, fn func(Tx) error) error {
	run := func(tx *bolt.Tx) error { return fn(boltTx{tx.Bucket(e.bucket)}) }
	switch {
	case readOnly:
		return e.db.View(run)
	case e.batch:
		return e.db.Batch(run)
	default:
		return e.db.Update(run)
	}
}

// View is bbolt's DB.View, at every level: its histories are serial.
func (e *boltEngine) View(_ mvcc.Level, fn func(Tx) error) error {
	return e.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx.Bucket(e.bucket)}) })
}

func (e *boltEngine) Abort(error) string { return "" }

func (e *boltEngine) Close() error { return e.db.Close() }

type boltTx struct{ b *bolt.Bucket }

func (t boltTx) Get(key []byte) ([]byte, error) {
	v := t.b.Get(key)
	if v == nil {
		return nil, ErrNotFound
	}
	return bytes.Clone(v), nil
}

func (t boltTx) Put(key, value []byte) error { return t.b.Put(bytes.Clone(key), bytes.Clone(value)) }
func (t boltTx) Delete(key []byte) error     { return t.b.Delete(key) }

// Scan lends bbolt's slices, valid until the transaction ends (the
// workloads copy what they keep): it is ScanFunc.
func (t boltTx) Scan(start, end []byte, limit int, fn func(key, value []byte) bool) error {
	return t.ScanFunc(start, end, limit, fn)
}

// GetFunc lends the value where it lies in the file.
func (t boltTx) GetFunc(key []byte, fn func(value []byte)) error {
	v := t.b.Get(key)
	if v == nil {
		return ErrNotFound
	}
	fn(v)
	return nil
}

// ScanFunc walks a cursor, lending each key and value where they lie.
func (t boltTx) ScanFunc(start, end []byte, limit int, fn func(key, value []byte) bool) error {
	c := t.b.Cursor()
	var k, v []byte
	if start == nil {
		k, v = c.First()
	} else {
		k, v = c.Seek(start)
	}
	for n := 0; k != nil; k, v = c.Next() {
		if end != nil && bytes.Compare(k, end) >= 0 {
			break
		}
		if !fn(k, v) {
			break
		}
		if n++; limit > 0 && n >= limit {
			break
		}
	}
	return nil
}

// ScanKeys walks a cursor and never looks at a value.
func (t boltTx) ScanKeys(start, end []byte, limit int, fn func(key []byte) bool) error {
	c := t.b.Cursor()
	var k []byte
	if start == nil {
		k, _ = c.First()
	} else {
		k, _ = c.Seek(start)
	}
	for n := 0; k != nil; k, _ = c.Next() {
		if end != nil && bytes.Compare(k, end) >= 0 {
			break
		}
		if !fn(k) {
			break
		}
		if n++; limit > 0 && n >= limit {
			break
		}
	}
	return nil
}

// DB returns the underlying bbolt database (for comparisons with the
// engine's path to it).
func (e *boltEngine) DB() *bolt.DB { return e.db }
