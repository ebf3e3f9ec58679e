package mvcc

import (
	"fmt"
	"runtime"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/internal/boltfile"
)

// Damage that panics.
//
// bbolt trusts the pages it reads through its memory mapping: a damaged
// or truncated file can make it fault (a page past the file's end) or
// fail one of its own page checks, which panic. Code that reads the file
// runs under guard, which turns exactly those into ErrCorrupt:
//
//   - a memory fault (debug.SetPanicOnFault) at an address inside bbolt's
//     mapping of the file, whoever read it (bbolt, or mvkv decoding a
//     record in place);
//   - a memory fault in bbolt's own code at an address above the
//     mapping's start: bbolt following a damaged page id past the
//     mapping (it computes base + id × page size);
//   - a panic bbolt raises when a page fails its checks (the messages
//     boltfile lists, raised by bbolt's code), and an index or slice out
//     of range in bbolt's page decoding (a damaged key or value size,
//     raised in bbolt's internal/common).
//
// Anything else is a bug, mvkv's or its caller's, and is panicked again
// as it was (etcd's STM recovers only its own sentinel for the same
// reason): calling it damage would send an operator to restore a healthy
// database. A caller's io.Writer given to Backup does not run under the
// guard's judgement: its panic is returned as the caller's error (see
// Backup).

// guard runs fn, which reads the file's mapping, turning damage that
// panics (see above) into ErrCorrupt; any other panic goes on.
func (db *DB) guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if !db.isDamage(r) {
				panic(r)
			}
			err = fmt.Errorf("%w: %s: %v", ErrCorrupt, db.path, r)
		}
	}()
	return fn()
}

// isDamage reports whether r, recovered from a panic under guard, is
// damage of the file (see above). Call it from the deferred function that
// recovered r: it looks at the panic's stack.
func (db *DB) isDamage(r any) bool {
	if boltfile.IsPageCheckPanic(r) || boltfile.IsPageDecodePanic(r) {
		return true
	}
	if _, ok := r.(runtime.Error); !ok {
		return false
	}
	base, pageSize := mapping(db.bolt)
	return boltfile.IsMappingFault(r, base, fileSize(db.path), db.opts.InitialMmapSize, pageSize) ||
		boltfile.IsBoltFault(r, base)
}

// mapping returns where bbolt maps bdb's file and its page size, read
// under a read transaction (the mapping does not move while one is
// open); 0 when none can begin.
func mapping(bdb *bolt.DB) (base uintptr, pageSize int) {
	tx, err := bdb.Begin(false)
	if err != nil {
		return 0, 0
	}
	defer tx.Rollback() //nolint:errcheck // a read transaction
	info := bdb.Info()
	return info.Data, info.PageSize
}
