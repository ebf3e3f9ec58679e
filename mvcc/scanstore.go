package mvcc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"runtime"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/index"
)

// Reading a range of the committed data.
//
// A scan reads the file in chunks, each under a view taken and released
// before the chunk's keys are passed on (a caller's loop never holds a
// bbolt transaction), and merges each chunk with the index's keys over the
// same span, read after the chunk: the order the point read argues for
// (read.go). A chunk copies its records into a buffer the scan reuses
// from chunk to chunk, and verifies each record's checksum on the copy:
// what is passed on is what was verified. The buffer is never handed to a
// caller (Scan copies what it yields into pieces sized to what the caller
// takes; ScanFunc copies each key into memory of its own that it lends
// for one step), so scans reuse it instead of allocating, zeroing and
// collecting a buffer for every chunk.

// storeItem is one key met by scanStore. Unless owned, its slices are
// borrowed, valid only until fn returns: from the scan's buffers, which
// the next scan reuses, or from memory others read (the index's
// versions). Either way a caller gets copies of them (see merger.emit).
type storeItem struct {
	key, value []byte
	present    bool // a version is visible at ts and is not a tombstone
	owned      bool // key and value are already copies made for the caller
	newer      []uint64
}

// A Scan copies the file's records for its caller in pieces of up to
// pieceRecords records, at most pieceBytes long unless one record is
// longer (and what memory holds in blocks of at most pieceBytes, see
// merger.copyOut): a value the caller keeps holds on to at most that much
// memory.
const (
	pieceRecords = 32
	pieceBytes   = 4096
)

// A scan reads the file in chunks, a view each: a small first one, for
// scans that stop early, then larger ones.
const (
	firstScanChunk = 64
	scanChunk      = 1024
)

// chunkBytes is the buffer a chunk of limit records fills before it ends
// early (room for records of about 128 bytes); a chunk always takes at
// least one record, whatever its size.
func chunkBytes(limit int) int { return limit * 128 }

// maxPooledBuffer bounds the buffer a chunk keeps for the next scan: one
// grown for a few large values is let go.
const maxPooledBuffer = 1 << 20

// fileChunk is one chunk of a scan read from the file. Record i is copied
// into buf as its key, its timestamp (8 bytes) and its value, in one
// piece, which is also what its checksum covers (see layout.go); keys-only
// chunks copy the key and the timestamp alone. The index arrays hold
// offsets, not slices, so that they hold no pointers. Every buffer is
// reused by the next chunk: what it holds is valid until then.
type fileChunk struct {
	buf  []byte
	ends []int    // end of record i in buf; it starts where i-1 ends
	klen []uint32 // key length of record i
	sums []uint32 // checksum record i carries
	last []byte   // a copy of the last record's key: where the next chunk resumes
	hi   []byte   // last followed by a zero byte: the first key after it
	from []byte   // the previous chunk's last, while the next one is read
	more bool     // the chunk stopped at its size, not at the range's end
	// keysOnly: values were neither copied nor verified.
	keysOnly bool
}

func (fc *fileChunk) len() int { return len(fc.ends) }

func (fc *fileChunk) start(i int) int {
	if i == 0 {
		return 0
	}
	return fc.ends[i-1]
}

// key and value return record i's key and value: capped subslices of buf,
// valid until the next chunk is read.
func (fc *fileChunk) key(i int) []byte {
	s := fc.start(i)
	e := s + int(fc.klen[i])
	return fc.buf[s:e:e]
}

func (fc *fileChunk) ts(i int) uint64 {
	s := fc.start(i) + int(fc.klen[i])
	return binary.BigEndian.Uint64(fc.buf[s:])
}

func (fc *fileChunk) value(i int) []byte {
	if fc.keysOnly {
		return nil
	}
	return fc.buf[fc.start(i)+int(fc.klen[i])+8 : fc.ends[i] : fc.ends[i]]
}

// chunkCache keeps chunks, buffers included, for the next scans. Not a
// sync.Pool: a collection empties a pool, and a scan that copies for its
// caller allocates enough to bring collections often; a chunk's buffer
// regrown from nothing is more garbage still.
var chunkCache = make(chan *fileChunk, 4*runtime.GOMAXPROCS(0))

func getChunk() *fileChunk {
	select {
	case fc := <-chunkCache:
		return fc
	default:
		return &fileChunk{ends: make([]int, 0, scanChunk), klen: make([]uint32, 0, scanChunk), sums: make([]uint32, 0, scanChunk)}
	}
}

func putChunk(fc *fileChunk) {
	if cap(fc.buf) > maxPooledBuffer {
		fc.buf = nil
	}
	select {
	case chunkCache <- fc:
	default:
	}
}

