package boltfile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"unsafe"
)

// Gap checks a point read's miss: a cursor's Seek(key) found no record
// key, and the records either side of where it would be, before and after
// (nil: none), do not lie side by side in one page. Two kinds of damage
// then hide key from the cursor with every record it yields sound and in
// order, and the leaf check of the page before cannot see them (that page
// is whole):
//
//   - a leaf page whose element count reads 0: bbolt's cursor steps over
//     an empty page, to the pages either side (or to nothing: Prev into
//     an empty page answers nil);
//   - a page's first element whose key position moved into another page
//     onto a sound record there (pages of records of one size line up): a
//     search of the page stops at it, and the record before is the last
//     of the page before.
//
// So Gap replays bbolt's search for key from the bucket's root on the
// mapping (the pages the cursor's Seek just read, by the same rule) to
// the leaf page key belongs to, and requires that page to be where the
// cursor found one of the two: after as its first record (its key where
// the page's element count says the first key lies), or before (whose
// page the caller checked whole with Start and PageDone, so it is the
// page's last). A miss within one page needs none of this: its two
// records are adjacent.
//
// It costs a page's binary search per level of the tree, and only reads
// whose key falls between two pages (or past either end) pay it.
// TestPointReadSeesHiddenPage, TestVersionReadSeesHiddenPage and
// TestScanSeesHiddenPage (package mvcc) damage each leaf page of a tree
// these ways and read every record around it.
func (lc *LeafCheck) Gap(key, before, after []byte) error {
	if lc.pageSize == 0 {
		return nil
	}
	in := after
	if in == nil {
		in = before
	}
	if in == nil {
		return nil // the bucket yields nothing: Open's walk checked its root
	}
	m, err := lc.mapping(in)
	if err != nil {
		return err
	}
	leaf, err := lc.leafFor(m, key)
	if err != nil {
		return err
	}
	lo := lc.base + uintptr(leaf.ID)*lc.pageSize
	hi := lo + uintptr(len(leaf.B))
	on := func(b []byte) bool { return b != nil && Addr(b) >= lo && Addr(b) < hi }
	switch {
	case on(after):
		if first := lo + PageHeaderSize + ElementSize*uintptr(leaf.Count); Addr(after) != first {
			return fmt.Errorf("leaf page %d, where the key sought belongs, holds %d elements and yielded the record after it at offset %d, not first", leaf.ID, leaf.Count, Addr(after)-lo)
		}
	case on(before):
	default:
		return fmt.Errorf("leaf page %d (%d elements), where the key sought belongs, yielded neither record either side of it", leaf.ID, leaf.Count)
	}
	return nil
}

// mapping returns bbolt's mapping up to the transaction's high-water mark,
// found from p, a slice within it (nil: from the anchor, the last record
// noted).
func (lc *LeafCheck) mapping(p []byte) ([]byte, error) {
	at := lc.anchor
	if p != nil {
		at = unsafe.SliceData(p)
	}
	size := uintptr(lc.pages) * lc.pageSize
	a := uintptr(unsafe.Pointer(at))
	if at == nil || a < lc.base || a >= lc.base+size {
		return nil, fmt.Errorf("a record at %#x lies outside the pages in use", a)
	}
	start := unsafe.Add(unsafe.Pointer(at), -int(a-lc.base))
	return unsafe.Slice((*byte)(start), size), nil
}

// maxDepth bounds a search's descent: a tree of 4 KiB pages this deep
// would hold more records than a file can (a cycle of pages would
// otherwise loop).
const maxDepth = 64

// leafFor returns the leaf page (on the mapping m) that bbolt's search
// for key descends to from the bucket's root: in each branch page, the
// last element whose key is at or below key (the first when none is).
func (lc *LeafCheck) leafFor(m []byte, key []byte) (Page, error) {
	id := lc.root
	for range maxDepth {
		pg, err := mappedPage(m, id, lc.pageSize)
		if err != nil {
			return Page{}, err
		}
		if pg.Flags == LeafFlag {
			return pg, nil
		}
		i, err := searchBranch(pg, key)
		if err != nil {
			return Page{}, err
		}
		id = pg.Child(i)
	}
	return Page{}, fmt.Errorf("no leaf page within %d levels of root page %d", maxDepth, lc.root)
}

