package txn

import (
	"bytes"
	"errors"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// SSI makes snapshot isolation serializable (Serializable Snapshot
// Isolation: Cahill, Röhm & Fekete, SIGMOD 2008; Ports & Grittner, VLDB
// 2012) without making readers wait.
//
// Snapshot isolation admits exactly one kind of non-serializable history:
// one whose dependency graph has a cycle with two consecutive
// rw-antidependencies, T_in -rw-> T_pivot -rw-> T_out ("T_in read
// something T_pivot wrote later, without seeing it; T_pivot read something
// T_out wrote later"). SSI aborts a transaction whenever such a dangerous
// structure forms among concurrent serializable transactions, and only
// then, with the commit-order refinement of Ports & Grittner: the
// structure can close a cycle only if T_out commits first of the three,
// and, when T_in is read-only, only if T_out committed before T_in took
// its snapshot.
//
// What is tracked. Each serializable transaction records what it read:
// keys (Get, GetForUpdate) and key ranges (Scan bounds, narrowed to what
// the loop consumed, including ranges that found nothing), so a later
// write into a scanned range is a conflict: phantoms are caught. For each
// transaction SSI keeps minOut, the earliest commit timestamp among the
// transactions it has an rw edge to (the best T_out candidate).
//
// Where edges are found. Writes are buffered until commit, so an rw edge
// R -> W is found at one of two moments: when W commits (CheckCommit, run
// by the commit pipeline after W's versions are in the index, looks up W's
// keys in every concurrent reader's reads and registers W) or, if R reads
// after that, at that read (ReadNewer: the index reports versions newer
// than R's snapshot, and W is registered). Every edge is found by one side
// or the other: R records a read (under R's lock) before its index lookup,
// and CheckCommit holds SSI's lock from its look at R's reads (under R's
// lock) to W's registration. If R's record comes first, CheckCommit sees
// it; if it comes after CheckCommit looked, R's lookup comes after W's
// versions were added and its ReadNewer after W was registered.
//
// R may also meet W's versions before CheckCommit has run for W. Then R
// takes an out edge to W's timestamp (minOut) without finding W's record;
// if CheckCommit then refuses W, that edge points at a transaction that
// never committed: a false positive R may pay for later, never a missed
// edge.
//
// Where aborts happen. A committing pivot whose readers and earlier
// committed T_out form a dangerous structure fails its commit. A reader
// that, at a read, becomes T_in of a committed pivot fails at that read
// (or, for Scan, at its next call). Nothing else aborts.
//
// Read-only transactions. A transaction declared read-only that begins
// while no read-write serializable transaction is active has a safe
// snapshot: no dangerous structure can have it as T_in (its T_out would
// have to commit before its snapshot yet be concurrent with a pivot that
// began after it), so it is not tracked and never aborts. Otherwise the
// read-only rule above spares it from most structures.
//
// Bounded state. A committed transaction's reads are kept while some
// active serializable transaction overlaps it (the read-only anomaly needs
// the reads of committed transactions) and dropped as soon as none does.
// A long-running transaction would keep every transaction committed during
// its life; past maxRetained, the older half is folded into one summary
// record (the union of their reads, the latest of their commit positions,
// the earliest of their pivots' out-edges), as PostgreSQL summarizes old
// committed transactions. Folding loses precision, never conflicts: the
// memory kept is then bounded by the keys and ranges read, not by time.
//
// False positives accepted. minOut keeps only the earliest T_out, which is
// exact for the rule; but edges are per key and per range, not per value,
// so a write of an unchanged value, or a write into a scanned range
// outside the rows the reader cared about, counts as a conflict; a
// transaction whose commit fails on I/O after its check leaves its edges
// behind until the readers end; a reader that meets the versions of a
// writer whose check then fails keeps an edge to it (see above); and the
// read-only rule is applied to
// undeclared read-only transactions only once they have committed.
// Transactions at other levels are not protected: their reads are not
// tracked (their writes still count as T_out for serializable readers).
//
// Locking (two-phase) serializable transactions are tracked too, so that
// they and SSI transactions stay serializable together: their reads and
// ranges are recorded like anyone's, with a snapshot advanced to each
// read (AdvanceSnapshot), and never on a safe snapshot. Since every
// writer waits for their shared locks, nobody commits a key or range they
// read while they run: they never gain an out edge before they end, so
// they are never a pivot and SSI never aborts them; they appear only as
// T_in or T_out of a structure whose pivot is an SSI transaction.
type SSI struct {
	mu        sync.Mutex
	active    map[*SerTxn]struct{} // tracked serializable transactions not yet ended
	activeRW  int                  // of those, how many are not declared read-only
	committed []*SerTxn            // ended and committed, still overlapping someone
	writers   map[uint64]*SerTxn   // commit ts -> tracked writer (active or committed)
	pruneAt   int                  // prune committed once it grows past this

	// When a long-running transaction keeps too many committed ones
	// alive, the oldest are folded into summary (their reads merged, their
	// commit positions replaced by the latest of them) and, for their role
	// as pivots, into foldedMaxTS/foldedMinOut. Both only add conflicts.
	summary      *SerTxn
	foldedMaxTS  uint64 // newest commit ts of a folded writer
	foldedMinOut uint64 // earliest minOut below its own ts among folded writers; 0: none
}

// maxRetained is how many committed transactions SSI keeps in full before
// folding the older half into the summary.
const maxRetained = 4096

// SerTxn is SSI's record of one serializable transaction.
type SerTxn struct {
	snapshot atomic.Uint64 // set once at begin, before any read (0 until then: the oldest possible)
	readOnly bool          // declared read-only
	safe     bool          // read-only on a safe snapshot: not tracked

	// Guarded by SSI.mu:
	commitPos uint64 // 0 while active; 2*ts for a writer, 2*v+1 for a read-only commit after ts v
	wrote     bool

	mu     sync.Mutex // guards the fields below
	few    [][]byte   // keys read, while there are few of them (into arena)
	arena  []byte
	points map[string]struct{}
	ranges []keyRange
	minOut uint64 // earliest commit ts of a transaction this one has an rw edge to; 0: none
	doomed bool
}

type keyRange struct{ start, end []byte } // [start, end); nil: unbounded

// ErrSerialization is returned when committing or reading would complete
// a dangerous structure. Package mvcc reports it as a *mvcc.ConflictError
// of kind SerializationFailure, which matches both mvcc.ErrConflict and
// this error.
var ErrSerialization = errors.New("mvkv: serialization failure")

// NewSSI returns an empty tracker.
func NewSSI() *SSI {
	return &SSI{active: make(map[*SerTxn]struct{}), writers: make(map[uint64]*SerTxn)}
}

// Begin registers t, a new (zero) serializable transaction record; snap
// takes its snapshot. A read-write transaction is registered before its
// snapshot is taken; a read-only one takes its snapshot under the lock that
// guards the count of active read-write transactions. That makes the
// safe-snapshot test sound: a read-write transaction the read-only one
// does not count either took its snapshot later or had already committed
// inside the read-only one's snapshot.
func (s *SSI) Begin(t *SerTxn, readOnly bool, snap func() uint64) {
	t.readOnly = readOnly
	s.mu.Lock()
	if readOnly {
		// The snapshot is taken under s.mu: a read-write transaction that
		// ends (End also takes s.mu) before this has its commit inside the
		// snapshot, and one that ends after is still counted in activeRW.
		t.snapshot.Store(snap())
		if s.activeRW == 0 {
			s.mu.Unlock()
			t.safe = true
			return
		}
	}
	s.active[t] = struct{}{}
	if !readOnly {
		s.activeRW++
	}
	s.mu.Unlock()
	if !readOnly {
		t.snapshot.Store(snap())
	}
}

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

// effectivelyReadOnly: declared read-only, or committed without writing.
// Called with s.mu held.
func (t *SerTxn) effectivelyReadOnly() bool {
	return t.readOnly || (t.commitPos != 0 && !t.wrote)
}

// dangerous reports whether in -rw-> pivot -rw-> out, where out committed
// at outTS (before the pivot), can be part of a cycle. Called with s.mu held.
func dangerous(in *SerTxn, outTS uint64) bool {
	if in.commitPos != 0 && 2*outTS > in.commitPos {
		return false // T_out committed after T_in (equal: they are one transaction, a 2-cycle)
	}
	if in.effectivelyReadOnly() && outTS > in.snapshot.Load() {
		return false // a read-only T_in did not see T_out: no cycle through it
	}
	return true
}

// ReadNewer is called when t read a key (or walked a range) in which
// versions newer than its snapshot exist, committed at the given
// timestamps: t has an rw edge to each of their writers. If one of them is
// a committed pivot whose T_out committed first, t would close a dangerous
// structure as T_in, and ReadNewer fails (t is doomed).
func (s *SSI) ReadNewer(t *SerTxn, newer []uint64) error {
	if t.safe || len(newer) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t.mu.Lock()
	if t.minOut == 0 || newer[0] < t.minOut {
		t.minOut = newer[0]
	}
	t.mu.Unlock()
	for _, ts := range newer {
		p := s.writers[ts]
		if p == nil && ts <= s.foldedMaxTS && s.foldedMinOut != 0 && s.foldedMinOut < ts && dangerous(t, s.foldedMinOut) {
			t.Doom() // a folded writer may have been such a pivot
			return ErrSerialization
		}
		if p == nil || p == t {
			continue
		}
		p.mu.Lock()
		out := p.minOut
		p.mu.Unlock()
		if out != 0 && out < ts && dangerous(t, out) {
			t.Doom()
			return ErrSerialization
		}
	}
	return nil
}

// CheckCommit decides whether a transaction writing keys (sorted) may
// commit at ts. rec is its SSI record, nil when it is not serializable;
// snapshot is its snapshot. It finds the rw edges into the writer from
// every concurrent reader; if rec is a pivot of a dangerous structure the
// commit is refused with ErrSerialization and nothing is recorded.
// Otherwise the edges are recorded and rec is registered as the writer at
// ts. The commit pipeline calls it for every committing transaction, in
// commit order, after adding its versions to the index (see the package
// comment for why that order finds every edge).
func (s *SSI) CheckCommit(rec *SerTxn, snapshot, ts uint64, keys [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.active) == 0 && (rec == nil || len(s.committed) == 0) {
		return nil
	}
	var in []*SerTxn
	check := func(r *SerTxn) {
		if r == rec || (r.commitPos != 0 && r.commitPos <= 2*snapshot) {
			return // itself, or committed before the writer's snapshot
		}
		r.mu.Lock()
		if r.readsAny(keys) {
			in = append(in, r)
		}
		r.mu.Unlock()
	}
	for r := range s.active {
		check(r)
	}
	// The edges from active readers are recorded: each may yet become a
	// pivot, with this writer as its T_out.
	active := len(in)
	if rec != nil {
		rec.mu.Lock()
		out, doomed := rec.minOut, rec.doomed
		rec.mu.Unlock()
		if doomed {
			return ErrSerialization
		}
		if out != 0 && out < ts {
			// rec has an edge out to a transaction that committed
			// first: it is a pivot if a concurrent reader, active or
			// committed, has an edge in. Committed readers matter only
			// here: an edge from one to rec never makes that reader a
			// pivot, since rec commits after it. So a writer without
			// such an out edge, the common case, skips them all.
			for _, r := range s.committed {
				check(r)
			}
			if s.summary != nil {
				check(s.summary)
			}
			for _, r := range in {
				if dangerous(r, out) {
					return ErrSerialization
				}
			}
		}
	}
	for _, r := range in[:active] {
		r.mu.Lock()
		if r.minOut == 0 || ts < r.minOut {
			r.minOut = ts
		}
		r.mu.Unlock()
	}
	if rec != nil {
		rec.commitPos = 2 * ts
		rec.wrote = true
		s.writers[ts] = rec
	}
	return nil
}

// Forget undoes CheckCommit's registration of rec at ts after its commit
// could not be persisted.
func (s *SSI) Forget(rec *SerTxn, ts uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writers[ts] == rec {
		delete(s.writers, ts)
	}
	rec.commitPos = 0
	rec.wrote = false
}

// End removes t from the active set. committed says whether it committed;
// visible is the newest snapshot at that moment, which places a read-only
// commit in the commit order. A committed transaction's reads are kept
// while an active serializable transaction overlaps it.
func (s *SSI) End(t *SerTxn, committed bool, visible uint64) {
	if t.safe {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.active[t]; !ok {
		return
	}
	delete(s.active, t)
	if !t.readOnly {
		s.activeRW--
	}
	if committed {
		if t.commitPos == 0 {
			t.commitPos = 2*visible + 1
		}
		s.committed = append(s.committed, t)
	} else if t.commitPos != 0 {
		delete(s.writers, t.commitPos/2)
		t.commitPos = 0
	}
	// Pruning is lazy (amortized O(1) per transaction): a committed
	// transaction kept a little longer than needed costs memory only, as
	// CheckCommit skips those that overlap nobody.
	if len(s.active) == 0 || len(s.committed) >= s.pruneAt {
		s.prune()
		s.pruneAt = min(2*len(s.committed)+64, maxRetained+1)
	}
}

// prune drops committed transactions no active one overlaps. Called with
// s.mu held.
func (s *SSI) prune() {
	oldest, any := uint64(0), false
	for t := range s.active {
		if snap := t.snapshot.Load(); !any || snap < oldest {
			oldest, any = snap, true
		}
	}
	kept := s.committed[:0]
	for _, t := range s.committed {
		if any && t.commitPos > 2*oldest {
			kept = append(kept, t)
			continue
		}
		if t.wrote {
			delete(s.writers, t.commitPos/2)
		}
	}
	clear(s.committed[len(kept):])
	s.committed = kept
	if s.summary != nil && (!any || s.summary.commitPos <= 2*oldest) {
		s.summary, s.foldedMaxTS, s.foldedMinOut = nil, 0, 0
	}
	if len(s.committed) > maxRetained {
		s.fold(len(s.committed) / 2)
	}
}

// fold merges the n oldest committed transactions into the summary.
// Called with s.mu held.
func (s *SSI) fold(n int) {
	if s.summary == nil {
		s.summary = &SerTxn{points: make(map[string]struct{}), wrote: true}
	}
	sum := s.summary
	seen := make(map[[2]string]bool, len(sum.ranges))
	for _, r := range sum.ranges {
		seen[[2]string{string(r.start), string(r.end)}] = true
	}
	for _, t := range s.committed[:n] {
		t.mu.Lock()
		for _, k := range t.few {
			sum.points[string(k)] = struct{}{}
		}
		for k := range t.points {
			sum.points[k] = struct{}{}
		}
		for _, r := range t.ranges {
			if id := [2]string{string(r.start), string(r.end)}; !seen[id] {
				seen[id] = true
				sum.ranges = append(sum.ranges, r)
			}
		}
		out := t.minOut
		t.mu.Unlock()
		sum.commitPos = max(sum.commitPos, t.commitPos)
		if t.wrote {
			ts := t.commitPos / 2
			delete(s.writers, ts)
			s.foldedMaxTS = max(s.foldedMaxTS, ts)
			if out != 0 && out < ts && (s.foldedMinOut == 0 || out < s.foldedMinOut) {
				s.foldedMinOut = out
			}
		}
	}
	s.committed = append(s.committed[:0], s.committed[n:]...)
}

// Tracked returns how many transactions SSI holds (active and retained
// committed), for stats and tests of the state bound.
func (s *SSI) Tracked() (active, committed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	committed = len(s.committed)
	if s.summary != nil {
		committed++
	}
	return len(s.active), committed
}