// readChunk reads up to limit records from the file into fc:
// ascending, those of [from, bound) (from excluded unless inclusive);
// descending, those of [bound, from) from the last down (nil from: from
// the file's last key). from may be fc.from, not fc.last.
func (db *DB) readChunk(from, bound []byte, inclusive, desc bool, limit int, fc *fileChunk) error {
	fc.buf, fc.ends, fc.klen, fc.sums, fc.more = fc.buf[:0], fc.ends[:0], fc.klen[:0], fc.sums[:0], false
	v, err := db.acquireView()
	if err != nil {
		return err
	}
	defer v.release()
	err = db.guard(func() error { return fc.read(v.view, from, bound, inclusive, desc, limit) })
	if n := fc.len(); err == nil && n > 0 {
		// A copy of its own: a caller lent the key may write to it.
		fc.last = append(fc.last[:0], fc.key(n-1)...)
		fc.hi = append(append(fc.hi[:0], fc.last...), 0)
	}
	return err
}

func (fc *fileChunk) read(v *view, from, bound []byte, inclusive, desc bool, limit int) error {
	c := v.data.Cursor()
	lc := v.leaf
	// verify: the records at the walk's edges are checked for renamed
	// keys; a keys-only walk checks no record (it never reads a value).
	verify := !fc.keysOnly
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
		if k, rec, err = seekChecked(c, &lc, from, verify); err != nil {
			return err
		}
		if k != nil && !inclusive && bytes.Equal(k, from) {
			k, rec = c.Next()
			if err := lc.next(k, rec); err != nil {
				return err
			}
		}
	}
	budget := chunkBytes(limit)
	buf := fc.buf
	// Kept on every return, so that the memory serves the next scan (a
	// chunk that failed is not used).
	defer func() { fc.buf = buf }()
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
				if verify {
					if _, _, err := decodeRecord(k, rec); err != nil {
						return err
					}
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
		body := rec[4:]
		if fc.keysOnly {
			body = rec[4:recordHeader]
		}
		if len(fc.ends) > 0 && len(buf)+len(k)+len(body) > budget {
			fc.more = true // the buffer is full: the next chunk goes on
			break
		}
		// Appending grows the buffer without zeroing what it copies.
		buf = append(buf, k...)
		buf = append(buf, body...)
		fc.ends = append(fc.ends, len(buf))
		fc.klen = append(fc.klen, uint32(len(k)))
		fc.sums = append(fc.sums, binary.BigEndian.Uint32(rec))
	}
	if k == nil {
		if err := lc.step(nil, nil, desc); err != nil {
			return err
		}
	}
	if verify {
		// In a loop of its own, the checksums of several records are
		// computed at once by the processor: each is a chain of
		// dependent instructions, independent of the next record's.
		s := 0
		for i, e := range fc.ends {
			if crc32.Checksum(buf[s:e], castagnoli) != fc.sums[i] {
				return fmt.Errorf("%w: record of key %s: checksum mismatch", ErrCorrupt, quoteKey(buf[s:s+int(fc.klen[i])]))
			}
			s = e
		}
	}
	return nil
}

