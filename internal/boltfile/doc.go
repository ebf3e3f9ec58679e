// Package boltfile is the one place in mvkv that knows bbolt's file format
// beyond bbolt's API: the meta page, the freelist page, branch and leaf
// page layouts, the memory mapping and the panics bbolt raises when a
// page fails its checks. mvkv needs that knowledge to check a file before
// bbolt trusts it (a damaged file must fail with an error, not crash the
// process) and to see damage that no record checksum covers (a lowered
// element count that hides records).
//
// bbolt's format is bbolt's: it may change in any release. Everything
// here was verified against the bbolt versions in VerifiedVersions, and
// the package's tests fail loudly when the bbolt compiled in is another
// one (TestBoltVersionPinned) or when what they parse disagrees with what
// bbolt's own API reports of the same file (TestLayoutMatchesBolt): after
// an upgrade, re-read bbolt's internal/common (page.go, meta.go),
// db.go (mmap, mmapSize) and the panics listed in panics.go, fix what
// changed, and add the version to VerifiedVersions.
//
// The layout, in the machine's byte order:
//
//	page header (16 bytes): id uint64, flags uint16, count uint16, overflow uint32
//	meta page body: magic, version, page size, flags (uint32 each),
//	                root bucket (root pgid, sequence: 16), freelist, pgid,
//	                txid, FNV-64a checksum of what precedes it (uint64 each)
//	freelist page body: count uint64 ids (count 0xFFFF: the real count is
//	                the first uint64)
//	branch element (16 bytes): key offset (from the element), key size
//	                (uint32 each), child pgid (uint64)
//	leaf element (16 bytes): flags, key offset, key size, value size
//	                (uint32 each); keys and values follow the element
//	                array, in element order, with no gap
package boltfile

// VerifiedVersions are the bbolt releases this package's knowledge of the
// file format was checked against.
var VerifiedVersions = []string{"v1.5.0"}

// Page header and element sizes, and page flags.
const (
	PageHeaderSize = 16
	ElementSize    = 16

	BranchFlag   = 0x01
	LeafFlag     = 0x02
	MetaFlag     = 0x04
	FreelistFlag = 0x10

	// BucketLeafFlag marks a leaf element that is a nested bucket.
	BucketLeafFlag = 0x01
)