// mappedPage returns page id of the mapping m, with its overflow pages,
// after the checks ReadPage makes of a page's header (but the count: a
// leaf's is what Gap checks).
func mappedPage(m []byte, id uint64, pageSize uintptr) (Page, error) {
	off := uintptr(id) * pageSize
	if id < 2 || off+PageHeaderSize > uintptr(len(m)) || off/pageSize != uintptr(id) {
		return Page{}, fmt.Errorf("page %d lies outside the pages in use", id)
	}
	e := binary.NativeEndian
	h := m[off:]
	pid, flags, count, overflow := e.Uint64(h), e.Uint16(h[8:]), int(e.Uint16(h[10:])), uintptr(e.Uint32(h[12:]))
	end := off + (overflow+1)*pageSize
	if pid != id || flags != BranchFlag && flags != LeafFlag || end > uintptr(len(m)) || end < off ||
		PageHeaderSize+ElementSize*uintptr(count) > end-off {
		return Page{}, fmt.Errorf("page %d: header says page %d, flags %#x, %d elements, %d overflow pages", id, pid, flags, count, overflow)
	}
	return Page{ID: id, B: m[off:end:end], Flags: flags, Count: count, Overflow: uint64(overflow)}, nil
}

// The leaf a walk is on, as the branch pages order the leaves: its page,
// its parent branch page and its index there (parent 0: not known).
type shadow struct {
	leaf, parent uint64
	idx          int
}

// follows checks a walk's step from leaf page a to the record b (its
// new page's first; descending, its last; nil: the cursor ran out): b
// must lie in the leaf page the tree puts next to a (descending: before
// it), or, at nil, there must be none. bbolt's cursor steps over a page
// whose count reads 0 (its records vanish from the walk, which sees two
// whole pages), and a count grown past the page sends a descending walk
// into whatever another page holds (sound records of another bucket
// among them); neither shows in the pages the walk sees.
//
// It follows the walk along the lowest branch page (shadow), so a step
// costs a page header's read; it descends from the root at the walk's
// first step and where the walk moves under another branch page.
func (lc *LeafCheck) follows(b []byte, a uint64, desc bool) error {
	m, err := lc.mapping(nil)
	if err != nil {
		return err
	}
	next, err := lc.sibling(m, a, desc)
	if err != nil {
		return err
	}
	side := "after"
	if desc {
		side = "before"
	}
	switch {
	case b == nil && next != 0:
		return fmt.Errorf("a walk ended at leaf page %d, and the tree has leaf page %d %s it", a, next, side)
	case b == nil:
		return nil
	case next == 0:
		return fmt.Errorf("a walk went on from leaf page %d, and the tree has no leaf page %s it", a, side)
	}
	pg, err := mappedPage(m, next, lc.pageSize)
	if err != nil {
		return err
	}
	lo := lc.base + uintptr(next)*lc.pageSize
	if pg.Flags != LeafFlag || Addr(b) < lo || Addr(b) >= lo+uintptr(len(pg.B)) {
		return fmt.Errorf("a walk went from leaf page %d to a record at page %d, and the tree has leaf page %d %s it",
			a, (Addr(b)-lc.base)/lc.pageSize, next, side)
	}
	return nil
}

