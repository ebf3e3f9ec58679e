package mvcc

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/index"
)

// recoverIndex rebuilds the index from the versions bucket and returns the
// last commit timestamp. Every version is on disk exactly when its
// transaction committed (one bbolt transaction per group commit), so the
// index rebuilt here holds exactly the acknowledged commits, tombstones
// included, and no part of any other.
func recoverIndex(btx *bolt.Tx, ix *index.Index) (uint64, error) {
	meta := btx.Bucket(metaBucket)
	var last uint64
	if b := meta.Get(tsKey); len(b) == 8 {
		last = binary.BigEndian.Uint64(b)
	} else {
		return 0, fmt.Errorf("%w: missing commit timestamp", ErrCorrupt)
	}
	versions := btx.Bucket(versionsBucket)
	if versions == nil {
		return 0, fmt.Errorf("%w: missing versions bucket", ErrCorrupt)
	}
	// Every version is collected first and handed to the index in one
	// bulk load, which sorts by key and builds the tree in key order
	// (index.Load says why that is several times faster than inserting in
	// commit order). Keys and values are copied out of the mmap into
	// arenas, sparing the allocator a million small objects.
	entries := make([]index.Entry, 0, versions.Stats().KeyN)
	var arena []byte
	c := versions.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		ts, seq, err := decodeRev(k)
		if err != nil {
			return 0, err
		}
		key, value, tomb, err := decodeRecord(v)
		if err != nil {
			return 0, fmt.Errorf("%w (version %d.%d)", err, ts, seq)
		}
		if cap(arena)-len(arena) < len(key)+len(value) {
			arena = make([]byte, 0, max(256<<10, len(key)+len(value)))
		}
		start := len(arena)
		arena = append(arena, key...)
		arena = append(arena, value...)
		kc := arena[start : start+len(key) : start+len(key)]
		vc := arena[start+len(key) : len(arena) : len(arena)]
		entries = append(entries, index.Entry{Key: kc, Version: index.Version{TS: ts, Seq: seq, Tombstone: tomb, Value: vc}})
		if ts > last {
			last = ts
		}
	}
	ix.Load(entries)
	return last, nil
}
