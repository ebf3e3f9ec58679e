package mvcc

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// On-disk layout (one bbolt file, format "mvkv/2"):
//
//	bucket "mvkv"  format -> "mvkv/2"
//	               ts     -> uint64 BE, the last commit timestamp written
//	               keys   -> uint64 BE, the number of keys in "data"
//	bucket "data"  key    -> record: the key's newest committed version
//
// record is: CRC-32C (4 bytes BE) of the key followed by the rest of the
// record, the commit timestamp (8 bytes BE), then the value. The file holds only
// the newest committed version of each live key: bbolt is the B+tree of
// the data, in key order. A commit puts the keys it writes and deletes
// the keys it deletes, so the file never holds a tombstone; the older
// versions that open snapshots may still read live in memory (package
// index) and never reach the file. Overwrites free pages that bbolt
// reuses.
//
// The checksum covers the key as well as the record, so a damaged value, a
// damaged timestamp and a key whose bytes changed under its record all
// read as ErrCorrupt, never as data.
var (
	metaBucket  = []byte("mvkv")
	dataBucket  = []byte("data")
	formatKey   = []byte("format")
	tsKey       = []byte("ts")
	keysKey     = []byte("keys")
	formatValue = []byte("mvkv/2")
)

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
