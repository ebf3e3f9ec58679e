package engine

import (
	"bytes"
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
	db    *bolt.DB
	batch bool
}

func openBolt(dir string, opts Options, batch bool) (*boltEngine, error) {
	db, err := bolt.Open(filepath.Join(dir, "bbolt.db"), 0o600, &bolt.Options{
		NoSync:          !opts.Durable,
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: 256 << 20,
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
	return &boltEngine{db: db, batch: batch}, nil
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
	run := func(tx *bolt.Tx) error { return fn(boltTx{tx.Bucket(boltBucket)}) }
	switch {
	case readOnly:
		return e.db.View(run)
	case e.batch:
		return e.db.Batch(run)
	default:
		return e.db.Update(run)
	}
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

func (t boltTx) Scan(start, end []byte, limit int, fn func(key, value []byte) bool) error {
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
