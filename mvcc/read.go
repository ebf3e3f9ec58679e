package mvcc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/index"
)

// Reading a key at a snapshot.
//
// The index holds every version some open snapshot may need from memory,
// and every version the checkpoint has not yet applied to the data
// bucket; the data bucket holds each key's newest applied version. A
// commit installs its versions in the index before its bbolt transaction
// commits, and the index lets a key go only when its newest version is
// both at or below the horizon and applied, and applied as of the oldest
// applied mark an open transaction holds (checkpoint.go). A view taken by
// a transaction includes at least its mark. So:
//
//   - A key the index holds is answered by its chain: the version visible
//     at ts, absent if none, unless the chain says its older versions went
//     to the version bucket (spill.go): then that bucket answers. A
//     visible version marked InFile is the data's (a spill let its value
//     go from memory).
//   - A key the index did not hold when it was asked has its newest
//     version in every view the reader takes afterwards, at or below ts,
//     unless a spill took it out of memory whole (index.CompleteSpill):
//     then the data's version may be newer than ts, and the version
//     bucket holds the older ones.
//   - A view may also show a key newer than ts, or no key at all, for a
//     commit that installed its versions after the index was asked (and
//     the checkpoint that applied them). Such a commit is still in the
//     index: a second look answers.
//
// So a read asks the index, then the data, then (rarely) the index again.
// A scan reads a chunk of the data first and the index over the same span
// after; a key the index does not hold then was pruned before, so the
// chunk, read from a view at or above the reader's mark, has its newest
// version.

// fileVersion is what the file holds for a key.
type fileVersion struct {
	ts      uint64
	value   []byte // the caller's copy
	present bool
}

// fileGet reads key's record from the file.
//
// A damaged page can hide a key from bbolt's Get: a flipped bit in a key
// (or in its length or position) renames the record, and one in its flags
// makes it look like a nested bucket, and Get then answers "absent". So
// the read goes through a cursor, and a miss is believed only when the
// records on either side of where key would be are themselves sound and
// in order: a renamed record stays where its old name sorted, so it is
// one of those two, and its checksum (which covers the key) fails.
func (db *DB) fileGet(key []byte) (f fileVersion, err error) {
	v, err := db.acquireView()
	if err != nil {
		return fileVersion{}, err
	}
	defer v.release()
	err = db.guard(func() error {
		rec, err := getRecord(v.data, key, v.leaf)
		if rec == nil || err != nil {
			return err
		}
		// Key and record side by side in one buffer: one checksum call
		// over both (layout.go), and the value is a capped slice of it.
		// Appending to a full slice allocates without zeroing what the
		// copy overwrites.
		buf := append(key[:len(key):len(key)], rec[4:]...)
		if crc32.Checksum(buf, castagnoli) != binary.BigEndian.Uint32(rec) {
			return fmt.Errorf("%w: record of key %s: checksum mismatch", ErrCorrupt, quoteKey(key))
		}
		ts := binary.BigEndian.Uint64(buf[len(key):])
		f = fileVersion{ts: ts, value: buf[len(key)+8 : len(buf) : len(buf)], present: true}
		return nil
	})
	return f, err
}

// getRecord returns key's record in b (the mmap), nil when b does not
// hold key, or ErrCorrupt when the records around where it would be are
// damaged or out of order (see fileGet). Call it under db.guard.
//
// A miss between two pages also checks the page before it yielded all its
// records (see leafCheck): a lowered count hides a page's last records.
// lc is off (zero) in a write transaction, whose pages may be in memory.
func getRecord(b *bolt.Bucket, key []byte, lc leafCheck) ([]byte, error) {
	c := b.Cursor()
	k, rec := c.Seek(key)
	if bytes.Equal(k, key) {
		return rec, checkRecordSize(k, rec)
	}
	after := k
	if k != nil {
		if bytes.Compare(k, key) < 0 {
			return nil, fmt.Errorf("%w: key %s found looking for %s: keys out of order", ErrCorrupt, quoteKey(k), quoteKey(key))
		}
		if _, _, err := decodeRecord(k, rec); err != nil {
			return nil, err
		}
		k, rec = c.Prev()
	} else {
		k, rec = c.Last()
	}
	if k == nil {
		return nil, nil
	}
	if bytes.Compare(k, key) >= 0 {
		return nil, fmt.Errorf("%w: key %s found before %s: keys out of order", ErrCorrupt, quoteKey(k), quoteKey(key))
	}
	if _, _, err := decodeRecord(k, rec); err != nil {
		return nil, err
	}
	if after == nil || addr(after) != addr(k)+uintptr(len(k)+len(rec)) {
		lc.start(c, k, rec)
		return nil, lc.pageDone()
	}
	return nil, nil
}