// sibling returns the leaf page after a in the tree (desc: before it), 0
// when there is none, and notes it as the walk's shadow.
func (lc *LeafCheck) sibling(m []byte, a uint64, desc bool) (uint64, error) {
	step := 1
	if desc {
		step = -1
	}
	if sh := lc.sh; sh.leaf == a && sh.parent != 0 {
		p, err := mappedPage(m, sh.parent, lc.pageSize)
		if err != nil {
			return 0, err
		}
		if i := sh.idx + step; p.Flags == BranchFlag && i >= 0 && i < p.Count {
			lc.sh = shadow{leaf: p.Child(i), parent: sh.parent, idx: i}
			return lc.sh.leaf, nil
		}
	}
	// From the root: the path to a (by its first key), then up to the
	// first branch page with a child beside the path's, then down its
	// edge.
	pa, err := mappedPage(m, a, lc.pageSize)
	if err != nil {
		return 0, err
	}
	if pa.Flags != LeafFlag || pa.Count == 0 {
		return 0, fmt.Errorf("a walk left page %d, not a leaf page with elements (flags %#x, %d elements)", a, pa.Flags, pa.Count)
	}
	first, err := pa.Key(0)
	if err != nil {
		return 0, err
	}
	type level struct {
		pg  Page
		idx int
	}
	var path []level
	id := lc.root
	for range maxDepth {
		pg, err := mappedPage(m, id, lc.pageSize)
		if err != nil {
			return 0, err
		}
		if pg.Flags == LeafFlag {
			break
		}
		i, err := searchBranch(pg, first)
		if err != nil {
			return 0, err
		}
		path = append(path, level{pg, i})
		id = pg.Child(i)
	}
	if id != a {
		return 0, fmt.Errorf("leaf page %d is not where its first key leads (page %d)", a, id)
	}
	for lvl := len(path) - 1; lvl >= 0; lvl-- {
		i := path[lvl].idx + step
		if i < 0 || i >= path[lvl].pg.Count {
			continue
		}
		parent := path[lvl].pg
		for range maxDepth {
			id := parent.Child(i)
			pg, err := mappedPage(m, id, lc.pageSize)
			if err != nil {
				return 0, err
			}
			if pg.Flags == LeafFlag {
				lc.sh = shadow{leaf: id, parent: parent.ID, idx: i}
				return id, nil
			}
			if pg.Count == 0 {
				return 0, fmt.Errorf("branch page %d has no elements", id)
			}
			parent, i = pg, 0
			if desc {
				i = pg.Count - 1
			}
		}
		return 0, fmt.Errorf("no leaf page within %d levels of root page %d", maxDepth, lc.root)
	}
	lc.sh = shadow{}
	return 0, nil
}

// searchBranch returns the index of the child of branch page pg that
// bbolt's search for key descends to: the last element whose key is at
// or below key (the first when none is).
func searchBranch(pg Page, key []byte) (int, error) {
	if pg.Count == 0 {
		return 0, fmt.Errorf("branch page %d has no elements", pg.ID)
	}
	var kerr error
	exact := false
	i := sort.Search(pg.Count, func(i int) bool {
		k, err := pg.Key(i)
		if err != nil {
			kerr = err
			return true
		}
		c := bytes.Compare(k, key)
		exact = exact || c == 0
		return c >= 0
	})
	if kerr != nil {
		return 0, kerr
	}
	if !exact && i > 0 {
		i--
	}
	return i, nil
}

// Edge checks the record k a walk starts from at the tree's first record
// (desc: its last; a cursor's First or Last): it must lie in the tree's
// first leaf page (desc: its last), which bbolt's cursor steps over when
// its count reads 0.
func (lc *LeafCheck) Edge(k []byte, desc bool) error {
	if lc.pageSize == 0 || k == nil {
		return nil
	}
	m, err := lc.mapping(k)
	if err != nil {
		return err
	}
	id := lc.root
	for range maxDepth {
		pg, err := mappedPage(m, id, lc.pageSize)
		if err != nil {
			return err
		}
		if pg.Flags == LeafFlag {
			lo := lc.base + uintptr(id)*lc.pageSize
			if Addr(k) < lo || Addr(k) >= lo+uintptr(len(pg.B)) {
				return fmt.Errorf("a walk from the tree's edge started at page %d, and the edge leaf page is %d", (Addr(k)-lc.base)/lc.pageSize, id)
			}
			return nil
		}
		if pg.Count == 0 {
			return fmt.Errorf("branch page %d has no elements", id)
		}
		i := 0
		if desc {
			i = pg.Count - 1
		}
		id = pg.Child(i)
	}
	return fmt.Errorf("no leaf page within %d levels of root page %d", maxDepth, lc.root)
}
