package mvcc

import (
	"bytes"
	"encoding/binary"
	"sort"

	"github.com/mvkv/mvkv/index"
)

// Merging the file's chunks with memory.
//
// Each chunk read from the file (scanstore.go) is merged with the keys
// the index holds over the same span, walked after the chunk was read.
// Memory that holds nothing in the span (the common case once vacuum has
// run) costs one walk that finds nothing, per chunk: the chunk's records
// then go to the caller in one tight loop, and, when the caller has
// nothing to merge either (no own writes, no range to record), straight
// to its function, without an item built or a call per key but its own.

// Memory holding versions in the span is merged only where it differs
// from the chunk. A key whose newest version memory holds has TS at or
// below settled (both the scan's ts and the applied mark read before the
// chunk's view was taken) reads as the chunk's record: the view holds
// every commit up to that mark, and a commit installs its versions in
// memory before the file has them, so the chunk holds no version of the
// key newer than memory's newest, and none older than one the file held
// at the mark; the record is that version (none for a tombstone), visible
// at ts, with no newer version for SSI to hear of. The index's walk leaves
// such keys out (index.WalkUnsettled): memory holding every key's version
// right after a load, once applied, costs a comparison per key, and the
// keys it must merge (newer than the mark or ts) are merged one by one.

// fileSink takes the file's records present at the scan's snapshot
// straight to the caller of a scan that has nothing to merge into them
// and nothing to record (see scanRange).
type fileSink struct {
	yield   func(k, v []byte) bool
	tx      *Txn // whose scan: it stops when tx.scanEnded
	ended   bool // the scan stopped because the transaction ended
	stopped bool // yield returned false
	lend    bool // a borrowing scan: k and v are lent through scratch
	scratch []byte
}

// send passes k and v on, lent through the sink's scratch memory when the
// scan borrows (see merger.lend), and reports whether the scan goes on.
func (s *fileSink) send(k, v []byte) bool {
	if s.tx.scanEnded() {
		s.ended = true
		return false
	}
	if s.lend {
		n := len(k)
		s.scratch = append(append(s.scratch[:0], k...), v...)
		k, v = s.scratch[:n:n], s.scratch[n:len(s.scratch):len(s.scratch)]
	}
	if !s.yield(k, v) {
		s.stopped = true
		return false
	}
	return true
}

// storeScan is the state of one scanStore.
type storeScan struct {
	db        *DB
	fc        *fileChunk
	ts        uint64
	all, desc bool
	mode      scanMode
	fn        func(*storeItem) bool
	sink      *fileSink
	item      storeItem // what fn is passed, valid until it returns
	i         int       // the chunk's next record to pass on
	err       error     // what stopped the scan, if anything did
	atUpto    bool      // file(upto) stopped at a record of upto itself
	// Copies and keys-only scans: the copies of the chunk's records below
	// pieceTo go to piece; took is how many records the last
	// piece was sized for (it doubles with each piece the caller gets to,
	// up to pieceRecords).
	piece   []byte
	pieceAt int // where the next copy goes in piece
	pieceTo int
	took    int
}

// scanStore calls fn for the keys of [start, end) in ascending order (in
// descending order when desc is true), as the committed data stands at ts:
// every key with a version visible at ts, and, when all is true, the keys
// the index holds with none (absent at ts, but written after it: what SSI
// must hear of). Mode scanKeys leaves the values of file records unread
// and unverified (value nil). It stops when fn returns false and returns
// the error that stopped it, if any.
//
// sink, if not nil, takes instead of fn the file's records that are
// present at ts (most of them): their keys and values, as mode has them.
// It saves a caller with nothing to merge a call and an item per key.
//
// Descending, a chunk's span is [its last key, where the previous chunk
// stopped), so the spans tile the range in both directions.
func (db *DB) scanStore(start, end []byte, ts uint64, all, desc bool, mode scanMode, fn func(*storeItem) bool, sink *fileSink) error {
	fc := getChunk()
	fc.keysOnly = mode == scanKeys
	defer putChunk(fc)
	sc := storeScan{db: db, fc: fc, ts: ts, all: all, desc: desc, mode: mode, fn: fn, sink: sink, took: 1}
	from, inclusive, bound := start, true, end
	if desc {
		from, inclusive, bound = end, false, start
	}
	for limit := firstScanChunk; ; limit = nextChunk(limit) {
		// Read before the chunk's view is taken: that view holds every
		// commit up to it (view.go), so a key whose newest version is at
		// or below both it and ts has that version as the chunk's record,
		// which the chunk passes on as it is (see settled in the doc).
		settled := min(ts, db.applied.Load())
		if err := db.readChunk(from, bound, inclusive, desc, limit, fc); err != nil {
			return err
		}
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
		sc.i, sc.pieceTo = 0, 0
		stopped := false
		// Memory holding no version at all, or none newer than settled
		// (Index.MaxTS: the walk would leave out every key), has nothing
		// to merge: the walk is skipped, as a point read skips the index
		// (Index.Lookup). A version installed after this check is one of
		// a commit the chunk, read before it, does not hold, or holds
		// newer than ts (settled by sc.file).
		if db.index.Versions() > 0 && db.index.MaxTS() > settled {
			skipFrom := !inclusive // only the first key met can be from
			db.index.WalkUnsettled(lo, hi, ts, settled, all, desc, func(it index.Item) bool {
				if skipFrom {
					skipFrom = false
					if bytes.Equal(it.Key, from) {
						return true
					}
				}
				if !sc.memory(&it) {
					stopped = true
					return false
				}
				return true
			})
		}
		switch {
		case sc.err != nil:
			return sc.err
		case stopped:
			return nil
		case !sc.file(nil):
			return sc.err
		case !fc.more:
			return nil
		}
		fc.from = append(fc.from[:0], fc.last...)
		from, inclusive = fc.from, false
	}
}

