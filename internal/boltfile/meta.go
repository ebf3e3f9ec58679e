package boltfile

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// NoFreelist is the freelist page id of a file written without one
// (bbolt's NoFreelistSync).
const NoFreelist = ^uint64(0)

// Meta is what mvkv needs from a bbolt meta page.
type Meta struct {
	PageSize uint32
	Pgid     uint64 // high-water mark: pages [0, Pgid) are in use
	TxID     uint64
	Freelist uint64
	Root     uint64 // the root bucket's root page
}

// ReadMeta returns the meta page bbolt will pick: the valid one with the
// higher transaction id, as bbolt.Open does. ok is false when neither is
// valid (bbolt then refuses the file by itself).
func ReadMeta(f io.ReaderAt) (m Meta, ok bool) {
	m0, ok0 := ReadMetaAt(f, 0)
	var m1 Meta
	ok1 := false
	if ok0 {
		m1, ok1 = ReadMetaAt(f, int64(m0.PageSize))
	} else {
		// As bbolt does: without page 0, look for page 1 at every page
		// size it may have been written with.
		for i := 0; i <= 14 && !ok1; i++ {
			m1, ok1 = ReadMetaAt(f, 1024<<i)
		}
	}
	switch {
	case ok0 && ok1 && m1.TxID > m0.TxID, !ok0 && ok1:
		return m1, true
	case ok0:
		return m0, true
	}
	return Meta{}, false
}

// ReadMetaAt reads and validates the meta page at off: magic, version and
// checksum, as bbolt's Meta.Validate does.
func ReadMetaAt(f io.ReaderAt, off int64) (Meta, bool) {
	const (
		size     = 64
		magic    = 0xED0CDAED
		version  = 2
		checksum = 56
	)
	var buf [PageHeaderSize + size]byte
	if _, err := f.ReadAt(buf[:], off); err != nil && err != io.EOF {
		return Meta{}, false
	}
	b := buf[PageHeaderSize:]
	e := binary.NativeEndian
	if e.Uint32(b[0:]) != magic || e.Uint32(b[4:]) != version {
		return Meta{}, false
	}
	h := fnv.New64a()
	_, _ = h.Write(b[:checksum])
	if h.Sum64() != e.Uint64(b[checksum:]) {
		return Meta{}, false
	}
	m := Meta{
		PageSize: e.Uint32(b[8:]),
		Root:     e.Uint64(b[16:]),
		Freelist: e.Uint64(b[32:]),
		Pgid:     e.Uint64(b[40:]),
		TxID:     e.Uint64(b[48:]),
	}
	if m.PageSize < 1024 {
		return Meta{}, false
	}
	return m, true
}

// CheckFreelist checks the freelist page m names before bbolt reads it:
// bbolt trusts its count (a damaged one makes it read past the mapping, a
// fault in the middle of bbolt.Open that leaves the file locked and
// mapped) and its page ids (a damaged one is a page bbolt would hand out
// again, overwriting live data, or one past the end of the file). It
// returns the free pages. What it cannot see is an id that is still in
// use but in order: only a walk of every tree finds that.
func CheckFreelist(f *os.File, m Meta) (free map[uint64]bool, err error) {
	if m.Freelist < 2 || m.Freelist >= m.Pgid {
		return nil, fmt.Errorf("freelist page %d outside the pages in use (2..%d)", m.Freelist, m.Pgid-1)
	}
	var h [PageHeaderSize]byte
	if _, err := f.ReadAt(h[:], int64(m.Freelist)*int64(m.PageSize)); err != nil {
		return nil, fmt.Errorf("read freelist page %d: %v", m.Freelist, err)
	}
	e := binary.NativeEndian
	id, flags, count, overflow := e.Uint64(h[0:]), e.Uint16(h[8:]), uint64(e.Uint16(h[10:])), uint64(e.Uint32(h[12:]))
	if id != m.Freelist || flags != FreelistFlag {
		return nil, fmt.Errorf("freelist page %d: header says page %d, flags %#x", m.Freelist, id, flags)
	}
	if m.Freelist+overflow >= m.Pgid {
		return nil, fmt.Errorf("freelist page %d: %d overflow pages run past the pages in use", m.Freelist, overflow)
	}
	size := (overflow + 1) * uint64(m.PageSize)
	buf := make([]byte, size-PageHeaderSize)
	if _, err := f.ReadAt(buf, int64(m.Freelist)*int64(m.PageSize)+PageHeaderSize); err != nil {
		return nil, fmt.Errorf("read freelist page %d: %v", m.Freelist, err)
	}
	if count == 0xFFFF {
		count = e.Uint64(buf)
		buf = buf[8:]
	}
	if count > uint64(len(buf))/8 {
		return nil, fmt.Errorf("freelist page %d: %d ids do not fit in %d bytes", m.Freelist, count, size)
	}
	free = make(map[uint64]bool, count)
	prev := uint64(1)
	for i := range count {
		pg := e.Uint64(buf[i*8:])
		if pg <= prev || pg >= m.Pgid || pg == m.Freelist {
			return nil, fmt.Errorf("freelist page %d: free page id %d (after %d) out of order or outside the pages in use", m.Freelist, pg, prev)
		}
		prev = pg
		free[pg] = true
	}
	return free, nil
}
