package mvcc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
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
	// Opening a named pipe blocks until a writer comes; a directory or a
	// device is no database either. Say so before anything opens it.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		what := "not a regular file"
		switch {
		case fi.IsDir():
			what = "a directory"
		case fi.Mode()&fs.ModeNamedPipe != 0:
			what = "a named pipe"
		case fi.Mode()&fs.ModeDevice != 0:
			what = "a device"
		case fi.Mode()&fs.ModeSocket != 0:
			what = "a socket"
		}
		return false, fmt.Errorf("%w: %s is %s, not a database file", ErrCorrupt, path, what)
	}
	f, err := os.Open(path)
	if err != nil {
		return false, nil // missing (created by bbolt), or an error bbolt reports
	}
	defer f.Close() //nolint:errcheck // opened for reading
	m, ok := readMeta(f)
	fi, err := f.Stat()
	if err != nil {
		return false, nil
	}
	switch {
	case ok:
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
	if m.freelist == noFreelist {
		return true, nil
	}
	if _, err := checkFreelist(f, m); err != nil {
		// A holder committing meanwhile rewrites the freelist: a live
		// file is left to bbolt's lock wait, not called damaged.
		if again, ok := readBoltMeta(f, int64(m.pageSize)*int64(m.txid%2)); !ok || again != m {
			return false, nil
		}
		return false, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	return false, nil
}

// checkFreelist checks the freelist page the meta page names before bbolt
// reads it in Open: bbolt trusts its count (a damaged one makes it read
// past the mapping, a fault in the middle of bbolt.Open that leaves the
// file locked and mapped) and its page ids (a damaged one is a page bbolt
// would hand out again, overwriting live data, or one past the end of the
// file). The page is a 16-byte header (id, flags, count, overflow), then
// the free page ids, sorted; a count of 0xFFFF means the count is the
// first id's slot. What it cannot see is an id that is still in use but
// in order: only a walk of the whole tree finds that.
func checkFreelist(f *os.File, m boltMeta) (free map[uint64]bool, err error) {
	const (
		hdr          = 16
		freelistFlag = 0x10
	)
	if m.freelist < 2 || m.freelist >= m.pgid {
		return nil, fmt.Errorf("freelist page %d outside the pages in use (2..%d)", m.freelist, m.pgid-1)
	}
	var h [hdr]byte
	if _, err := f.ReadAt(h[:], int64(m.freelist)*int64(m.pageSize)); err != nil {
		return nil, fmt.Errorf("read freelist page %d: %v", m.freelist, err)
	}
	e := binary.NativeEndian
	id, flags, count, overflow := e.Uint64(h[0:]), e.Uint16(h[8:]), uint64(e.Uint16(h[10:])), uint64(e.Uint32(h[12:]))
	if id != m.freelist || flags != freelistFlag {
		return nil, fmt.Errorf("freelist page %d: header says page %d, flags %#x", m.freelist, id, flags)
	}
	if m.freelist+overflow >= m.pgid {
		return nil, fmt.Errorf("freelist page %d: %d overflow pages run past the pages in use", m.freelist, overflow)
	}
	size := (overflow + 1) * uint64(m.pageSize)
	buf := make([]byte, size-hdr)
	if _, err := f.ReadAt(buf, int64(m.freelist)*int64(m.pageSize)+hdr); err != nil {
		return nil, fmt.Errorf("read freelist page %d: %v", m.freelist, err)
	}
	if count == 0xFFFF {
		count = e.Uint64(buf)
		buf = buf[8:]
	}
	if count > uint64(len(buf))/8 {
		return nil, fmt.Errorf("freelist page %d: %d ids do not fit in %d bytes", m.freelist, count, size)
	}
	free = make(map[uint64]bool, count)
	prev := uint64(1)
	for i := range count {
		pg := e.Uint64(buf[i*8:])
		if pg <= prev || pg >= m.pgid || pg == m.freelist {
			return nil, fmt.Errorf("freelist page %d: free page id %d (after %d) out of order or outside the pages in use", m.freelist, pg, prev)
		}
		prev = pg
		free[pg] = true
	}
	return free, nil
}

// readMeta returns the meta page bbolt will pick: the valid one with the
// higher transaction id.
func readMeta(f *os.File) (boltMeta, bool) {
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
	switch {
	case ok0 && ok1 && m1.txid > m0.txid, !ok0 && ok1:
		return m1, true
	case ok0:
		return m0, true
	}
	return boltMeta{}, false
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
			return lockedError(path, lockTimeout)
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
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			bdb, err = nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, r)
		}
	}()
	return bolt.Open(path, 0o600, opts)
}

// treeCheckBudget bounds the pages checkTree reads: Open stays O(1).
const treeCheckBudget = 1024

