package mvcc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"runtime"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
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
// takes; ScanFunc copies each key and value into memory of its own that
// it lends for one step), so scans reuse it instead of allocating, zeroing and
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

// A Scan copies the keys and values of the file's records for its caller
// in pieces of up to pieceRecords records, at most pieceBytes long unless
// one record is longer (and what memory holds in blocks of at most
// pieceBytes, see merger.copyOut): a value the caller keeps holds on to at
// most that much memory. The record count bounds what a caller that stops
// early leaves unused (pieces grow as it goes on); keys alone fill a
// piece's bytes with many more records than values do.
const (
	pieceRecords = 512
	pieceBytes   = 4096
)

// A scan reads the file in chunks, a view each: a small first one, for
// scans that stop early, then each twice the one before, up to
// scanChunk. What a scan reads past where its caller stops is at most one
// chunk, each record of it copied and verified for nothing: 1,024-record
// chunks made a 100-key ScanFunc from an open start read 1,088 records
// (3.5 times slower than these, which read 192), while the chunks' own
// cost (a view, a checked seek) is small beside 256 records'.
const (
	firstScanChunk = 64
	scanChunk      = 256
)

// nextChunk is the limit of the chunk after one of limit records.
func nextChunk(limit int) int { return min(2*limit, scanChunk) }

// chunkBytes is the buffer a chunk of limit records fills before it ends
// early (room for records of about 128 bytes); a chunk always takes at
// least one record, whatever its size.
func chunkBytes(limit int) int { return limit * 128 }

// maxPooledBuffer bounds the buffer a chunk keeps for the next scan: one
// grown for a few large values is let go.
const maxPooledBuffer = 1 << 20

// fileChunk is one chunk of a scan read from the file. Record i is copied
// into buf as its key, its timestamp (8 bytes) and its value, in one
// piece, which is also what its checksum covers (see layout.go), at an
// offset aligned for the checksum (alignRecord); keys-only chunks copy
// the key and the timestamp alone. recs locates the records
// by offsets, not slices, so that it holds no pointers. Every buffer is
// reused by the next chunk: what it holds is valid until then.
type fileChunk struct {
	buf  []byte
	recs []chunkRec
	last []byte // a copy of the last record's key: where the next chunk resumes
	hi   []byte // last followed by a zero byte: the first key after it
	from []byte // the previous chunk's last, while the next one is read
	more bool   // the chunk stopped at its size, not at the range's end
	// keysOnly: values were neither copied nor verified.
	keysOnly bool
}

// chunkRec locates one record of a chunk in its buffer.
type chunkRec struct {
	end  int // where the record ends in buf (the next starts at alignRecord(end))
	klen int // its key's length
}

func (fc *fileChunk) len() int { return len(fc.recs) }

func (fc *fileChunk) start(i int) int {
	if i == 0 {
		return 0
	}
	return alignRecord(fc.recs[i-1].end)
}

// alignRecord is where a record goes in a chunk's buffer after one that
// ends at end: at the next multiple of 8. The processor's CRC-32C
// instruction takes 8 bytes at a time from an aligned address; a record
// that begins unaligned has its first bytes taken one by one, each as
// slow as eight.
func alignRecord(end int) int { return (end + 7) &^ 7 }

// recordPad pads a chunk's buffer to alignRecord.
var recordPad [8]byte

// key and value return record i's key and value: capped subslices of buf,
// valid until the next chunk is read.
func (fc *fileChunk) key(i int) []byte {
	s := fc.start(i)
	e := s + fc.recs[i].klen
	return fc.buf[s:e:e]
}

func (fc *fileChunk) ts(i int) uint64 {
	s := fc.start(i) + fc.recs[i].klen
	return binary.BigEndian.Uint64(fc.buf[s:])
}

// payload is how many bytes record i's key and value take (its key's
// alone when keysOnly).
func (fc *fileChunk) payload(i int, keysOnly bool) int {
	if keysOnly {
		return fc.recs[i].klen
	}
	return fc.recs[i].end - fc.start(i) - 8
}

func (fc *fileChunk) value(i int) []byte {
	if fc.keysOnly {
		return nil
	}
	e := fc.recs[i].end
	return fc.buf[fc.start(i)+fc.recs[i].klen+8 : e : e]
}

// chunkCache keeps chunks, buffers included, for the next scans. Not a
// sync.Pool: a collection empties a pool, and a scan that copies for its
// caller allocates enough to bring collections often; a chunk's buffer
// regrown from nothing is more garbage still. Nor a channel, whose lock
// every scan in the process would take twice: slots, each on a cache line
// of its own, emptied and filled with one atomic swap. A scan looks from
// a slot chosen at random (the runtime's per-thread generator) for a full
// one to take, and puts its chunk back in the first empty one from
// another: with about one chunk per running scan, a few looks find one.
var chunkCache = make([]chunkSlot, 4*runtime.GOMAXPROCS(0))

