package txn

import (
	"bytes"
	"slices"
	"sort"
)

// What a serializable transaction read: point reads and ranges, recorded
// before the lookup they describe (see SSI for why), each under the
// transaction's own lock, which nobody else takes except a commit's
// check of this transaction's reads: readers on different cores never
// share a lock here.

// AdvanceSnapshot moves t's snapshot forward to ts. A locking
// (two-phase) transaction reads the newest committed data under its locks,
// so what it may have seen is bounded by its latest read, not by its
// begin: the read-only rule must not assume it missed a commit it saw.
// Only t's own goroutine calls it.
func (t *SerTxn) AdvanceSnapshot(ts uint64) {
	if ts > t.snapshot.Load() {
		t.snapshot.Store(ts)
	}
}

// RecordKey notes that t read key. Call it before looking the key up.
func (t *SerTxn) RecordKey(key []byte) {
	if t.safe {
		return
	}
	t.mu.Lock()
	if t.points == nil && len(t.few) < smallReadSet {
		if !slices.ContainsFunc(t.few, func(k []byte) bool { return bytes.Equal(k, key) }) {
			if t.few == nil {
				t.few = make([][]byte, 0, smallReadSet)
				t.arena = make([]byte, 0, 16*smallReadSet)
			}
			n := len(t.arena)
			t.arena = append(t.arena, key...)
			t.few = append(t.few, t.arena[n:len(t.arena):len(t.arena)])
		}
		t.mu.Unlock()
		return
	}
	if t.points == nil {
		t.points = make(map[string]struct{}, 2*smallReadSet)
		for _, k := range t.few {
			t.points[string(k)] = struct{}{}
		}
		t.few, t.arena = nil, nil
	}
	if _, ok := t.points[string(key)]; !ok {
		t.points[string(key)] = struct{}{}
	}
	t.mu.Unlock()
}

// smallReadSet is how many point reads are kept in a slice before a map
// pays off.
const smallReadSet = 8

// RecordRange notes that t read [start, end) and returns a handle for
// NarrowRange. Call it before walking the range.
func (t *SerTxn) RecordRange(start, end []byte) int {
	if t.safe {
		return -1
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ranges = append(t.ranges, keyRange{start: bytes.Clone(start), end: bytes.Clone(end)})
	return len(t.ranges) - 1
}

// NarrowRange shrinks a recorded range to [start, last] once the walk
// stopped early at last: keys after it were never read.
func (t *SerTxn) NarrowRange(h int, last []byte) {
	if h < 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	end := append(bytes.Clone(last), 0) // the successor of last
	t.ranges[h].end = end
}

// NarrowRangeStart shrinks a recorded range to [first, end) once a
// descending walk stopped early at first: keys below it were never read.
func (t *SerTxn) NarrowRangeStart(h int, first []byte) {
	if h < 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ranges[h].start = bytes.Clone(first)
}

// Doom marks t as failed: its next call reports a serialization failure.
func (t *SerTxn) Doom() {
	t.mu.Lock()
	t.doomed = true
	t.mu.Unlock()
}

// Doomed reports whether t was doomed.
func (t *SerTxn) Doomed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.doomed
}

// readsAny reports whether t read any of keys (sorted). Called with t.mu held.
func (t *SerTxn) readsAny(keys [][]byte) bool {
	for _, k := range t.few {
		if _, found := slices.BinarySearchFunc(keys, k, bytes.Compare); found {
			return true
		}
	}
	if len(t.points) > 0 {
		for _, k := range keys {
			if _, ok := t.points[string(k)]; ok {
				return true
			}
		}
	}
	for _, r := range t.ranges {
		i := 0
		if r.start != nil {
			i = sort.Search(len(keys), func(i int) bool { return bytes.Compare(keys[i], r.start) >= 0 })
		}
		if i < len(keys) && (r.end == nil || bytes.Compare(keys[i], r.end) < 0) {
			return true
		}
	}
	return false
}