// checkTree checks the top of the data bucket's B+tree, whose root page
// is root, before any read goes through it: breadth first from the root,
// every branch page's children, for at most treeCheckBudget pages. A
// damaged child pointer usually names a page whose header names another
// id (bbolt's own check panics on it, which db.guard turns into
// ErrCorrupt), but it may name another sound page: one still in use (two
// parents, or the parent itself: a cycle a cursor would follow forever),
// or a freed one holding an old copy of the data (sound records, stale
// values). Each child must be a branch or leaf page that is not free, met
// once, whose first key lies between its separator and the next one.
// Called with the file locked (by the bbolt handle), so it is at rest.
//
// It reads the file directly, parsing bbolt's branch page layout (a
// 16-byte header: id, flags, count, overflow; then 16-byte elements: key
// offset from the element, key size, child page id; leaf elements: flags,
// key offset, key size, value size), in the machine's byte order. Trees
// deeper than the budget reaches are checked at the top only.
func checkTree(path string, root uint64) error {
	if root == 0 {
		return nil // an inline bucket: no pages of its own
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close() //nolint:errcheck // opened for reading
	m, ok := readMeta(f)
	if !ok || m.freelist == noFreelist {
		return nil
	}
	free, err := checkFreelist(f, m)
	if err != nil {
		return err
	}
	seen := map[uint64]bool{root: true}
	queue := []uint64{root}
	for reads := 0; len(queue) > 0 && reads < treeCheckBudget; {
		id := queue[0]
		queue = queue[1:]
		pg, err := readPage(f, id, m)
		reads++
		if err != nil {
			return err
		}
		if pg.flags != branchFlag {
			continue
		}
		var prev []byte
		for i := range pg.count {
			sep, child, err := pg.branchElem(i)
			if err != nil {
				return err
			}
			if prev != nil && bytes.Compare(sep, prev) <= 0 {
				return fmt.Errorf("branch page %d: separators out of order", id)
			}
			var next []byte
			if i+1 < pg.count {
				if next, _, err = pg.branchElem(i + 1); err != nil {
					return err
				}
			}
			prev = sep
			if child < 2 || child >= m.pgid || free[child] || seen[child] {
				return fmt.Errorf("branch page %d: child %d is outside the pages in use, free or met twice", id, child)
			}
			seen[child] = true
			if reads >= treeCheckBudget {
				continue
			}
			cp, err := readPage(f, child, m)
			reads++
			if err != nil {
				return err
			}
			first, err := cp.firstKey()
			if err != nil {
				return err
			}
			if bytes.Compare(first, sep) < 0 || next != nil && bytes.Compare(first, next) >= 0 {
				return fmt.Errorf("branch page %d: child %d holds keys outside its separators", id, child)
			}
			if cp.flags == branchFlag {
				queue = append(queue, child)
			}
		}
	}
	return nil
}

const (
	branchFlag = 0x01
	leafFlag   = 0x02
)

// rawPage is a page read from the file, with its overflow pages.
type rawPage struct {
	b     []byte
	flags uint16
	count int
}

func readPage(f *os.File, id uint64, m boltMeta) (rawPage, error) {
	ps := int64(m.pageSize)
	var h [16]byte
	if _, err := f.ReadAt(h[:], int64(id)*ps); err != nil {
		return rawPage{}, fmt.Errorf("read page %d: %v", id, err)
	}
	e := binary.NativeEndian
	pid, flags, count, overflow := e.Uint64(h[0:]), e.Uint16(h[8:]), int(e.Uint16(h[10:])), uint64(e.Uint32(h[12:]))
	if pid != id || flags != branchFlag && flags != leafFlag {
		return rawPage{}, fmt.Errorf("page %d: header says page %d, flags %#x", id, pid, flags)
	}
	if id+overflow >= m.pgid || count == 0 || 16+16*count > int((overflow+1)*uint64(ps)) {
		return rawPage{}, fmt.Errorf("page %d: %d elements, %d overflow pages", id, count, overflow)
	}
	b := make([]byte, (overflow+1)*uint64(ps))
	if _, err := f.ReadAt(b, int64(id)*ps); err != nil {
		return rawPage{}, fmt.Errorf("read page %d: %v", id, err)
	}
	p := rawPage{b: b, flags: flags, count: count}
	// bbolt writes the keys and values right after the element headers,
	// in order: element 0's key says how many headers precede it. A count
	// made smaller would hide the page's last elements.
	first, err := p.firstKey()
	if err != nil {
		return rawPage{}, err
	}
	if at := addr(first) - addr(b); at != uintptr(16+16*count) {
		return rawPage{}, fmt.Errorf("page %d: says it holds %d elements, its first key is at offset %d", id, count, at)
	}
	return p, nil
}

// key returns the key of element i, whose offset and size are at off and
// off+4 in its element header.
func (p rawPage) key(i, off int) ([]byte, error) {
	e := binary.NativeEndian
	elem := 16 + 16*i
	pos, size := int(e.Uint32(p.b[elem+off:])), int(e.Uint32(p.b[elem+off+4:]))
	if start := elem + pos; pos >= 0 && size >= 0 && start+size <= len(p.b) && start >= elem {
		return p.b[start : start+size], nil
	}
	return nil, fmt.Errorf("page %d: element %d's key lies outside the page", e.Uint64(p.b), i)
}

func (p rawPage) branchElem(i int) (key []byte, child uint64, err error) {
	key, err = p.key(i, 0)
	return key, binary.NativeEndian.Uint64(p.b[16+16*i+8:]), err
}

func (p rawPage) firstKey() ([]byte, error) {
	if p.flags == leafFlag {
		return p.key(0, 4)
	}
	return p.key(0, 0)
}
