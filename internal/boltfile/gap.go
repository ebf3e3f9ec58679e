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
// found from p, a slice within it.
func (lc *LeafCheck) mapping(p []byte) ([]byte, error) {
	size := uintptr(lc.pages) * lc.pageSize
	a := Addr(p)
	if a < lc.base || a >= lc.base+size {
		return nil, fmt.Errorf("a record at %#x lies outside the pages in use", a)
	}
	start := unsafe.Add(unsafe.Pointer(unsafe.SliceData(p)), -int(a-lc.base))
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
		if pg.Count == 0 {
			return Page{}, fmt.Errorf("branch page %d has no elements", id)
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
			return Page{}, kerr
		}
		if !exact && i > 0 {
			i--
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
