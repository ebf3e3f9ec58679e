package mvcc

import (
	"encoding/binary"
	"fmt"
)

// On-disk layout (one bbolt file):
//
//	bucket "mvkv"      format -> "mvkv/1"
//	                   ts     -> uint64 BE, last commit timestamp written
//	bucket "versions"  rev    -> record
//
// rev is the version's name: its commit timestamp and its sequence number
// inside the transaction, 8+4 bytes big-endian. Commit timestamps only grow,
// so every commit appends at the right edge of the versions bucket and bbolt
// fills its pages sequentially (the idea of etcd's revision keys). Vacuum
// deletes old revs; bbolt reuses the freed pages.
//
// record is: flags (1 byte: bit 0 = tombstone), uvarint key length, key,
// value. Recovery reads the bucket in rev order and rebuilds the index.
var (
	metaBucket     = []byte("mvkv")
	versionsBucket = []byte("versions")
	formatKey      = []byte("format")
	tsKey          = []byte("ts")
	formatValue    = []byte("mvkv/1")
)

const revSize = 12

const flagTombstone = 1

func encodeRev(dst []byte, ts uint64, seq uint32) []byte {
	dst = binary.BigEndian.AppendUint64(dst, ts)
	return binary.BigEndian.AppendUint32(dst, seq)
}

func decodeRev(b []byte) (ts uint64, seq uint32, err error) {
	if len(b) != revSize {
		return 0, 0, fmt.Errorf("%w: version key of %d bytes", ErrCorrupt, len(b))
	}
	return binary.BigEndian.Uint64(b), binary.BigEndian.Uint32(b[8:]), nil
}

func encodeRecord(dst []byte, key, value []byte, tombstone bool) []byte {
	var flags byte
	if tombstone {
		flags |= flagTombstone
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	return append(dst, value...)
}

// decodeRecord returns slices into b; callers copy what they keep beyond
// the bbolt transaction.
func decodeRecord(b []byte) (key, value []byte, tombstone bool, err error) {
	if len(b) < 2 || b[0]&^flagTombstone != 0 {
		return nil, nil, false, fmt.Errorf("%w: bad version record", ErrCorrupt)
	}
	n, w := binary.Uvarint(b[1:])
	if w <= 0 || n == 0 || n > MaxKeySize || uint64(len(b)-1-w) < n {
		return nil, nil, false, fmt.Errorf("%w: bad version record key", ErrCorrupt)
	}
	key = b[1+w : 1+w+int(n)]
	value = b[1+w+int(n):]
	return key, value, b[0]&flagTombstone != 0, nil
}
