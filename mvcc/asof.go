package mvcc

import (
	"bytes"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/index"
)

// Scans as of a past time.
//
// A snapshot at or above the vacuum horizon finds every key it can see in
// the data bucket or in memory (read.go). A snapshot as of a past time
// (TxOptions.AsOf) may not: a key deleted since, and gone from memory,
// lives on only in the version bucket. So its scan takes the keys of each
// chunk from all three (the data bucket, the version bucket and memory,
// over the same span) and reads each one as a point read at the snapshot.
// It costs a point read per key: history is for looking back, not for
// bulk reads.

// scanHistory is scanStore for a transaction as of a past time: it calls
// fn for the keys of [start, end) visible at ts, in ascending order
// (descending when desc), and returns the error that stopped it.
func (db *DB) scanHistory(start, end []byte, ts uint64, desc bool, fn func(*storeItem) bool) error {
	fc := getChunk()
	fc.keysOnly = false
	defer putChunk(fc)
	from, inclusive, bound := start, true, end
	if desc {
		from, inclusive, bound = end, false, start
	}
	before := func(a, b []byte) bool {
		c := bytes.Compare(a, b)
		return !desc && c < 0 || desc && c > 0
	}
	for limit := firstScanChunk; ; limit = nextChunk(limit) {
		if err := db.readChunk(from, bound, inclusive, desc, limit, fc); err != nil {
			return err
		}
		disk, diskMore, err := db.diskKeys(from, bound, inclusive, desc, limit)
		if err != nil {
			return err
		}
		// The chunk's span ends at the nearest last key of a source cut
		// short; past it, a source may hold keys not read yet.
		var last []byte
		cut := false
		if n := fc.len(); fc.more {
			last, cut = bytes.Clone(fc.key(n-1)), true
		}
		if diskMore {
			if dl := disk[len(disk)-1]; !cut || before(dl, last) {
				last = dl
			}
			cut = true
		}
		inSpan := func(k []byte) bool { return !cut || !before(last, k) }
		var keys [][]byte
		for i := range fc.len() {
			if k := fc.key(i); inSpan(k) {
				keys = append(keys, k)
			}
		}
		for _, k := range disk {
			if inSpan(k) {
				keys = append(keys, k)
			}
		}
		lo, hi := from, end // the span in memory, [lo, hi)
		switch {
		case desc && cut:
			lo, hi = last, from
		case desc:
			lo, hi = start, from
		case cut:
			hi = append(bytes.Clone(last), 0)
		}
		walk := db.index.Walk
		if desc {
			walk = db.index.WalkDesc
		}
		walk(lo, hi, ts, false, func(it index.Item) bool {
			keys = append(keys, bytes.Clone(it.Key))
			return true
		})
		slices.SortFunc(keys, func(a, b []byte) int {
			if desc {
				return bytes.Compare(b, a)
			}
			return bytes.Compare(a, b)
		})
		keys = slices.CompactFunc(keys, bytes.Equal)
		for _, k := range keys {
			if !inclusive && bytes.Equal(k, from) {
				continue
			}
			val, ok, _, err := db.read(k, ts, true)
			if err != nil {
				return err
			}
			// k may be in the chunk's buffer: valid until the next chunk,
			// and not the caller's (owned false: the scan copies it).
			if ok && !fn(&storeItem{key: k, value: val, present: true}) {
				return nil
			}
		}
		if !cut {
			return nil
		}
		from, inclusive = last, false
	}
}

// diskKeys returns up to limit distinct keys the version bucket holds
// records of, from from (excluded unless inclusive) towards bound, in the
// scan's order; more reports that it stopped at limit.
func (db *DB) diskKeys(from, bound []byte, inclusive, desc bool, limit int) (keys [][]byte, more bool, err error) {
	if db.vs.count.Load() == 0 {
		return nil, false, nil
	}
	v, err := db.acquireView()
	if err != nil {
		return nil, false, err
	}
	defer v.release()
	err = db.guard(func() error {
		b := v.tx.Bucket(versionsBucket)
		if b == nil {
			return nil
		}
		keys, more, err = versionKeys(b, newLeafCheck(db.bolt, b), from, bound, inclusive, desc, limit)
		return err
	})
	return keys, more, err
}

// versionKeys is diskKeys in the version bucket b. Its walk is checked
// as a scan of the data is (leafCheck, seekChecked, seekDesc): a damaged
// page must not hide a key whose only versions are there, one deleted
// since.
func versionKeys(b *bolt.Bucket, lc leafCheck, from, bound []byte, inclusive, desc bool, limit int) (keys [][]byte, more bool, err error) {
	c := b.Cursor()
	var vk, rec []byte
	step := c.Next
	switch {
	case desc:
		step = c.Prev
		var seek []byte
		if from != nil {
			seek = vkeyPrefix(from)
		}
		if vk, rec, err = seekDesc(c, &lc, seek); err != nil {
			return nil, false, err
		}
		lc.startDesc()
		if err := lc.prev(vk, rec); err != nil {
			return nil, false, err
		}
	case from == nil:
		vk, rec = c.First()
		if err := lc.edge(vk, false); err != nil {
			return nil, false, err
		}
		lc.start(c, vk, rec)
		vk, _ = c.First()
	default:
		if vk, _, err = seekChecked(c, &lc, vkeyPrefix(from), false); err != nil {
			return nil, false, err
		}
	}
	for noted := true; vk != nil; noted = false {
		if !noted {
			vk, rec = step()
			if err := lc.step(vk, rec, desc); err != nil {
				return nil, false, err
			}
			if vk == nil {
				break
			}
		}
		k, _, ok := splitVKey(vk)
		if !ok {
			return nil, false, errBadVKey(vk)
		}
		if len(keys) > 0 && bytes.Equal(keys[len(keys)-1], k) {
			continue
		}
		if !desc && !inclusive && bytes.Equal(k, from) {
			continue
		}
		if desc && from != nil && bytes.Compare(k, from) >= 0 {
			continue
		}
		if bound != nil {
			if cmp := bytes.Compare(k, bound); !desc && cmp >= 0 || desc && cmp < 0 {
				return keys, false, nil
			}
		}
		if len(keys) == limit {
			return keys, true, nil
		}
		keys = append(keys, k)
	}
	return keys, false, nil
}
