package mvcc

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	bolt "go.etcd.io/bbolt"
)

// On-disk layout (one bbolt file, format "mvkv/4", and the write-ahead
// log beside it):
//
//	bucket "mvkv"  format  -> "mvkv/4"
//	               ts      -> meta value: the last commit timestamp written
//	               applied -> meta value: every commit up to it is in "data"
//	               keys    -> meta value: the number of keys in "data"
//	bucket "data"  key     -> record: the key's newest applied version
//	bucket "log"   rev     -> logged write of a commit after "applied" (empty, see below)
//	buckets "versions", "vqueue", "clock" and meta keys "vcount",
//	"history": older versions and commit times (versionstore.go,
//	history.go), created when first needed
//
// record is: CRC-32C (4 bytes BE) of the key followed by the rest of the
// record, the commit timestamp (8 bytes BE), then the value. "data" is the
// B+tree of the data, in key order, one record per live key: no
// tombstones, no old versions (those live in memory for the snapshots
// that read them, package index, and past the memory limit or with a
// history retention in the "versions" bucket).
//
// A commit group does not write "data": it appends its transactions to
// the write-ahead log, files beside this one (wal.go). The checkpoint
// (checkpoint.go) applies the log to "data" in steps, each one bbolt
// transaction that applies the oldest transactions in key order and moves
// "applied" and "ts" to the last of them: at every commit of the file,
// "data" holds every commit up to "applied" and nothing newer, "ts" is
// "applied", and the log every acknowledged commit after it. A group of
// 256 KiB or more that finds the log empty writes "data" itself and moves
// "applied" with it, which keeps the same invariant. Open applies what a
// crash left in the log the same way: the log is bounded, so Open is too.
//
// The "log" bucket is where files written before the write-ahead log
// kept their commits after "applied", under rev = commit timestamp and
// sequence number (8+4 bytes BE): Open applies what a crash left there,
// as it applies the write-ahead log, and the bucket stays empty.
// A logged write is: CRC-32C (4 bytes BE) of the rest, flags (1 byte:
// bit 0 = tombstone), uvarint key length, key, value.
//
// A meta value is the number (8 bytes BE) followed by the CRC-32C (4
// bytes BE) of the value's name and the number: a flipped bit in one, or
// a value moved under another name, fails Open with ErrCorrupt. Open also
// checks them against each other and against the log (checkMeta): the
// marks are what decide which versions memory may let go, so a wrong one
// would lose commits silently. The format name needs no checksum: Open
// compares it whole with the names it knows, and a flipped bit makes it
// unknown ("mvkv/4" is two bits or more from every other name it knows).
//
// The checksums cover the keys, so a damaged value, timestamp or key
// reads as ErrCorrupt, never as data.
//
// Format "mvkv/2" was the same but for meta values without a checksum (8
// bytes). Open upgrades such a file in place (one bbolt transaction,
// after the same range checks), except read-only, where it reads it as
// it is. Format "mvkv/1" is refused.
var (
	metaBucket  = []byte("mvkv")
	dataBucket  = []byte("data")
	logBucket   = []byte("log")
	formatKey   = []byte("format")
	tsKey       = []byte("ts")
	appliedKey  = []byte("applied")
	keysKey     = []byte("keys")
	formatValue = []byte("mvkv/4")
	format3     = []byte("mvkv/3") // commits after "applied" in the log bucket only
	format2     = []byte("mvkv/2") // meta values without checksums
)

const metaValueSize = 8 + 4

// metaSum is the checksum of a meta value: its name, then the number.
func metaSum(name []byte, v uint64) uint32 {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return crc32.Update(crc32.Checksum(name, castagnoli), castagnoli, b[:])
}

// putMeta stores v as the meta value name, with its checksum.
func putMeta(meta *bolt.Bucket, name []byte, v uint64) error {
	b := make([]byte, 0, metaValueSize) // bbolt keeps it until the commit
	b = binary.BigEndian.AppendUint64(b, v)
	b = binary.BigEndian.AppendUint32(b, metaSum(name, v))
	return meta.Put(name, b)
}

