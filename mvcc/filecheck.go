package mvcc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// checkFile guards bbolt.Open against a truncated file. Opening read-write,
// bbolt walks every page below the high-water mark its meta page names (to
// rebuild the freelist) in a goroutine of its own; a page past the end of
// the file faults there (SIGBUS), where no recover can catch it, and the
// whole process dies. So before bbolt maps the file, read the meta page it
// will pick and check that the file is long enough. A file whose meta pages
// bbolt rejects by itself (bad magic, version or checksum) passes, for
// bbolt to report; so does a missing file, which bbolt creates.
//
// The meta pages are read before the size: a holder writing the file
// concurrently grows it before it writes a meta page naming the new pages,
// and bbolt never shrinks a file, so a live file always passes.
//
// It also reports whether bbolt's open will walk the pages: only when the
// file carries no freelist (written with NoFreelistSync, as mvkv/1 files
// were); mvkv/2 files carry one, and their open reads no data page.
func checkFile(path string) (walks bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return false, nil // missing (created by bbolt), or an error bbolt reports
	}
	defer f.Close() //nolint:errcheck // opened for reading
	m0, ok0 := readBoltMeta(f, 0)
	var m1 boltMeta
	ok1 := false
	if ok0 {
		m1, ok1 = readBoltMeta(f, int64(m0.pageSize))
	} else {
		// As bbolt does: without page 0, look for page 1 at every page
		// size it may have been written with.
		for i := 0; i <= 14 && !ok1; i++ {
			m1, ok1 = readBoltMeta(f, 1024<<i)
		}
	}
	fi, err := f.Stat()
	if err != nil {
		return false, nil
	}
	var m boltMeta
	switch {
	case ok0 && ok1 && m1.txid > m0.txid, !ok0 && ok1:
		m = m1
	case ok0:
		m = m0
	case fi.Size() > 0 && fi.Size() < 2*4096:
		// bbolt would guess the page size and fail with an error of its
		// own making ("file size too small"): say what it is.
		return false, fmt.Errorf("%w: %s: %d bytes, too short for a database", ErrCorrupt, path, fi.Size())
	default:
		return false, nil
	}
	if need := m.pgid * uint64(m.pageSize); uint64(fi.Size()) < need {
		return false, fmt.Errorf("%w: %s: truncated: %d bytes, its meta page needs %d", ErrCorrupt, path, fi.Size(), need)
	}
	return m.freelist == noFreelist, nil
}

// noFreelist is the freelist page id of a file written without one.
const noFreelist = ^uint64(0)

// boltMeta is what checkFile needs from a bbolt meta page.
type boltMeta struct {
	pageSize uint32
	pgid     uint64 // high-water mark: pages [0, pgid) are in use
	txid     uint64
	freelist uint64
}

// readBoltMeta reads and validates the meta page at off. bbolt writes it in
// the machine's byte order: a 16-byte page header, then magic, version,
// page size, flags (4 bytes each), root bucket (16), freelist, pgid, txid
// and the FNV-64a checksum of everything before it (8 each).
func readBoltMeta(f *os.File, off int64) (boltMeta, bool) {
	const (
		hdr      = 16
		size     = 64
		magic    = 0xED0CDAED
		version  = 2
		checksum = 56
	)
	var buf [hdr + size]byte
	if _, err := f.ReadAt(buf[:], off); err != nil && err != io.EOF {
		return boltMeta{}, false
	}
	b := buf[hdr:]
	e := binary.NativeEndian
	if e.Uint32(b[0:]) != magic || e.Uint32(b[4:]) != version {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	_, _ = h.Write(b[:checksum])
	if h.Sum64() != e.Uint64(b[checksum:]) {
		return boltMeta{}, false
	}
	m := boltMeta{pageSize: e.Uint32(b[8:]), freelist: e.Uint64(b[32:]), pgid: e.Uint64(b[40:]), txid: e.Uint64(b[48:])}
	if m.pageSize < 1024 {
		return boltMeta{}, false
	}
	return m, true
}

// checkPages guards bbolt.Open against a damaged page. The read-write open
// walks every reachable page in a goroutine of its own (see checkFile),
// where bbolt's assertion on a page that is not what its parent says
// ("page expected to be 12, but self identifies as ...") panics beyond any
// recover and kills the process. A read-only open walks nothing, so the
// same pages are read here first, through a read-only handle and in this
// goroutine, where a fault or a panic becomes ErrCorrupt. Missing and
// empty files pass (bbolt creates them); so does a file bbolt cannot open
// read-only for another reason, for the read-write open to report. The
// handle holds a shared lock: waiting for it past timeout is ErrLocked.
func checkPages(path string, timeout, lockTimeout time.Duration) (err error) {
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 || !fi.Mode().IsRegular() {
		return nil
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return fmt.Errorf("%w: %s (waited %v)", ErrLocked, path, lockTimeout)
		}
		return nil
	}
	defer bdb.Close() //nolint:errcheck // opened read-only for the check
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: damaged page: %v", ErrCorrupt, path, r)
		}
	}()
	return bdb.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
			walkBucket(b)
			return nil
		})
	})
}

// walkBucket visits every page of b and of its nested buckets: a cursor
// going through all keys reads every branch and leaf page.
func walkBucket(b *bolt.Bucket) {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			if sub := b.Bucket(k); sub != nil {
				walkBucket(sub)
			}
		}
	}
}

// openBolt is bolt.Open, with a panic from bbolt's own goroutine-free
// checks (a damaged file's page invariants fail while it rebuilds the
// freelist) turned into ErrCorrupt.
func openBolt(path string, opts *bolt.Options) (bdb *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			bdb, err = nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, r)
		}
	}()
	return bolt.Open(path, 0o600, opts)
}