// file passes on the chunk's records that come before upto (all when
// upto is nil), and reports whether the scan goes on.
func (sc *storeScan) file(upto []byte) bool {
	fc := sc.fc
	buf, recs := fc.buf, fc.recs
	stop := len(recs)
	if upto != nil {
		stop = sc.find(upto)
		sc.atUpto = stop < len(recs) && bytes.Equal(fc.key(stop), upto)
	}
	for ; sc.i < stop; sc.i++ {
		s := fc.start(sc.i)
		ke := s + recs[sc.i].klen
		if binary.BigEndian.Uint64(buf[ke:]) > sc.ts {
			// Not held by the index a moment ago, yet newer than ts: a
			// commit that raced the walk; the point read settles it.
			k := buf[s:ke:ke]
			val, ok, nw, err := sc.db.readAt(k, sc.ts)
			if err != nil {
				sc.err = err
				return false
			}
			sc.item = storeItem{key: k, value: val, present: ok, newer: nw}
			if (ok || sc.all) && !sc.fn(&sc.item) {
				return false
			}
			continue
		}
		if sk := sc.sink; sk != nil {
			// Nothing to merge, the step most taken: what record, cut and
			// fileSink.send do, spelled out (as calls they cost as much
			// as the rest of the step).
			if sk.tx.scanEnded() {
				sk.ended = true
				return false
			}
			e := recs[sc.i].end
			var k, v []byte
			switch {
			case sk.lend:
				// Lent in one copy, the timestamp skipped by the slices.
				if cap(sk.scratch) < e-s {
					sk.scratch = make([]byte, e-s)
				}
				lent := sk.scratch[:copy(sk.scratch[:cap(sk.scratch)], buf[s:e])]
				n, vs := ke-s, ke-s+8
				k, v = lent[:n:n], lent[vs:len(lent):len(lent)]
			default:
				if sc.i >= sc.pieceTo {
					sc.newPiece(sc.i)
				}
				o, piece := sc.pieceAt, sc.piece
				kl := o + copy(piece[o:], buf[s:ke])
				k, sc.pieceAt = piece[o:kl:kl], kl
				if sc.mode == scanCopies {
					ve := kl + copy(piece[kl:], buf[ke+8:e])
					v, sc.pieceAt = piece[kl:ve:ve], ve
				}
			}
			if !sk.yield(k, v) {
				sk.stopped = true
				return false
			}
			continue
		}
		if !sc.record(sc.i, nil) {
			return false
		}
	}
	return true
}

// find returns the first of the chunk's records from sc.i on that does
// not come before key in the scan's order (the chunk's length if none):
// a search that widens its step from sc.i, then halves it, so that a key
// memory holds near the last one costs a comparison or two, and one far
// from it (memory holding few keys of the span) a few, not one per
// record in between.
func (sc *storeScan) find(key []byte) int {
	fc := sc.fc
	before := func(i int) bool {
		c := bytes.Compare(fc.key(i), key)
		return !sc.desc && c < 0 || sc.desc && c > 0
	}
	lo, hi, n := sc.i, sc.i, fc.len()
	for step := 1; hi < n && before(hi); step *= 2 {
		lo, hi = hi+1, hi+step
	}
	hi = min(hi, n)
	// Every record of [sc.i, lo) comes before key; hi is n or does not.
	return lo + sort.Search(hi-lo, func(j int) bool { return !before(lo + j) })
}

