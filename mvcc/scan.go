package mvcc

import (
	"bytes"
	"iter"
	"slices"
)

// Scan yields the keys in [start, end) visible to the transaction, with
// their values, in ascending order; nil start or end is unbounded. The
// transaction's own writes are included. Breaking out of the loop is
// allowed. A finished transaction or closed DB yields nothing; one that
// ends during the loop (its Commit or Rollback, the DB's Close) yields no
// further key, its own writes included.
//
// The keys and values yielded are copies the caller owns, each capped to
// its length. Neighbours share one allocation of at most 4 KiB (unless
// one key and value are larger): a value kept for long keeps up to that
// much memory alive; bytes.Clone it to keep only its own bytes.
// ScanFunc copies nothing for keeps, ScanKeys reads no value.
//
// Under Serializable the range read is recorded (up to where the loop
// stopped), so that a concurrent insert into it is a conflict. A
// serialization failure found while scanning does not cut the scan short:
// it is reported by the transaction's next call (or Commit), and by Err.
func (tx *Txn) Scan(start, end []byte) iter.Seq2[[]byte, []byte] {
	return tx.scan(start, end, false)
}

// ScanReverse yields the keys in [start, end) visible to the transaction,
// with their values, in descending order: from the last key below end
// down to start. nil start or end is unbounded. Everything else is as for
// Scan: own writes included, the range recorded under Serializable (down
// to where the loop stopped), breaking out allowed.
func (tx *Txn) ScanReverse(start, end []byte) iter.Seq2[[]byte, []byte] {
	return tx.scan(start, end, true)
}

// ScanPrefix yields the keys that begin with prefix, in ascending order,
// as Scan does. An empty prefix yields every key.
func (tx *Txn) ScanPrefix(prefix []byte) iter.Seq2[[]byte, []byte] {
	if len(prefix) == 0 {
		return tx.scan(nil, nil, false)
	}
	return tx.scan(prefix, PrefixEnd(prefix), false)
}

func (tx *Txn) scan(start, end []byte, desc bool) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		_ = tx.scanRange(start, end, desc, scanCopies, yield)
	}
}

// scanMode is what a scan hands its caller.
type scanMode uint8

const (
	scanCopies   scanMode = iota // keys and values the caller owns (Scan)
	scanBorrowed                 // keys and values valid for one step (ScanFunc)
	scanKeys                     // keys the caller owns; values never read (ScanKeys)
)

// scanRange runs a scan of [start, end) for the transaction, calling
// yield for each key in order (values nil for scanKeys) until it returns
// false. It returns an error only when the transaction could not scan at
// all or ended during the scan; a serialization failure found while
// scanning does not end it (Err and the next call report it).
func (tx *Txn) scanRange(start, end []byte, desc bool, mode scanMode, yield func([]byte, []byte) bool) error {
	tx.mu.Lock()
	if err := tx.usable(); err != nil {
		tx.mu.Unlock()
		return err
	}
	var ts uint64
	if tx.locking {
		if err := tx.lockRange(start, end); err != nil {
			tx.mu.Unlock()
			return err // Err reports it too
		}
		ts = tx.latest()
	} else {
		ts = tx.snapshot()
	}
	// The chunks read the data in views newer than the applied mark now;
	// until the scan ends, a spill lets go whole no key whose newest
	// version such a view may lack (Oracle.ViewHorizon): a key memory no
	// longer holds is one the chunk has right.
	if tx.scans.Add(1) == 1 {
		tx.slot.ScanFrom(tx.db.oracle.Applied())
	}
	defer func() {
		if tx.scans.Add(-1) == 0 {
			tx.slot.ScanDone()
		}
	}()
	// Our own writes in range, copied so that writes made while the
	// caller loops do not disturb the iteration.
	var own []*write
	if all := tx.sortedWrites(); len(all) > 0 {
		lo, _ := slices.BinarySearchFunc(all, start, cmpWriteKey)
		hi := len(all)
		if end != nil {
			hi, _ = slices.BinarySearchFunc(all, end, cmpWriteKey)
		}
		own = slices.Clone(all[lo:max(lo, hi)])
		if desc {
			slices.Reverse(own)
		}
	}
	ranged := -1
	if tx.ser != nil {
		ranged = tx.ser.RecordRange(start, end)
	}
	tx.mu.Unlock()

	m := merger{own: own, yield: yield, desc: desc, mode: mode, tx: tx}
	var last []byte // the key the caller's loop stopped at
	walkedAll := true
	var sink *fileSink
	if len(own) == 0 && tx.ser == nil {
		// Nothing to merge, nothing to record: what the file yields
		// goes to the caller at once.
		sink = &fileSink{yield: yield, tx: tx, lend: mode == scanBorrowed}
	}
	scanStore := tx.db.scanStore
	if tx.asOf {
		// As of a past time: keys live on in the version store too.
		scanStore = func(start, end []byte, ts uint64, _, desc bool, _ scanMode, fn func(*storeItem) bool, _ *fileSink) error {
			return tx.db.scanHistory(start, end, ts, desc, fn)
		}
	}
	err := scanStore(start, end, ts, tx.ser != nil, desc, mode, func(it *storeItem) bool {
		if tx.scanEnded() {
			walkedAll = false
			return false
		}
		if tx.ser != nil && len(it.newer) > 0 {
			// Dooms the transaction on a dangerous structure; the
			// failure surfaces at its next call.
			_ = tx.db.ssi.ReadNewer(tx.ser, it.newer)
		}
		if !m.item(it) {
			walkedAll = false
			last = bytes.Clone(it.key)
			return false
		}
		return true
	}, sink)
	if sink != nil && (sink.ended || sink.stopped) {
		walkedAll, m.stopped = false, sink.stopped
	}
	if err != nil {
		// A damaged record: the transaction cannot go on reading a
		// state it cannot trust. Err and the next call report it.
		tx.mu.Lock()
		tx.corrupt = err
		tx.finish()
		err = tx.usable()
		tx.mu.Unlock()
		return err
	}
	if walkedAll && !m.stopped && !tx.scanEnded() {
		m.rest()
	}
	// Only the part of the range the loop consumed was read. (A loop
	// ended by the transaction's end narrows nothing: the whole range
	// stays recorded, which is only more cautious.)
	switch {
	case tx.ser == nil || walkedAll || last == nil:
	case desc:
		tx.ser.NarrowRangeStart(ranged, last)
	default:
		tx.ser.NarrowRange(ranged, last)
	}
	if tx.done.Load() {
		return tx.Err()
	}
	return nil
}

