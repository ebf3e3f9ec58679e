package engine

import (
	"bytes"
	"errors"
	"path/filepath"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/mvkv/mvkv/mvcc"
)

// badgerEngine runs transactions on Badger v4's managed-by-Badger
// optimistic transactions. Badger checks, at commit, the keys a
// transaction read against the keys committed since it started (by
// fingerprint): that is serializable for point reads, but range reads
// (iterators) are not tracked, so phantoms can slip through. It has no
// read committed or snapshot mode.
type badgerEngine struct {
	db *badger.DB
}

func openBadger(dir string, opts Options) (*badgerEngine, error) {
	o := badger.DefaultOptions(filepath.Join(dir, "badger")).
		WithSyncWrites(opts.Durable).
		WithLogger(nil).
		WithNumCompactors(2).
		WithMemTableSize(32 << 20).
		WithBlockCacheSize(64 << 20)
	db, err := badger.Open(o)
	if err != nil {
		return nil, err
	}
	return &badgerEngine{db: db}, nil
}

func (e *badgerEngine) Name() string { return "badger" }

func (e *badgerEngine) Levels() []mvcc.Level { return engineInfo["badger"].levels }
func (e *badgerEngine) Note() string         { return engineInfo["badger"].note }

func (e *badgerEngine) Txn(_ mvcc.Level, readOnly bool, fn func(Tx) error) error {
	tx := e.db.NewTransaction(!readOnly)
	defer tx.Discard()
	if err := fn(badgerTx{tx}); err != nil {
		return err
	}
	if readOnly {
		return nil
	}
	return tx.Commit()
}

func (e *badgerEngine) Abort(err error) string {
	if errors.Is(err, badger.ErrConflict) {
		return "serialization"
	}
	return ""
}

func (e *badgerEngine) Close() error { return e.db.Close() }

type badgerTx struct{ tx *badger.Txn }

func (t badgerTx) Get(key []byte) ([]byte, error) {
	it, err := t.tx.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return it.ValueCopy(nil)
}

// Put copies: Badger keeps the slices until commit.
func (t badgerTx) Put(key, value []byte) error {
	return t.tx.Set(bytes.Clone(key), bytes.Clone(value))
}

func (t badgerTx) Delete(key []byte) error { return t.tx.Delete(bytes.Clone(key)) }

func (t badgerTx) Scan(start, end []byte, limit int, fn func(key, value []byte) bool) error {
	o := badger.DefaultIteratorOptions
	if limit > 0 && limit < o.PrefetchSize {
		o.PrefetchSize = limit
	}
	it := t.tx.NewIterator(o)
	defer it.Close()
	if start == nil {
		it.Rewind()
	} else {
		it.Seek(start)
	}
	for n := 0; it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		if end != nil && bytes.Compare(k, end) >= 0 {
			break
		}
		var keep bool
		if err := item.Value(func(v []byte) error { keep = fn(k, v); return nil }); err != nil {
			return err
		}
		if !keep {
			break
		}
		if n++; limit > 0 && n >= limit {
			break
		}
	}
	return nil
}
