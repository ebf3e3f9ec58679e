package boltfile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"unsafe"
)

// Page is a page read from the file (not the mapping: reading it can
// fail, never fault), with its overflow pages.
type Page struct {
	ID       uint64
	B        []byte
	Flags    uint16
	Count    int
	Overflow uint64
}

// ReadPage reads the branch or leaf page id of the file m describes and
// checks its header: its own id, its type, an element array that fits,
// and an element count that matches where its first key starts (bbolt
// writes keys and values right after the element array, so a count made
// smaller, which would hide the page's last elements, shows).
func ReadPage(f *os.File, id uint64, m Meta) (Page, error) {
	ps := int64(m.PageSize)
	var h [PageHeaderSize]byte
	if _, err := f.ReadAt(h[:], int64(id)*ps); err != nil {
		return Page{}, fmt.Errorf("read page %d: %v", id, err)
	}
	e := binary.NativeEndian
	pid, flags, count, overflow := e.Uint64(h[0:]), e.Uint16(h[8:]), int(e.Uint16(h[10:])), uint64(e.Uint32(h[12:]))
	if pid != id || flags != BranchFlag && flags != LeafFlag {
		return Page{}, fmt.Errorf("page %d: header says page %d, flags %#x", id, pid, flags)
	}
	if id+overflow >= m.Pgid || count == 0 || PageHeaderSize+ElementSize*count > int((overflow+1)*uint64(ps)) {
		return Page{}, fmt.Errorf("page %d: %d elements, %d overflow pages", id, count, overflow)
	}
	b := make([]byte, (overflow+1)*uint64(ps))
	if _, err := f.ReadAt(b, int64(id)*ps); err != nil {
		return Page{}, fmt.Errorf("read page %d: %v", id, err)
	}
	p := Page{ID: id, B: b, Flags: flags, Count: count, Overflow: overflow}
	first, err := p.Key(0)
	if err != nil {
		return Page{}, err
	}
	if at := Addr(first) - Addr(b); at != uintptr(PageHeaderSize+ElementSize*count) {
		return Page{}, fmt.Errorf("page %d: says it holds %d elements, its first key is at offset %d", id, count, at)
	}
	return p, nil
}

// Key returns the key of element i.
func (p Page) Key(i int) ([]byte, error) {
	off := 0 // a branch element: key offset, key size, child
	if p.Flags == LeafFlag {
		off = 4 // a leaf element: flags, key offset, key size, value size
	}
	e := binary.NativeEndian
	elem := PageHeaderSize + ElementSize*i
	pos, size := int(e.Uint32(p.B[elem+off:])), int(e.Uint32(p.B[elem+off+4:]))
	if start := elem + pos; pos >= 0 && size >= 0 && start+size <= len(p.B) && start >= elem {
		return p.B[start : start+size], nil
	}
	return nil, fmt.Errorf("page %d: element %d's key lies outside the page", p.ID, i)
}

// Child returns the child page id of branch element i.
func (p Page) Child(i int) uint64 {
	return binary.NativeEndian.Uint64(p.B[PageHeaderSize+ElementSize*i+8:])
}

// Value returns the value of leaf element i and whether it is a nested
// bucket.
func (p Page) Value(i int) (value []byte, bucket bool, err error) {
	e := binary.NativeEndian
	elem := PageHeaderSize + ElementSize*i
	flags, pos, ksize, vsize := e.Uint32(p.B[elem:]), int(e.Uint32(p.B[elem+4:])), int(e.Uint32(p.B[elem+8:])), int(e.Uint32(p.B[elem+12:]))
	if start := elem + pos + ksize; pos >= 0 && ksize >= 0 && vsize >= 0 && start+vsize <= len(p.B) && start >= elem {
		return p.B[start : start+vsize], flags&BucketLeafFlag != 0, nil
	}
	return nil, false, fmt.Errorf("page %d: element %d's value lies outside the page", p.ID, i)
}