// seekChecked positions c at the first key at or after from, as Seek,
// and checks what Seek cannot: that the record before is sound (when
// verify) and below from (as in getRecord: a renamed record where the
// walk starts would make Seek skip keys). It starts lc on the page it
// lands in.
func seekChecked(c *bolt.Cursor, lc *leafCheck, from []byte, verify bool) (k, rec []byte, err error) {
	k, _ = c.Seek(from)
	if pk, prec := c.Prev(); pk == nil {
		k, rec = c.Seek(from)
	} else {
		if bytes.Compare(pk, from) >= 0 {
			return nil, nil, fmt.Errorf("%w: key %s found before %s: keys out of order", ErrCorrupt, quoteKey(pk), quoteKey(from))
		}
		if verify {
			if _, _, err := decodeRecord(pk, prec); err != nil {
				return nil, nil, err
			}
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
// must hear of). keysOnly leaves the values of file records unread and
// unverified (value nil). It stops when fn returns false and returns the
// error that stopped it, if any.
//
// direct, if not nil, is called instead of fn for the file's records that
// are present at ts (most of them): with the item's key and value, as mode
// has them. It saves a caller with nothing to merge a call per key.
//
// Descending, a chunk's span is [its last key, where the previous chunk
// stopped), so the spans tile the range in both directions.
func (db *DB) scanStore(start, end []byte, ts uint64, all, desc bool, mode scanMode, fn func(*storeItem) bool, direct func(k, v []byte) bool) error {
	keysOnly, copies := mode == scanKeys, mode == scanCopies
	fc := getChunk()
	fc.keysOnly = keysOnly
	defer putChunk(fc)
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
	var item storeItem // what fn is passed, valid until it returns
	// copies and keysOnly: the chunk's records up to pieceTo are copied
	// in piece for the caller, from the record at offset base; took is how many the
	// last piece was cut for (it doubles with each piece the caller gets
	// to, up to pieceRecords).
	var piece []byte
	pieceTo, base, took := 0, 0, 1
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
			lo, hi = fc.last, from
		case desc:
			lo, hi = start, from
		case fc.more:
			hi = fc.hi
		}
		i := 0 // next file record to merge
		pieceTo = 0
		var ferr error
		// emitRecord passes on file record i, verified and visible at ts;
		// newer is what SSI must hear of it (from the index).
		emitRecord := func(i int, newer []uint64) bool {
			s := fc.start(i)
			ke, e := s+int(fc.klen[i]), fc.ends[i]
			k := fc.buf[s:ke:ke]
			// The key and value passed on: copies for the caller when
			// the mode wants them, cut from a piece that covers this
			// record and (when the caller kept going) the next few: one
			// allocation for several keys, sized to what the caller
			// takes, not to the chunk.
			pk, pv, owned := k, fc.buf[ke+8:e:e], false
			if copies || keysOnly {
				if i >= pieceTo {
					took = min(2*took, pieceRecords)
					pe := i + 1
					for pe < n && pe-i < took && fc.ends[pe]-s <= pieceBytes {
						pe++
					}
					piece, pieceTo, base = append([]byte{}, fc.buf[s:fc.ends[pe-1]]...), pe, s
				}
				o := s - base
				kl, vs, ve := o+ke-s, o+ke-s+8, o+e-s
				pk, pv, owned = piece[o:kl:kl], piece[vs:ve:ve], true
			}
			if keysOnly {
				pv = nil
			}
			if direct != nil {
				// No item built: a store of slices into it costs as
				// much as the rest of the step.
				return direct(pk, pv)
			}
			item = storeItem{key: pk, value: pv, present: true, owned: owned, newer: newer}
			return fn(&item)
		}
		// emitFile passes on the file's records below upto (all when nil).
		emitFile := func(upto []byte) bool {
			for ; i < n; i++ {
				s := fc.start(i)
				ke := s + int(fc.klen[i])
				k := fc.buf[s:ke:ke]
				if upto != nil && !before(k, upto) {
					return true
				}
				if binary.BigEndian.Uint64(fc.buf[ke:]) > ts {
					// Not held by the index a moment ago, yet newer than ts:
					// a commit that raced the walk; the point read settles it.
					val, ok, nw, err := db.readAt(k, ts)
					if err != nil {
						ferr = err
						return false
					}
					item = storeItem{key: k, value: val, present: ok, newer: nw}
					if (ok || all) && !fn(&item) {
						return false
					}
					continue
				}
				if !emitRecord(i, nil) {
					return false
				}
			}
			return true
		}
		stopped := false
		// Memory holding no version at all (the common case once vacuum
		// has run) has nothing to merge: the walk is skipped, as a point
		// read skips the index (Index.Lookup). A version installed after
		// this check is one of a commit the chunk, read before it, does
		// not hold, or holds newer than ts (settled above).
		if db.index.Versions() > 0 {
			walk(lo, hi, ts, all, func(it index.Item) bool {
				if !inclusive && bytes.Equal(it.Key, from) {
					return true
				}
				if !emitFile(it.Key) {
					stopped = true
					return false
				}
				inFile := i < n && bytes.Equal(fc.key(i), it.Key)
				v := it.Version
				if inFile && it.Visible && !v.Tombstone && fc.ts(i) == v.TS {
					// The version memory holds is the file's record (same
					// commit): passed on from the chunk, as the file's
					// records are, without copying memory's.
					i++
					if !emitRecord(i-1, it.Newer) {
						stopped = true
						return false
					}
					return true
				}
				item = storeItem{key: it.Key, newer: it.Newer}
				switch {
				case !it.Visible && it.Older:
					// Older versions went to the version store (spill.go).
					val, ok, nw, err := db.readAt(it.Key, ts)
					if err != nil {
						ferr = err
						stopped = true
						return false
					}
					item.value, item.present, item.newer = val, ok, nw
				case !it.Visible || v.Tombstone:
				case !v.InFile:
					item.value, item.present = v.Value, true
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
				if (item.present || all) && !fn(&item) {
					stopped = true
					return false
				}
				return true
			})
		}
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
		fc.from = append(fc.from[:0], fc.last...)
		from, inclusive = fc.from, false
	}
}