// getMeta reads the meta value name, failing with ErrCorrupt when it is
// missing, of the wrong size or fails its checksum.
func getMeta(meta *bolt.Bucket, name []byte) (uint64, error) {
	b := meta.Get(name)
	if len(b) != metaValueSize {
		return 0, fmt.Errorf("%w: meta value %q: %d bytes, not %d", ErrCorrupt, name, len(b), metaValueSize)
	}
	v := binary.BigEndian.Uint64(b)
	if binary.BigEndian.Uint32(b[8:]) != metaSum(name, v) {
		return 0, fmt.Errorf("%w: meta value %q: checksum mismatch", ErrCorrupt, name)
	}
	return v, nil
}

const revSize = 12

func appendRev(dst []byte, ts uint64, seq uint32) []byte {
	dst = binary.BigEndian.AppendUint64(dst, ts)
	return binary.BigEndian.AppendUint32(dst, seq)
}

const flagTombstone = 1

// appendLogged appends the logged form of a write.
func appendLogged(dst, key, value []byte, tombstone bool) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	var flags byte
	if tombstone {
		flags = flagTombstone
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	dst = append(dst, value...)
	binary.BigEndian.PutUint32(dst[start:], crc32.Checksum(dst[start+4:], castagnoli))
	return dst
}

// decodeLogged returns a logged write's parts; they alias b.
func decodeLogged(rev, b []byte) (ts uint64, key, value []byte, tombstone bool, err error) {
	bad := func(what string) error {
		return fmt.Errorf("%w: logged write %x: %s", ErrCorrupt, rev, what)
	}
	if len(rev) != revSize {
		return 0, nil, nil, false, bad("bad name")
	}
	if len(b) < 6 || crc32.Checksum(b[4:], castagnoli) != binary.BigEndian.Uint32(b) {
		return 0, nil, nil, false, bad("checksum mismatch")
	}
	if b[4]&^flagTombstone != 0 {
		return 0, nil, nil, false, bad("unknown flags")
	}
	n, w := binary.Uvarint(b[5:])
	if w <= 0 || n == 0 || n > MaxKeySize || uint64(len(b)-5-w) < n {
		return 0, nil, nil, false, bad("bad key length")
	}
	key = b[5+w : 5+w+int(n)]
	return binary.BigEndian.Uint64(rev), key, b[5+w+int(n):], b[4]&flagTombstone != 0, nil
}

const recordHeader = 4 + 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends the record of a value committed at ts.
func appendRecord(dst, key, value []byte, ts uint64) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint64(dst, ts)
	dst = append(dst, value...)
	binary.BigEndian.PutUint32(dst[start:], recordSum(key, dst[start+4:]))
	return dst
}

// decodeRecord returns the timestamp and the value of key's record; the
// value aliases rec (the mmap: copy what you keep past the bbolt
// transaction).
func decodeRecord(key, rec []byte) (ts uint64, value []byte, err error) {
	if err := checkRecordSize(key, rec); err != nil {
		return 0, nil, err
	}
	if recordSum(key, rec[4:]) != binary.BigEndian.Uint32(rec) {
		return 0, nil, fmt.Errorf("%w: record of key %s: checksum mismatch", ErrCorrupt, quoteKey(key))
	}
	return binary.BigEndian.Uint64(rec[4:]), rec[recordHeader:], nil
}

// recordSum is the checksum of key followed by body (a record without its
// checksum).
func recordSum(key, body []byte) uint32 {
	return crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, body)
}

// checkRecordSize refuses a record too short to hold its header (or nil:
// a nested bucket where a record should be) and a key or record larger
// than any commit writes: a damaged length must not make a reader
// allocate or checksum gigabytes.
func checkRecordSize(key, rec []byte) error {
	if len(rec) < recordHeader || len(rec) > recordHeader+MaxValueSize || len(key) > MaxKeySize {
		return fmt.Errorf("%w: record of key %s: key of %d bytes, record of %d", ErrCorrupt, quoteKey(key), len(key), len(rec))
	}
	return nil
}