// Addr is the address of b's first byte.
func Addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// Walker checks the pages of bucket trees, reading the file directly.
// Each page it visits must be a branch or leaf page in use (below the
// high-water mark, not free), met once (no page has two parents, no
// cycle), whose keys are in order and, below a branch page, lie between
// the parent's separator and the next one; and the tree must be balanced,
// as bbolt keeps it (every leaf page at one depth, every branch page
// above it). A damaged child pointer
// usually names a page whose header names another id, which bbolt's own
// check would catch; these checks catch one that names another sound
// page: a page in use elsewhere or a freed page holding an old copy of
// the data (sound records, stale values). The depth catches a pointer
// that names a page of its own tree whose parent is no longer reached
// (a branch's child pointing to a leaf of the subtree it used to name):
// the tree it leaves is sound in every other respect, only shorter.
type Walker struct {
	f    *os.File
	m    Meta
	free map[uint64]bool
	seen map[uint64]bool // pages visited, overflow pages included
	// Budget bounds the pages read; negative: no bound. Reads counts them.
	Budget, Reads int
	// Nested makes the walk descend into nested buckets (bbolt's bucket
	// elements) found in leaf pages.
	Nested bool
	// Stop, when set, is asked between pages; an error from it ends the
	// walk (a context's end).
	Stop func() error
}

// NewWalker returns a walker of the file f whose meta page is m and whose
// free pages are free (from CheckFreelist).
func NewWalker(f *os.File, m Meta, free map[uint64]bool) *Walker {
	return &Walker{f: f, m: m, free: free, seen: make(map[uint64]bool, 4096), Budget: -1}
}