// readAt returns key's value visible at ts (a copy the caller owns), or
// present false. newer lists the commit timestamps of key's versions above
// ts, for SSI.
func (db *DB) readAt(key []byte, ts uint64) (value []byte, present bool, newer []uint64, err error) {
	return db.read(key, ts, false)
}

// read is readAt; hist says ts may be below the vacuum horizon (a
// transaction as of a past time, history.go): then what neither memory
// nor the data bucket shows at ts is in the version bucket.
//
// A visible version InFile is the data bucket's: a commit that superseded
// it meanwhile gave memory its value back (index.Writer.Install), or, if
// memory spilled it since, the version bucket holds it; the next attempt
// finds it either way.
func (db *DB) read(key []byte, ts uint64, hist bool) (value []byte, present bool, newer []uint64, err error) {
	for attempt := 0; attempt < 3; attempt++ {
		it, held := db.index.LookupItem(key, ts)
		v := it.Version
		if held {
			switch {
			case it.Visible && v.Tombstone:
				return nil, false, it.Newer, nil
			case it.Visible && !v.InFile:
				return cloneValue(v.Value), true, it.Newer, nil
			case !it.Visible && (it.Older || hist):
				return db.readDisk(key, ts, it.Newer)
			case !it.Visible:
				return nil, false, it.Newer, nil
			}
		}
		f, err := db.fileGet(key)
		if err != nil {
			return nil, false, nil, err
		}
		if held {
			if f.present && f.ts == v.TS {
				return f.value, true, it.Newer, nil
			}
			continue // a newer commit: memory or the disk now holds v
		}
		if f.present && f.ts <= ts {
			return f.value, true, nil, nil
		}
		// Absent, or newer than ts: ask the index again (see above).
		it, held = db.index.LookupItem(key, ts)
		v = it.Version
		if !held {
			switch {
			case hist:
				return db.readDisk(key, ts, fileNewer(f, ts))
			case !f.present:
				return nil, false, nil, nil
			case db.vs.count.Load() > 0:
				// Spilled out of memory whole: the disk has the rest.
				d, err := db.diskRead(key, ts)
				if err != nil {
					return nil, false, nil, err
				}
				if d.anyRecord {
					return d.value, d.present, appendNewer(d.newer, fileNewer(f, ts)), nil
				}
			}
			return nil, false, nil, fmt.Errorf("%w: key %s: the file holds a version at ts %d, newer than snapshot %d, that no snapshot was told of", ErrCorrupt, quoteKey(key), f.ts, ts)
		}
		switch {
		case it.Visible && v.Tombstone:
			return nil, false, it.Newer, nil
		case it.Visible && !v.InFile:
			return cloneValue(v.Value), true, it.Newer, nil
		case !it.Visible && (it.Older || hist):
			return db.readDisk(key, ts, it.Newer)
		case !it.Visible:
			return nil, false, it.Newer, nil
		case f.present && f.ts == v.TS:
			return f.value, true, it.Newer, nil
		}
	}
	return nil, false, nil, fmt.Errorf("mvkv: key %s: no stable read after 3 attempts", quoteKey(key))
}

// readDisk reads key at ts from the version bucket, for a reader that
// memory sent there; memNewer are the newer versions memory holds.
func (db *DB) readDisk(key []byte, ts uint64, memNewer []uint64) ([]byte, bool, []uint64, error) {
	d, err := db.diskRead(key, ts)
	if err != nil {
		return nil, false, nil, err
	}
	return d.value, d.present, appendNewer(d.newer, memNewer), nil
}