type chunkSlot struct {
	fc atomic.Pointer[fileChunk]
	_  [56]byte // the rest of its cache line
}

func getChunk() *fileChunk {
	n := uint32(len(chunkCache))
	for i, at := uint32(0), rand.Uint32(); i < n; i++ {
		slot := &chunkCache[(at+i)%n].fc
		if slot.Load() == nil {
			continue
		}
		if fc := slot.Swap(nil); fc != nil {
			return fc
		}
	}
	return &fileChunk{recs: make([]chunkRec, 0, scanChunk)}
}

func putChunk(fc *fileChunk) {
	if cap(fc.buf) > maxPooledBuffer {
		fc.buf = nil
	}
	n := uint32(len(chunkCache))
	for i, at := uint32(0), rand.Uint32(); i < n; i++ {
		slot := &chunkCache[(at+i)%n].fc
		if slot.Load() == nil && slot.CompareAndSwap(nil, fc) {
			return
		}
	}
}

// readChunk reads up to limit records from the file into fc:
// ascending, those of [from, bound) (from excluded unless inclusive);
// descending, those of [bound, from) from the last down (nil from: from
// the file's last key). from may be fc.from, not fc.last.
func (db *DB) readChunk(from, bound []byte, inclusive, desc bool, limit int, fc *fileChunk) error {
	fc.buf, fc.recs, fc.more = fc.buf[:0], fc.recs[:0], false
	v, err := db.acquireView()
	if err != nil {
		return err
	}
	defer v.release()
	// The stripe's cursor, as a point read takes it (view.go): no new
	// cursor per chunk, nor the shared count bbolt keeps of them.
	c := v.cursor()
	err = db.guard(func() error { return fc.read(v.view, c, from, bound, inclusive, desc, limit) })
	if err == nil {
		v.putCursor(c) // after a fault it may be mid-way: never reused
	}
	if n := fc.len(); err == nil && n > 0 {
		// A copy of its own: a caller lent the key may write to it.
		fc.last = append(fc.last[:0], fc.key(n-1)...)
		fc.hi = append(append(fc.hi[:0], fc.last...), 0)
	}
	return err
}

