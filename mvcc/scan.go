package mvcc

import (
	"bytes"
	"iter"
	"slices"
)

// Scan yields the keys in [start, end) visible to the transaction, with
// their values, in ascending order; nil start or end is unbounded. The
// transaction's own writes are included. Breaking out of the loop is
// allowed. A finished transaction or closed DB yields nothing.
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
	return tx.scan(prefix, prefixEnd(prefix), false)
}

// prefixEnd returns the first key after every key that begins with
// prefix, or nil when there is none (prefix is all 0xff bytes).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func (tx *Txn) scan(start, end []byte, desc bool) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		tx.mu.Lock()
		if tx.usable() != nil {
			tx.mu.Unlock()
			return
		}
		var ts uint64
		if tx.locking {
			if tx.lockRange(start, end) != nil {
				tx.mu.Unlock()
				return // Err reports the failure
			}
			ts = tx.latest()
		} else {
			ts = tx.snapshot()
		}
		tx.scans.Add(1)
		defer tx.scans.Add(-1)
		// Our own writes in range, copied so that writes made while the
		// caller loops do not disturb the iteration.
		all := tx.sortedWrites()
		lo, _ := slices.BinarySearchFunc(all, start, cmpWriteKey)
		hi := len(all)
		if end != nil {
			hi, _ = slices.BinarySearchFunc(all, end, cmpWriteKey)
		}
		own := slices.Clone(all[lo:max(lo, hi)])
		if desc {
			slices.Reverse(own)
		}
		ranged := -1
		if tx.ser != nil {
			ranged = tx.ser.RecordRange(start, end)
		}
		tx.mu.Unlock()

		m := merger{own: own, yield: yield, desc: desc}
		var last []byte
		walkedAll := true
		scanStore := tx.db.scanStore
		if tx.asOf {
			scanStore = func(start, end []byte, ts uint64, _, desc bool, fn func(storeItem) bool) error {
				return tx.db.scanHistory(start, end, ts, desc, fn)
			}
		}
		err := scanStore(start, end, ts, tx.ser != nil, desc, func(it storeItem) bool {
			if tx.done.Load() {
				walkedAll = false
				return false
			}
			last = it.key
			if tx.ser != nil && len(it.newer) > 0 {
				// Dooms the transaction on a dangerous structure; the
				// failure surfaces at its next call.
				_ = tx.db.ssi.ReadNewer(tx.ser, it.newer)
			}
			if !m.item(it) {
				walkedAll = false
				return false
			}
			return true
		})
		if err != nil {
			// A damaged record: the transaction cannot go on reading a
			// state it cannot trust. Err and the next call report it.
			tx.mu.Lock()
			tx.corrupt = err
			tx.finish()
			tx.mu.Unlock()
			return
		}
		if walkedAll && !m.stopped && !tx.done.Load() {
			m.rest()
		}
		// Only the part of the range the loop consumed was read.
		switch {
		case tx.ser == nil || walkedAll || last == nil:
		case desc:
			tx.ser.NarrowRangeStart(ranged, last)
		default:
			tx.ser.NarrowRange(ranged, last)
		}
	}
}

// merger merges a transaction's own writes (sorted in the scan's order)
// into a store scan.
type merger struct {
	own     []*write
	yield   func([]byte, []byte) bool
	desc    bool
	stopped bool
}

// before yields the own writes that come before key in the scan's order
// (all when key is nil).
func (m *merger) before(key []byte) bool {
	for len(m.own) > 0 && (key == nil || m.precedes(m.own[0].key, key)) {
		w := m.own[0]
		m.own = m.own[1:]
		if !w.tombstone && !m.yield(bytes.Clone(w.key), cloneValue(w.value)) {
			m.stopped = true
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
func (m *merger) item(it storeItem) bool {
	if !m.before(it.key) {
		return false
	}
	k, v, present := it.key, it.value, it.present
	if len(m.own) > 0 && bytes.Equal(m.own[0].key, it.key) {
		w := m.own[0]
		m.own = m.own[1:]
		v, present = cloneValue(w.value), !w.tombstone
	}
	if present && !m.yield(k, v) {
		m.stopped = true
		return false
	}
	return true
}