// appendNewer appends to newer (ascending) the timestamps of more above
// its last.
func appendNewer(newer, more []uint64) []uint64 {
	for _, n := range more {
		if len(newer) == 0 || n > newer[len(newer)-1] {
			newer = append(newer, n)
		}
	}
	return newer
}

// fileNewer is the file's version's timestamp when it is above ts.
func fileNewer(f fileVersion, ts uint64) []uint64 {
	if f.present && f.ts > ts {
		return []uint64{f.ts}
	}
	return nil
}

// cloneValue copies a value for the caller; an empty value stays non-nil.
func cloneValue(v []byte) []byte {
	return append(make([]byte, 0, len(v)), v...)
}

// storeItem is one key met by scanStore.
type storeItem struct {
	key, value []byte // the caller's copies
	present    bool   // a version is visible at ts and is not a tombstone
	newer      []uint64
}

// A scan reads the file in chunks, a view each: a small first one, for
// scans that stop early, then larger ones.
const (
	firstScanChunk = 64
	scanChunk      = 1024
)

// fileChunk is one chunk of a scan read from the file. Every record is
// copied into arena as its key, its timestamp (8 bytes) and its value, in
// one piece, which is also what its checksum covers (see layout.go); the
// index arrays hold offsets, not slices, so that they hold no pointers.
type fileChunk struct {
	arena []byte
	ends  []int    // end of record i in arena; it starts where i-1 ends
	klen  []uint32 // key length of record i
	more  bool     // the chunk stopped at its size, not at the range's end
}

func (fc *fileChunk) len() int { return len(fc.ends) }

func (fc *fileChunk) start(i int) int {
	if i == 0 {
		return 0
	}
	return fc.ends[i-1]
}

// key and value return record i's key and value: capped subslices of the
// arena, which belongs to the caller once passed on.
func (fc *fileChunk) key(i int) []byte {
	s := fc.start(i)
	e := s + int(fc.klen[i])
	return fc.arena[s:e:e]
}

func (fc *fileChunk) ts(i int) uint64 {
	s := fc.start(i) + int(fc.klen[i])
	return binary.BigEndian.Uint64(fc.arena[s:])
}

func (fc *fileChunk) value(i int) []byte {
	return fc.arena[fc.start(i)+int(fc.klen[i])+8 : fc.ends[i] : fc.ends[i]]
}

// chunkPool holds fileChunks for their offset arrays (which hold no
// pointers); arenas are never reused.
var chunkPool = sync.Pool{New: func() any {
	return &fileChunk{ends: make([]int, 0, scanChunk), klen: make([]uint32, 0, scanChunk)}
}}

// arenaSize is the arena a chunk of limit records starts with: room for
// records of about 128 bytes. A chunk ends early when its arena is full.
func arenaSize(limit int) int { return limit * 128 }

// readChunk reads up to limit records from the file into a fresh arena:
// ascending, those of [from, bound) (from excluded unless inclusive);
// descending, those of [bound, from) from the last down (nil from: from
// the file's last key).
func (db *DB) readChunk(from, bound []byte, inclusive, desc bool, limit int, fc *fileChunk) error {
	fc.arena, fc.ends, fc.klen, fc.more = nil, fc.ends[:0], fc.klen[:0], false
	v, err := db.acquireView()
	if err != nil {
		return err
	}
	defer v.release()
	return db.guard(func() error { return fc.read(v.view, from, bound, inclusive, desc, limit) })
}

