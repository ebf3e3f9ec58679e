package boltfile

import (
	"runtime"
	"strings"
)

// Recognising damage among panics.
//
// bbolt reads its pages through a memory mapping and trusts what they
// say: a page pointer past the end of a truncated file faults (SIGBUS),
// and a page whose header is not what its parent says fails one of
// bbolt's own checks, which panic. With debug.SetPanicOnFault, a fault
// becomes a panic too. A caller that recovers to report damage must
// recover only those: any other panic is a bug (mvkv's, or code of its
// caller that it calls), and hiding it as damage would send an operator
// to restore a healthy database.

// pageCheckPanics are the messages bbolt v1.5.0 panics with when a page
// read from the file fails its checks (the prefix before the first
// formatted value): internal/common/page.go (FastCheck, the freelist
// readers), internal/common/meta.go, bucket.go, cursor.go, node.go, db.go,
// and the freelist's consistency checks in internal/freelist, which a
// damaged freelist or a page with two parents trips. Checks of bbolt's
// own usage (a closed transaction, a managed commit, an empty key) are
// not here: those are bugs of the caller, not damage.
var pageCheckPanics = []string{
	"assertion failed: Page expected to be: ",
	"assertion failed: page ", // "...: has unexpected type/flags: "
	"assertion failed: can't get freelist page count from a non-freelist page",
	"assertion failed: can't get freelist page IDs from a non-freelist page",
	"assertion failed: The page ID (",
	"leading element count ",
	"invalid page type: ",
	"pgid (",             // "...) above high water mark ("
	"pgId (",             // "...) above high water mark ("
	"root bucket pgid (", // "...) above high water mark ("
	"freelist pgid (",    // "...) above high water mark ("
	"misplaced bucket header: ",
	"unexpected bucket header flag: ",
	"inline bucket non-zero page access(2): ",
	"bolt.DB.meta(): invalid meta pages",
	"invalid freelist page: ",
	"page ", // "%d already freed"
	"cannot free page 0 or 1: ",
	"detected duplicated free ",
	"detected overlapped free page ID: ",
	"pgids not sorted",
	"assertion failed: freePagesCount (",
}

// IsPageCheckPanic reports whether v, a value recovered from a panic, is
// one of bbolt's page checks failing: a string bbolt panics with on a
// damaged page, raised by bbolt's own code. It must be called from the
// deferred function that recovered v (it looks at the stack of the
// panic, which is still there).
func IsPageCheckPanic(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	known := false
	for _, p := range pageCheckPanics {
		if strings.HasPrefix(s, p) {
			known = true
			break
		}
	}
	return known && raisedByBolt()
}

// raiser returns the function that raised the panic being recovered:
// the first frame below runtime.gopanic that is not the runtime's own
// (the caller of panic, the function that faulted, or the one whose index
// or slice expression was out of range).
func raiser() string {
	var pcs [64]uintptr
	n := runtime.Callers(1, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	inPanic := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			inPanic = true
		case inPanic && !strings.HasPrefix(f.Function, "runtime."):
			return f.Function
		}
		if !more {
			return ""
		}
	}
}

// raisedByBolt reports whether the panic being recovered was raised by a
// function of bbolt (package go.etcd.io/bbolt or its internal packages).
func raisedByBolt() bool {
	f := raiser()
	return strings.HasPrefix(f, "go.etcd.io/bbolt.") || strings.HasPrefix(f, "go.etcd.io/bbolt/")
}

// IsPageDecodePanic reports whether v, a value recovered from a panic, is
// an index or slice expression out of range (not a memory fault) in
// bbolt's page decoding, package go.etcd.io/bbolt/internal/common: a
// damaged element's key or value size makes bbolt slice past what it can
// (common.UnsafeByteSlice). That package only decodes pages and meta
// pages. Call it from the deferred function that recovered v.
func IsPageDecodePanic(v any) bool {
	err, ok := v.(runtime.Error)
	if !ok {
		return false
	}
	if _, fault := faultAddr(err); fault {
		return false
	}
	return strings.HasPrefix(raiser(), "go.etcd.io/bbolt/internal/common.")
}

// faultAddr returns the address of a memory fault recovered as v.
func faultAddr(v any) (uintptr, bool) {
	err, ok := v.(runtime.Error)
	if !ok {
		return 0, false
	}
	a, ok := err.(interface{ Addr() uintptr })
	if !ok {
		return 0, false
	}
	return a.Addr(), true
}

// IsBoltFault reports whether v, a value recovered from a panic, is a
// memory fault (debug.SetPanicOnFault) in bbolt's own code at or above
// base: bbolt following a damaged page id from its mapping at base (it
// computes a page's address as base + id × page size, and checks the
// page only once it has read its header there). Like IsPageCheckPanic,
// call it from the deferred function that recovered v. base 0 (unknown:
// bbolt.Open did not return a DB) accepts any address but the first page
// of memory, where a nil pointer points.
func IsBoltFault(v any, base uintptr) bool {
	at, ok := faultAddr(v)
	if !ok || at < max(base, 4096) {
		return false
	}
	return raisedByBolt()
}

// IsMappingFault reports whether v, a value recovered from a panic, is a
// memory fault (debug.SetPanicOnFault) at an address inside bbolt's
// mapping of a file, or past its end by no more than a page element can
// point: base is the mapping's start (bbolt.DB.Info().Data), which spans
// MapSize(size, minMmap, pageSize) bytes for a file of size bytes opened
// with InitialMmapSize minMmap. A truncated file faults inside the
// mapping (it extends past the file's end, and a page there has no
// backing); a damaged element's offset or size (uint32 each, three of
// them from the element to the end of its value) makes the key or value
// slice bbolt returns run past the mapping, and whoever reads it faults
// there, bbolt or mvkv.
func IsMappingFault(v any, base uintptr, size int64, minMmap, pageSize int) bool {
	at, ok := faultAddr(v)
	return ok && base != 0 && at >= base && at-base < uintptr(MapSize(size, minMmap, pageSize))+elementReach
}

// elementReach is how far past its page a damaged element can point.
const elementReach = 3 << 32

// maxMapSize and maxMmapStep are bbolt's (internal/common, 64-bit
// platforms).
const (
	maxMapSize  = 0xFFFFFFFFFFFF
	maxMmapStep = 1 << 30
)

// MapSize is the size bbolt maps a file of size bytes with, given its
// InitialMmapSize (bbolt's DB.mmap and DB.mmapSize): at least both, by
// doubling from 32 KiB to 1 GiB, then in steps of 1 GiB. bbolt maps again
// with a larger size only as the file grows past the mapping, and never
// maps less than the file, so a mapping in use is at most this large.
func MapSize(size int64, minMmap, pageSize int) int64 {
	size = max(size, int64(minMmap))
	for i := uint(15); i <= 30; i++ {
		if size <= 1<<i {
			return 1 << i
		}
	}
	if r := size % maxMmapStep; r > 0 {
		size += maxMmapStep - r
	}
	if ps := int64(pageSize); ps > 0 && size%ps != 0 {
		size = (size/ps + 1) * ps
	}
	return min(size, maxMapSize)
}
