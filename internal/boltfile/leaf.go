package boltfile

import (
	"fmt"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// LeafCheck checks that each leaf page a cursor walks yields all its
// elements.
//
// mvkv's records carry checksums that cover their keys, timestamps and
// values, so damage to a record, or to the element header that locates
// it, shows. One field they cannot cover: the element count in a leaf
// page's header. A count made smaller hides the page's last records, in
// order and each sound: a scan would skip them and a point read call them
// absent.
//
// It parses nothing: it only compares the addresses of the slices a cursor returns
// (they point into bbolt's mapping). bbolt writes a leaf page as a 16-byte
// header, an array of 16-byte element headers, then each element's key
// and value, in element order, with no gap. So within a page each key
// starts where the previous value ended, and the first key of a page with
// n elements starts 16+16n bytes after the page's start (pages are
// page-size aligned from the start of the mapping). A key that does not
// start where the previous value ended opens a new page; the page left
// behind must then have yielded exactly as many records as its first
// key's offset says it holds. TestLeafCheck (package mvcc) shows the rule holds for the
// pages bbolt writes, and that a lowered count is caught.
//
// An inline bucket (a small bucket stored inside its parent's page) has
// no pages of its own: the check is off for it.
//
// A descending walk checks the same rule on the pages it enters from the
// page above (it then sees each from its last record down to its first);
// the page it starts in, entered in the middle, goes unchecked (a caller
// starting between two pages checks that one with Start and PageDone).
//
// The address rule sees the pages a cursor yields records from, not the
// ones it skips: bbolt's cursor steps over a page whose count reads 0, and
// a search stops at a first element moved onto another page's record. So
// a walk also checks, at each step to a new page, its end and a start at
// the tree's edge (Edge), that the page is the one the tree's branch pages
// put there, and a point read whose key falls between two pages checks
// that the leaf the key belongs to is one of them (Gap). Those read the
// branch pages from the mapping, replaying bbolt's search (gap.go).
type LeafCheck struct {
	base, pageSize uintptr // the mapping's start and bbolt's page size; 0: off
	root, pages    uint64  // the bucket's root page and the transaction's high-water mark (Gap)
	first          uintptr // address of the current page's first key; 0: unknown
	n              int     // records seen on the current page (from first, when known)
	end            uintptr // where the current page's last record seen ends (descending: where its lowest begins)
	whole          bool    // descending: the current page was entered at its top
	anchor         *byte   // a record noted, in the mapping: where follows finds it
	sh             shadow  // the walk's leaf in the tree (follows)
}

// NewLeafCheck returns a check for cursors of b, in a transaction of bdb
// (which must be open: the mapping does not move while it is).
func NewLeafCheck(bdb *bolt.DB, b *bolt.Bucket) LeafCheck {
	if b.Root() == 0 {
		return LeafCheck{}
	}
	info := bdb.Info()
	return LeafCheck{base: info.Data, pageSize: uintptr(info.PageSize),
		root: uint64(b.Root()), pages: uint64(b.Tx().Size()) / uint64(info.PageSize)}
}

// Start begins at the record (k, v) a cursor was positioned on (by Seek,
// First or Last), whose page's earlier records the check has not seen:
// it steps back to the page's first record to count them, and leaves the
// cursor on the page's first record. The caller repositions it.
func (lc *LeafCheck) Start(c *bolt.Cursor, k, v []byte) {
	lc.first, lc.n, lc.end, lc.sh = 0, 0, 0, shadow{}
	if lc.pageSize == 0 || k == nil {
		return
	}
	lc.anchor = unsafe.SliceData(k)
	at, n := Addr(k), 1
	for range lc.pageSize / ElementSize { // a page holds fewer elements than that
		pk, pv := c.Prev()
		if pk == nil || Addr(pk)+uintptr(len(pk)+len(pv)) != at {
			break
		}
		at = Addr(pk)
		n++
	}
	lc.first, lc.n, lc.end = at, n, Addr(k)+uintptr(len(k)+len(v))
}

// Next notes the record (k, v) the cursor moved to; at the first record of
// a new page it checks the page left behind. k nil (the cursor ran out)
// checks the last page.
func (lc *LeafCheck) Next(k, v []byte) error {
	if lc.pageSize == 0 {
		return nil
	}
	if k != nil && lc.n > 0 && Addr(k) == lc.end {
		lc.n++
		lc.end += uintptr(len(k) + len(v))
		return nil
	}
	if err := lc.PageDone(); err != nil {
		return err
	}
	if lc.first != 0 && lc.n > 0 {
		if err := lc.follows(k, uint64((lc.first-lc.base)/lc.pageSize), false); err != nil {
			return err
		}
	}
	if k == nil {
		lc.first, lc.n = 0, 0
		return nil
	}
	lc.anchor = unsafe.SliceData(k)
	lc.first, lc.n, lc.end = Addr(k), 1, Addr(k)+uintptr(len(k)+len(v))
	return nil
}

// Adjacent notes, as Next or Prev would, a record the cursor moved to
// that lies right after the last one noted (descending: right before it)
// in the mapping: the next record of the same page (a page's first key
// lies past its headers, never where another page's records end). end is
// where that record ends (descending: where it begins). It is the step a
// walk takes most, short enough to be inlined into the walk's loop.
func (lc *LeafCheck) Adjacent(end uintptr) {
	lc.n++
	lc.end = end
}

// PageDone checks the page whose records were just counted, if its first
// record was seen.
func (lc *LeafCheck) PageDone() error {
	if lc.first == 0 || lc.n == 0 {
		return nil
	}
	holds := ((lc.first-lc.base)%lc.pageSize - PageHeaderSize) / ElementSize
	if holds != uintptr(lc.n) {
		return fmt.Errorf("a leaf page yielded %d records, its layout says it holds %d", lc.n, holds)
	}
	return nil
}

// StartDesc begins a descending walk.
func (lc *LeafCheck) StartDesc() {
	lc.first, lc.n, lc.end, lc.whole, lc.sh = 0, 0, 0, false, shadow{}
}

// Prev notes the record (k, v) a descending cursor moved to; at the last
// record of a new page it checks the page left behind, if it saw all of
// it. k nil (the cursor ran out) checks the last page.
func (lc *LeafCheck) Prev(k, v []byte) error {
	if lc.pageSize == 0 {
		return nil
	}
	if k != nil && lc.n > 0 && Addr(k)+uintptr(len(k)+len(v)) == lc.end {
		lc.n++
		lc.end = Addr(k)
		return nil
	}
	if lc.n > 0 && lc.whole {
		lc.first = lc.end // the page's first record is the last one seen
		if err := lc.PageDone(); err != nil {
			return err
		}
	}
	if lc.n > 0 {
		// The page left was seen down to its first record, at end.
		if err := lc.follows(k, uint64((lc.end-lc.base)/lc.pageSize), true); err != nil {
			return err
		}
	}
	lc.whole = lc.n > 0 // entered from the page above
	lc.first, lc.n = 0, 0
	if k != nil {
		lc.n, lc.end = 1, Addr(k)
		lc.anchor = unsafe.SliceData(k)
	}
	return nil
}

// Step is Next or Prev.
func (lc *LeafCheck) Step(k, v []byte, desc bool) error {
	if desc {
		return lc.Prev(k, v)
	}
	return lc.Next(k, v)
}

// On reports whether the check is on (the bucket has pages of its own).
func (lc *LeafCheck) On() bool { return lc.pageSize != 0 }