func (fc *fileChunk) read(v *view, from, bound []byte, inclusive, desc bool, limit int) error {
	c := v.data.Cursor()
	lc := v.leaf
	var k, rec []byte
	step := c.Next
	switch {
	case desc:
		step = c.Prev
		if from == nil {
			k, rec = c.Last()
		} else if k, _ = c.Seek(from); k == nil {
			k, rec = c.Last() // every key is below from
		} else {
			k, rec = c.Prev() // the key at or after from is excluded
		}
		lc.startDesc()
		if err := lc.prev(k, rec); err != nil {
			return err
		}
	case from == nil:
		k, rec = c.First()
		lc.start(c, k, rec)
		k, rec = c.First()
	default:
		var err error
		if k, rec, err = seekChecked(c, &lc, from); err != nil {
			return err
		}
		if k != nil && !inclusive && bytes.Equal(k, from) {
			k, rec = c.Next()
			if err := lc.next(k, rec); err != nil {
				return err
			}
		}
	}
	arena := fc.arena
	// A damaged branch page can send the cursor to the wrong page: keys
	// must come strictly in order, past from. (A cursor never yields a
	// key twice in a sound tree, so the walk ends.) lc checks that each
	// leaf page yields all its records (see leafCheck).
	prev, prevInclusive := from, inclusive && !desc
	// noted: lc has counted the record the cursor is on.
	for noted := true; k != nil; noted = false {
		if !noted {
			if k, rec = step(); k == nil {
				break
			}
			if err := lc.step(k, rec, desc); err != nil {
				return err
			}
		}
		if prev != nil {
			cmp := bytes.Compare(k, prev)
			if desc {
				cmp = -cmp
			}
			if cmp < 0 || cmp == 0 && !prevInclusive {
				return fmt.Errorf("%w: key %s after %s: keys out of order", ErrCorrupt, quoteKey(k), quoteKey(prev))
			}
		}
		prev, prevInclusive = k, false
		if bound != nil {
			if cmp := bytes.Compare(k, bound); !desc && cmp >= 0 || desc && cmp < 0 {
				// The key that ends the walk may be a renamed one of the
				// range: it must be sound too.
				if _, _, err := decodeRecord(k, rec); err != nil {
					return err
				}
				break
			}
		}
		if len(fc.ends) == limit {
			fc.more = true
			break
		}
		if err := checkRecordSize(k, rec); err != nil {
			return err
		}
		need := len(k) + len(rec) - 4
		if cap(arena)-len(arena) < need {
			if len(fc.ends) > 0 {
				fc.more = true // the arena is full: the next chunk goes on
				break
			}
			arena = make([]byte, 0, max(need, arenaSize(limit)))
		}
		s := len(arena)
		arena = append(arena, k...)
		arena = append(arena, rec[4:]...)
		if crc32.Checksum(arena[s:], castagnoli) != binary.BigEndian.Uint32(rec) {
			return fmt.Errorf("%w: record of key %s: checksum mismatch", ErrCorrupt, quoteKey(k))
		}
		fc.ends = append(fc.ends, len(arena))
		fc.klen = append(fc.klen, uint32(len(k)))
	}
	if k == nil {
		if err := lc.step(nil, nil, desc); err != nil {
			return err
		}
	}
	fc.arena = arena
	return nil
}

// seekChecked positions c at the first key at or after from, as Seek,
// and checks what Seek cannot: that the record before is sound and below
// from (as in getRecord: a renamed record where the walk starts would make
// Seek skip keys). It starts lc on the page it lands in.
func seekChecked(c *bolt.Cursor, lc *leafCheck, from []byte) (k, rec []byte, err error) {
	k, _ = c.Seek(from)
	if pk, prec := c.Prev(); pk == nil {
		k, rec = c.Seek(from)
	} else {
		if bytes.Compare(pk, from) >= 0 {
			return nil, nil, fmt.Errorf("%w: key %s found before %s: keys out of order", ErrCorrupt, quoteKey(pk), quoteKey(from))
		}
		if _, _, err := decodeRecord(pk, prec); err != nil {
			return nil, nil, err
		}
		nk, nrec := c.Next()
		if !bytes.Equal(nk, k) {
			return nil, nil, fmt.Errorf("%w: key %s then %s: cursor not stable", ErrCorrupt, quoteKey(k), quoteKey(nk))
		}
		k, rec = nk, nrec
	}
	if k != nil {
		lc.start(c, k, rec)
		if again, _ := c.Seek(k); addr(again) != addr(k) {
			return nil, nil, fmt.Errorf("%w: seeking %s twice found two records", ErrCorrupt, quoteKey(k))
		}
	}
	return k, rec, nil
}

