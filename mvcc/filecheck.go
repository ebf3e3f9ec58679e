package mvcc

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
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
func checkFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // missing (created by bbolt), or an error bbolt reports
	}
	defer f.Close()
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
		return nil
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
		return fmt.Errorf("%w: %s: %d bytes, too short for a database", ErrCorrupt, path, fi.Size())
	default:
		return nil
	}
	if need := m.pgid * uint64(m.pageSize); uint64(fi.Size()) < need {
		return fmt.Errorf("%w: %s: truncated: %d bytes, its meta page needs %d", ErrCorrupt, path, fi.Size(), need)
	}
	return nil
}

// boltMeta is what checkFile needs from a bbolt meta page.
type boltMeta struct {
	pageSize uint32
	pgid     uint64 // high-water mark: pages [0, pgid) are in use
	txid     uint64
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
	m := boltMeta{pageSize: e.Uint32(b[8:]), pgid: e.Uint64(b[40:]), txid: e.Uint64(b[48:])}
	if m.pageSize < 1024 {
		return boltMeta{}, false
	}
	return m, true
}