func (fc *fileChunk) read(v *view, c *bolt.Cursor, from, bound []byte, inclusive, desc bool, limit int) error {
	lc := v.leaf
	// verify: the records at the walk's edges are checked for renamed
	// keys; a keys-only walk checks no record (it never reads a value).
	verify := !fc.keysOnly
	var k, rec []byte
	switch {
	case desc:
		var err error
		if k, rec, err = seekDesc(c, &lc, from); err != nil {
			return err
		}
		lc.startDesc()
		if err := lc.prev(k, rec); err != nil {
			return err
		}
	case from == nil:
		k, rec = c.First()
		if err := lc.edge(k, false); err != nil {
			return err
		}
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
	buf, recs, keysOnly := fc.buf, fc.recs, fc.keysOnly
	// Kept on every return, so that the memory serves the next scan (a
	// chunk that failed is not used).
	defer func() { fc.buf, fc.recs = buf, recs }()
	// A damaged branch page can send the cursor to the wrong page: keys
	// must come strictly in order, past from. (A cursor never yields a
	// key twice in a sound tree, so the walk ends.) lc checks that each
	// leaf page yields all its records (see leafCheck).
	//
	// Within a leaf page the order needs no comparison when the records
	// are verified: a record that begins where the one before it ended
	// (descending: ends where it began) is the next of the same page (a
	// page's first key lies past its headers), and bbolt writes a page's
	// records in order. Damage that reorders them changes a key, which
	// its checksum covers, or an element's position or lengths, which
	// breaks that adjacency (then the order is compared) or moves the
	// boundary between key and value (the checksum again). A keys-only
	// walk, which verifies nothing, passes such damage on as it reads
	// (ScanKeys says so); it still compares at each page's first key,
	// where a wrong page would show.
	prev, prevInclusive := from, inclusive && !desc
	var edge uintptr // where the record before ends in the mapping (descending: begins)
	// noted: lc has counted the record the cursor is on.
	for noted := true; k != nil; noted = false {
		if !noted {
			if desc {
				k, rec = c.Prev()
			} else {
				k, rec = c.Next()
			}
			if k == nil {
				break
			}
		}
		at, size := addr(k), uintptr(len(k)+len(rec))
		adjacent := false
		if desc {
			adjacent, edge = at+size == edge, at
		} else {
			adjacent, edge = at == edge, at+size
		}
		switch {
		case noted:
		case adjacent:
			lc.c.Adjacent(edge)
		default:
			if err := lc.step(k, rec, desc); err != nil {
				return err
			}
		}
		if prev != nil && !adjacent {
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
		if len(recs) == limit {
			fc.more = true
			break
		}
		if len(rec) < recordHeader || len(rec) > recordHeader+MaxValueSize || len(k) > MaxKeySize {
			return checkRecordSize(k, rec)
		}
		body := rec[4:]
		if keysOnly {
			body = rec[4:recordHeader]
		}
		s := alignRecord(len(buf))
		if len(recs) > 0 && s+len(k)+len(body) > budget {
			fc.more = true // the buffer is full: the next chunk goes on
			break
		}
		// Appending grows the buffer without zeroing what it copies. The
		// padding is whatever the buffer held there.
		if s <= cap(buf) {
			buf = buf[:s]
		} else {
			buf = append(buf, recordPad[:s-len(buf)]...)
		}
		buf = append(buf, k...)
		buf = append(buf, body...)
		// Verified as soon as copied, while the record is at hand: the
		// checksum's chain of dependent instructions overlaps the walk's
		// next step.
		if !keysOnly && crc32.Checksum(buf[s:], castagnoli) != binary.BigEndian.Uint32(rec) {
			return fmt.Errorf("%w: record of key %s: checksum mismatch", ErrCorrupt, quoteKey(k))
		}
		recs = append(recs, chunkRec{end: len(buf), klen: len(k)})
	}
	if k == nil {
		if err := lc.step(nil, nil, desc); err != nil {
			return err
		}
	}
	return nil
}

// seekDesc positions c at the last key below from (nil: the last key),
// where a descending walk starts, and checks, as seekChecked does, that no
// damaged page between it and the key at or after from (or before the
// tree's end) hides keys of the range.
func seekDesc(c *bolt.Cursor, lc *leafCheck, from []byte) (k, rec []byte, err error) {
	if from == nil {
		k, rec = c.Last()
		return k, rec, lc.edge(k, true)
	}
	after, _ := c.Seek(from)
	if after == nil {
		k, rec = c.Last() // every key is below from
	} else {
		k, rec = c.Prev() // the key at or after from is excluded
	}
	switch {
	case k == nil:
		return nil, nil, lc.gap(from, nil, after)
	case after != nil && addr(after) == addr(k)+uintptr(len(k)+len(rec)):
		return k, rec, nil // side by side in one page
	}
	// On two pages: the page of k, where the walk starts, must be whole
	// (the walk checks only the pages it enters from above).
	lc.start(c, k, rec)
	if err := lc.pageDone(); err != nil {
		return nil, nil, err
	}
	if err := lc.gap(from, k, after); err != nil {
		return nil, nil, err
	}
	// Back on k, where the walk starts.
	again, _ := c.Seek(from)
	if again != nil {
		again, _ = c.Prev()
	} else {
		again, _ = c.Last()
	}
	if addr(again) != addr(k) {
		return nil, nil, fmt.Errorf("%w: seeking below %s twice found two records", ErrCorrupt, quoteKey(from))
	}
	return k, rec, nil
}

// seekChecked positions c at the first key at or after from, as Seek,
// and checks what Seek cannot: that the record before is sound (when
// verify) and below from (as in getRecord: a renamed record where the
// walk starts would make Seek skip keys), and, when the two are not side
// by side in one page, what getRecord checks of a miss between pages (a
// damaged page there would hide the first keys of the range). It starts
// lc on the page it lands in.
func seekChecked(c *bolt.Cursor, lc *leafCheck, from []byte, verify bool) (k, rec []byte, err error) {
	k, _ = c.Seek(from)
	if pk, prec := c.Prev(); pk == nil {
		k, rec = c.Seek(from)
		if err := lc.gap(from, nil, k); err != nil {
			return nil, nil, err
		}
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
		if k == nil || addr(k) != addr(pk)+uintptr(len(pk)+len(prec)) {
			// On two pages: as in getRecord, the one before must be
			// whole and the page from belongs to one of the two.
			if again, _ := c.Seek(pk); addr(again) != addr(pk) { // lc.start begins on pk
				return nil, nil, fmt.Errorf("%w: seeking %s twice found two records", ErrCorrupt, quoteKey(pk))
			}
			lc.start(c, pk, prec)
			if err := lc.pageDone(); err != nil {
				return nil, nil, err
			}
			if err := lc.gap(from, pk, k); err != nil {
				return nil, nil, err
			}
			c.Seek(from) // back on k, for lc.start below
		}
	}
	if k != nil {
		lc.start(c, k, rec)
		if again, _ := c.Seek(k); addr(again) != addr(k) {
			return nil, nil, fmt.Errorf("%w: seeking %s twice found two records", ErrCorrupt, quoteKey(k))
		}
	}
	return k, rec, nil
}