// record passes on the chunk's record i, verified and visible at ts;
// newer is what SSI must hear of it (from the index).
func (sc *storeScan) record(i int, newer []uint64) bool {
	fc := sc.fc
	s, r := fc.start(i), fc.recs[i]
	ke := s + r.klen
	k, v, owned := fc.buf[s:ke:ke], fc.buf[ke+8:r.end:r.end], false
	if sc.mode != scanBorrowed {
		k, v = sc.cut(i, s)
		owned = true
	}
	if sc.sink != nil {
		return sc.sink.send(k, v)
	}
	sc.item = storeItem{key: k, value: v, present: true, owned: owned, newer: newer}
	return sc.fn(&sc.item)
}

// cut returns copies of record i's key and value (nil for a keys-only
// scan) for the caller, cut from a piece (see newPiece). s is where the
// record starts in the chunk's buffer.
func (sc *storeScan) cut(i, s int) ([]byte, []byte) {
	if i >= sc.pieceTo {
		sc.newPiece(i)
	}
	// Copied with copy at an offset, not appended: sc.piece, a pointer,
	// is stored once per piece, not once per record (each store of a
	// pointer in the heap costs a write barrier while a collection runs).
	fc := sc.fc
	r, o, piece := fc.recs[i], sc.pieceAt, sc.piece
	ke := s + r.klen
	kl := o + copy(piece[o:], fc.buf[s:ke])
	k := piece[o:kl:kl]
	if sc.mode == scanKeys {
		sc.pieceAt = kl
		return k, nil
	}
	ve := kl + copy(piece[kl:], fc.buf[ke+8:r.end])
	sc.pieceAt = ve
	return k, piece[kl:ve:ve]
}

// newPiece allocates the piece the copies of the chunk's records from i
// on are cut from: room for the keys and values of record i and, when
// the caller kept going, of the next few, and nothing else (no
// timestamps, no padding). One allocation serves several keys, sized to
// what the caller takes, not to the chunk.
func (sc *storeScan) newPiece(i int) {
	fc := sc.fc
	keysOnly := sc.mode == scanKeys
	sc.took = min(2*sc.took, pieceRecords)
	size, pe := fc.payload(i, keysOnly), i+1
	for ; pe < len(fc.recs) && pe-i < sc.took; pe++ {
		n := fc.payload(pe, keysOnly)
		if size+n > pieceBytes {
			break
		}
		size += n
	}
	// The records of the piece that are not passed on (newer than the
	// snapshot, or superseded by memory) leave room unused.
	sc.piece, sc.pieceAt, sc.pieceTo = make([]byte, size), 0, pe
}

// memory merges one key the index holds in the chunk's span: the file's
// records before it go first, then the key, from the chunk when memory's
// version is the file's record, else from memory (or the disk, which
// memory sends the reader to). It reports whether the scan goes on.
func (sc *storeScan) memory(it *index.Item) bool {
	sc.atUpto = false
	if !sc.file(it.Key) {
		return false
	}
	fc := sc.fc
	inFile := sc.atUpto // the chunk's next record is this key's
	v := it.Version
	if inFile && it.Visible && !v.Tombstone && fc.ts(sc.i) == v.TS {
		// The version memory holds is the file's record (same commit):
		// passed on from the chunk, as the file's records are, without
		// copying memory's.
		sc.i++
		return sc.record(sc.i-1, it.Newer)
	}
	sc.item = storeItem{key: it.Key, newer: it.Newer}
	switch {
	case !it.Visible && it.Older:
		// Older versions went to the version store (spill.go).
		val, ok, nw, err := sc.db.readAt(it.Key, sc.ts)
		if err != nil {
			sc.err = err
			return false
		}
		sc.item.value, sc.item.present, sc.item.newer = val, ok, nw
	case !it.Visible || v.Tombstone:
	case !v.InFile:
		sc.item.value, sc.item.present = v.Value, true
	default:
		val, ok, _, err := sc.db.readAt(it.Key, sc.ts)
		if err != nil {
			sc.err = err
			return false
		}
		sc.item.value, sc.item.present = val, ok
	}
	if inFile {
		sc.i++
	}
	if !sc.item.present && !sc.all {
		return true // absent at ts, and no one asks after such keys
	}
	return sc.fn(&sc.item)
}