// Bucket walks the tree whose root page is root, breadth first, until the
// budget runs out: trees larger than the budget are checked at the top.
// root 0 is an inline bucket, with no pages of its own.
func (w *Walker) Bucket(root uint64) error {
	if root == 0 {
		return nil
	}
	if err := w.enter(root); err != nil {
		return err
	}
	queue := []item{{id: root}}
	// The depth of the leaf pages met, and the deepest branch page met
	// (-1: none yet). Breadth first, depths come in order.
	leafDepth, branchDepth := -1, -1
	for len(queue) > 0 && w.more() {
		if w.Stop != nil {
			if err := w.Stop(); err != nil {
				return err
			}
		}
		// The queued pages are read together (a file out of the page
		// cache serves several reads at once about as fast as one),
		// then checked in order.
		n := min(len(queue), readBatch)
		if w.Budget >= 0 {
			n = min(n, w.Budget-w.Reads)
		}
		batch := queue[:n]
		queue = queue[n:]
		pages := make([]Page, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range batch {
			wg.Go(func() { pages[i], errs[i] = ReadPage(w.f, batch[i].id, w.m) })
		}
		wg.Wait()
		w.Reads += n
		for i, it := range batch {
			if errs[i] != nil {
				return errs[i]
			}
			room := -1 // children worth queueing: those the budget may read
			if w.Budget >= 0 {
				room = max(w.Budget-w.Reads-len(queue), 0)
			}
			if pages[i].Flags == LeafFlag {
				if leafDepth < 0 {
					leafDepth = it.depth
				}
				if it.depth != leafDepth || branchDepth >= it.depth {
					return fmt.Errorf("page %d: a leaf page at depth %d of a tree whose leaves are at depth %d and branches down to depth %d: the tree is not balanced", it.id, it.depth, leafDepth, branchDepth)
				}
			} else {
				if leafDepth >= 0 && it.depth >= leafDepth {
					return fmt.Errorf("page %d: a branch page at depth %d of a tree whose leaves are at depth %d: the tree is not balanced", it.id, it.depth, leafDepth)
				}
				branchDepth = max(branchDepth, it.depth)
			}
			next, err := w.page(pages[i], it.min, it.max, room)
			if err != nil {
				return err
			}
			for j := range next {
				next[j].depth = it.depth + 1
			}
			queue = append(queue, next...)
		}
	}
	return nil
}

// readBatch is how many pages a walk reads at once.
const readBatch = 32

// item is a page to visit and the keys its keys must lie within: [min,
// max), nil for an open end.
type item struct {
	id       uint64
	min, max []byte
	depth    int // 0 at the root
}

// page checks pg, whose keys must lie within [min, max), and returns its
// children to visit, at most room of them (negative: all). Every child
// pointer is checked (enter) whether or not it is returned.
func (w *Walker) page(pg Page, min, max []byte, room int) ([]item, error) {
	var children []item
	var prev []byte
	for i := range pg.Count {
		k, err := pg.Key(i)
		if err != nil {
			return nil, err
		}
		if prev != nil && bytes.Compare(k, prev) <= 0 || min != nil && bytes.Compare(k, min) < 0 || max != nil && bytes.Compare(k, max) >= 0 {
			return nil, fmt.Errorf("page %d: key %d out of order or outside its parent's separators", pg.ID, i)
		}
		prev = k
		if pg.Flags == LeafFlag {
			if binary.NativeEndian.Uint32(pg.B[PageHeaderSize+ElementSize*i:])&BucketLeafFlag == 0 {
				continue
			}
			v, _, err := pg.Value(i)
			if err != nil {
				return nil, err
			}
			if len(v) < 16 {
				return nil, fmt.Errorf("page %d: element %d: a bucket header of %d bytes", pg.ID, i, len(v))
			}
			root := binary.NativeEndian.Uint64(v)
			if root == 0 {
				// An inline bucket: its page is part of this value, and
				// bbolt may read it from a copy on the heap (where a
				// damaged element's reach faults outside the mapping):
				// checked whether or not the walk is nested.
				if err := checkInline(v[16:]); err != nil {
					return nil, fmt.Errorf("page %d: element %d's inline bucket: %w", pg.ID, i, err)
				}
				continue
			}
			if w.Nested {
				if err := w.Bucket(root); err != nil {
					return nil, err
				}
			}
			continue
		}
		child := pg.Child(i)
		if err := w.enter(child); err != nil {
			return nil, fmt.Errorf("branch page %d: %w", pg.ID, err)
		}
		if room >= 0 && len(children) >= room {
			continue
		}
		next := max
		if i+1 < pg.Count {
			if next, err = pg.Key(i + 1); err != nil {
				return nil, err
			}
		}
		// The first separator of a branch page is its child's first
		// key; the bound below applies from the second on.
		lo := k
		if i == 0 {
			lo = min
		}
		children = append(children, item{id: child, min: lo, max: next})
	}
	// Overflow pages belong to the page.
	for i := uint64(1); i <= pg.Overflow; i++ {
		if err := w.enter(pg.ID + i); err != nil {
			return nil, fmt.Errorf("page %d's overflow: %w", pg.ID, err)
		}
	}
	return children, nil
}

// checkInline checks an inline bucket's page b: a leaf page whose
// elements' keys and values lie within it, keys in order, no bucket
// nested (bbolt inlines only buckets without any).
func checkInline(b []byte) error {
	if len(b) < PageHeaderSize {
		return fmt.Errorf("a page of %d bytes", len(b))
	}
	e := binary.NativeEndian
	p := Page{B: b, Flags: e.Uint16(b[8:]), Count: int(e.Uint16(b[10:]))}
	if p.Flags != LeafFlag || PageHeaderSize+ElementSize*p.Count > len(b) {
		return fmt.Errorf("flags %#x, %d elements in %d bytes", p.Flags, p.Count, len(b))
	}
	var prev []byte
	for i := range p.Count {
		k, err := p.Key(i)
		if err != nil {
			return err
		}
		if prev != nil && bytes.Compare(k, prev) <= 0 {
			return fmt.Errorf("key %d out of order", i)
		}
		prev = k
		if _, bucket, err := p.Value(i); err != nil || bucket {
			return fmt.Errorf("element %d: a value outside the page or a nested bucket (%v)", i, err)
		}
	}
	return nil
}

func (w *Walker) more() bool { return w.Budget < 0 || w.Reads < w.Budget }

// enter notes page id as reached, refusing one outside the pages in use,
// free, or met before.
func (w *Walker) enter(id uint64) error {
	if id < 2 || id >= w.m.Pgid || w.free[id] || w.seen[id] || id == w.m.Freelist {
		return fmt.Errorf("page %d is outside the pages in use, free or met twice", id)
	}
	w.seen[id] = true
	return nil
}

// Unaccounted checks, after a walk of every bucket without a budget, that
// every page below the high-water mark is a meta page, the freelist, free
// or reached: a page that is none of these was lost by damage (a page
// id in the freelist that is still in use would have been caught by
// enter).
func (w *Walker) Unaccounted() error {
	fl := uint64(0)
	if w.m.Freelist != NoFreelist {
		var h [PageHeaderSize]byte
		if _, err := w.f.ReadAt(h[:], int64(w.m.Freelist)*int64(w.m.PageSize)); err != nil {
			return fmt.Errorf("read freelist page %d: %v", w.m.Freelist, err)
		}
		fl = uint64(binary.NativeEndian.Uint32(h[12:])) + 1
	}
	n := 0
	first := uint64(0)
	for id := uint64(2); id < w.m.Pgid; id++ {
		if w.seen[id] || w.free[id] || id >= w.m.Freelist && id < w.m.Freelist+fl {
			continue
		}
		if n == 0 {
			first = id
		}
		n++
	}
	if n > 0 {
		return fmt.Errorf("%d pages neither reachable nor free (the first: %d)", n, first)
	}
	return nil
}