// scanEnded reports whether the transaction can no longer yield a scan's
// keys: it ended (during the scan, by the caller's own Commit or Rollback,
// say), or its DB was closed. A scan stops at the next key.
func (tx *Txn) scanEnded() bool { return tx.done.Load() || tx.db.closed.Load() }

// merger merges a transaction's own writes (sorted in the scan's order)
// into a store scan, and hands the caller what its mode promises.
type merger struct {
	tx      *Txn // whose scan: it stops when the transaction ends
	own     []*write
	yield   func([]byte, []byte) bool
	desc    bool
	stopped bool
	mode    scanMode
	// scratch holds what a borrowing scan lends, for one step (see lend).
	scratch []byte
	// block is what copyOut cuts copies from; blockSize its last size.
	block     []byte
	blockSize int
}

// emit yields k and v as the mode promises (owned: they are copies made
// for the caller already).
func (m *merger) emit(k, v []byte, owned bool) bool {
	switch {
	case m.mode == scanKeys && !owned:
		k, v = m.copyOut(k, nil)
	case m.mode == scanCopies && !owned:
		k, v = m.copyOut(k, v)
	case m.mode == scanBorrowed:
		k, v = m.lend(k, v)
	}
	if !m.yield(k, v) {
		m.stopped = true
		return false
	}
	return true
}

// lend copies k and v into the scan's scratch memory, for one step. Lent
// memory is the scan's alone: never a buffer another scan reuses (a
// caller that keeps what it was lent may write to it after the scan),
// never memory that others read (the index's, the transaction's writes).
func (m *merger) lend(k, v []byte) ([]byte, []byte) {
	n := len(k)
	m.scratch = append(append(m.scratch[:0], k...), v...)
	return m.scratch[:n:n], m.scratch[n:len(m.scratch):len(m.scratch)]
}

// copyOut returns copies of k and v for the caller (v empty but non-nil
// when empty), each capped to its length, cut from a block that several
// copies share, as the file's records share pieces (see pieceRecords): one
// allocation for many keys held in memory. Blocks grow from 256 bytes to
// pieceBytes as the caller keeps taking, so a short scan allocates little.
func (m *merger) copyOut(k, v []byte) ([]byte, []byte) {
	n := len(k) + len(v)
	if cap(m.block)-len(m.block) < n {
		m.blockSize = min(max(2*m.blockSize, 256), pieceBytes)
		m.block = make([]byte, 0, max(n, m.blockSize))
	}
	s := len(m.block)
	m.block = append(append(m.block, k...), v...)
	ke := s + len(k)
	return m.block[s:ke:ke], m.block[ke:len(m.block):len(m.block)]
}

// before yields the own writes that come before key in the scan's order
// (all when key is nil).
func (m *merger) before(key []byte) bool {
	for len(m.own) > 0 && (key == nil || m.precedes(m.own[0].key, key)) {
		if m.tx.scanEnded() {
			m.stopped = true
			return false
		}
		w := m.own[0]
		m.own = m.own[1:]
		if !w.tombstone && !m.emit(w.key, w.value, false) {
			return false
		}
	}
	return true
}

func (m *merger) precedes(a, b []byte) bool {
	c := bytes.Compare(a, b)
	return !m.desc && c < 0 || m.desc && c > 0
}

func (m *merger) rest() { m.before(nil) }

// item yields one scanned key, or our own write of it, which shadows it.
func (m *merger) item(it *storeItem) bool {
	if len(m.own) > 0 {
		if !m.before(it.key) {
			return false
		}
		if len(m.own) > 0 && bytes.Equal(m.own[0].key, it.key) {
			w := m.own[0]
			m.own = m.own[1:]
			if w.tombstone {
				return true
			}
			return m.emit(w.key, w.value, false)
		}
	}
	if !it.present {
		return true
	}
	return m.emit(it.key, it.value, it.owned)
}