// scanStore calls fn for the keys of [start, end) in ascending order (in
// descending order when desc is true), as the committed data stands at ts:
// every key with a version visible at ts, and, when all is true, the keys
// the index holds with none (absent at ts, but written after it: what SSI
// must hear of). It stops when fn returns false and returns the error that
// stopped it, if any.
//
// It reads the file in chunks, each under a view taken and released
// before the chunk's keys are passed on, and merges each chunk with the
// index's keys over the same span, read after the chunk (the order the
// point read argues for). Descending, a chunk's span is [its last key,
// where the previous chunk stopped), so the spans tile the range in both
// directions.
func (db *DB) scanStore(start, end []byte, ts uint64, all, desc bool, fn func(storeItem) bool) error {
	fc := chunkPool.Get().(*fileChunk)
	defer func() {
		fc.arena = nil // the caller's now
		chunkPool.Put(fc)
	}()
	from, inclusive, bound := start, true, end
	walk := db.index.Walk
	if desc {
		from, inclusive, bound = end, false, start
		walk = db.index.WalkDesc
	}
	// before reports whether a comes before b in the scan's order.
	before := func(a, b []byte) bool {
		c := bytes.Compare(a, b)
		return !desc && c < 0 || desc && c > 0
	}
	for limit := firstScanChunk; ; limit = scanChunk {
		if err := db.readChunk(from, bound, inclusive, desc, limit, fc); err != nil {
			return err
		}
		n := fc.len()
		// The span of this chunk, [lo, hi): up to its last key when more
		// follow, else to the range's end.
		lo, hi := from, end
		switch {
		case desc && fc.more:
			lo, hi = fc.key(n-1), from
		case desc:
			lo, hi = start, from
		case fc.more:
			last := fc.key(n - 1)
			hi = append(append(make([]byte, 0, len(last)+1), last...), 0)
		}
		i := 0 // next file record to merge
		var ferr error
		// emitFile passes on the file's records below upto (all when nil).
		emitFile := func(upto []byte) bool {
			for ; i < n; i++ {
				k := fc.key(i)
				if upto != nil && !before(k, upto) {
					return true
				}
				if fc.ts(i) > ts {
					// Not held by the index a moment ago, yet newer than ts:
					// a commit that raced the walk; the point read settles it.
					val, ok, nw, err := db.readAt(k, ts)
					if err != nil {
						ferr = err
						return false
					}
					if (ok || all) && !fn(storeItem{key: k, value: val, present: ok, newer: nw}) {
						return false
					}
					continue
				}
				if !fn(storeItem{key: k, value: fc.value(i), present: true}) {
					return false
				}
			}
			return true
		}
		stopped := false
		walk(lo, hi, ts, all, func(it index.Item) bool {
			if !inclusive && bytes.Equal(it.Key, from) {
				return true
			}
			if !emitFile(it.Key) {
				stopped = true
				return false
			}
			item := storeItem{key: bytes.Clone(it.Key), newer: it.Newer}
			inFile := i < n && bytes.Equal(fc.key(i), it.Key)
			switch v := it.Version; {
			case !it.Visible && it.Older:
				val, ok, nw, err := db.readAt(it.Key, ts)
				if err != nil {
					ferr = err
					stopped = true
					return false
				}
				item.value, item.present, item.newer = val, ok, nw
			case !it.Visible || v.Tombstone:
			case !v.InFile:
				item.value, item.present = cloneValue(v.Value), true
			case inFile && fc.ts(i) == v.TS:
				item.key, item.value, item.present = fc.key(i), fc.value(i), true
			default:
				val, ok, _, err := db.readAt(it.Key, ts)
				if err != nil {
					ferr = err
					stopped = true
					return false
				}
				item.value, item.present = val, ok
			}
			if inFile {
				i++
			}
			if (item.present || all) && !fn(item) {
				stopped = true
				return false
			}
			return true
		})
		switch {
		case ferr != nil:
			return ferr
		case stopped:
			return nil
		case !emitFile(nil):
			return ferr
		case !fc.more:
			return nil
		}
		from, inclusive = fc.key(n-1), false
	}
}
