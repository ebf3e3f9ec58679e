package txn

import (
	"errors"
	"math/rand/v2"
	"runtime"
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
// by the commit pipeline after W's versions are in the index, registers W
// and then looks up W's keys in every concurrent reader's reads) or, if R
// reads after that, at that read (ReadNewer: the index reports versions
// newer than R's snapshot, and W is registered). Every edge is found by
// one side or the other, with no lock common to both: R records a read
// (under R's lock) before its index lookup, and CheckCommit registers W
// before it looks at R's reads (under R's lock). If R's record comes
// first, CheckCommit sees it; if it comes after CheckCommit looked, R's
// lookup comes after W's versions were added and W's registration, so
// ReadNewer finds W and W's out edge. A reader that registers (Begin)
// after CheckCommit walked its partition is in the second case.
//
// R may also meet W's versions before CheckCommit has run for W. Then R
// takes an out edge to W's timestamp (minOut) without finding W's record;
// if CheckCommit then refuses W, that edge points at a transaction that
// never committed: a false positive R may pay for later, never a missed
// edge. Likewise R may find W registered by a CheckCommit that then
// refuses W, and abort as T_in of a pivot that never commits.
//
// Partitioned, as PostgreSQL partitions its predicate lock manager. The
// transactions SSI tracks live in partitions (stripes), each with its own
// lock, chosen at random at Begin; the writers by commit timestamp live
// in partitions of their own. Begin and End lock one partition; a read
// locks only its own transaction; ReadNewer locks the writers' partitions
// it looks up; only CheckCommit, which the commit pipeline runs anyway
// one at a time, walks every partition, one at a time. The count of
// read-write transactions that the safe-snapshot test reads is one atomic
// word. So serializable transactions on different keys share no lock,
// and a read-only one on a safe snapshot touches only that word.
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
// read-only rule above spares it from most structures. The test takes no
// lock (see Begin for its proof).
//
// Bounded state. A committed transaction's reads are kept while some
// active serializable transaction overlaps it (the read-only anomaly needs
// the reads of committed transactions) and dropped by the next prune of
// its partition after none does (a partition prunes when its list has
// doubled, and Tracked prunes all once nobody is active).
// A long-running transaction would keep every transaction committed during
// its life; past maxRetained (divided among the partitions), the older
// half of a partition's is folded into one summary record (the union of their reads, the latest of their commit positions,
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
	// activeRW counts tracked transactions not declared read-only; the
	// safe-snapshot test reads it. Alone on its cache lines.
	activeRW atomic.Int64
	_        [cacheLine - 8]byte
	folded   atomic.Int64 // partitions holding a summary
	_        [cacheLine - 8]byte
	// pruneEpoch counts the walks that decide what pruning may drop (see
	// Begin); written rarely, read by a tracked read-only begin.
	pruneEpoch atomic.Uint64
	_          [cacheLine - 8]byte

	parts   []ssiPart
	writers []writerPart
	mask    uint64 // len(parts)-1 == len(writers)-1
	// perPart is how many committed transactions a partition keeps in
	// full before folding the older half into its summary.
	perPart int
}

// ssiPart is one partition of the tracked transactions.
type ssiPart struct {
	mu        sync.Mutex
	active    map[*SerTxn]struct{} // tracked transactions not yet ended
	committed []*SerTxn            // ended and committed, still overlapping someone
	pruneAt   int                  // prune committed once it grows past this

	// When a long-running transaction keeps too many committed ones
	// alive, the oldest are folded into summary (their reads merged, their
	// commit positions replaced by the latest of them) and, for their role
	// as pivots, into foldedMaxTS/foldedMinOut. Both only add conflicts.
	summary      *SerTxn
	foldedMaxTS  uint64 // newest commit ts of a folded writer
	foldedMinOut uint64 // earliest minOut below its own ts among folded writers; 0: none

	// Counts of active and of kept (committed, and the summary), written
	// under mu, read without it to skip empty partitions.
	nActive, nKept atomic.Int32
	hasSummary     atomic.Bool // summary != nil, for ReadNewer to skip the others
	_              [cacheLine]byte
}

// writerPart is one partition of the registered writers, by commit ts.
type writerPart struct {
	mu sync.Mutex
	m  map[uint64]*SerTxn // commit ts -> tracked writer (active or committed)
	_  [cacheLine]byte
}

// maxRetained is how many committed transactions SSI keeps in full, over
// all partitions, before folding.
const maxRetained = 4096

// SerTxn is SSI's record of one serializable transaction.
type SerTxn struct {
	snapshot atomic.Uint64 // set once at begin, before any read (0 until then: the oldest possible)
	readOnly bool          // declared read-only; set by Begin
	safe     bool          // read-only on a safe snapshot: not tracked; set by Begin
	part     uint32        // its partition; set by Begin

	// commitPos is 0 while active; 2*ts for a writer, 2*v+1 for a
	// read-only commit after ts v. Written by CheckCommit, Forget and End.
	commitPos atomic.Uint64
	wrote     atomic.Bool
	endEpoch  uint64 // pruneEpoch when End kept it as committed; under its partition's mu

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
	n := 8
	for n < 4*runtime.GOMAXPROCS(0) {
		n *= 2
	}
	s := &SSI{parts: make([]ssiPart, n), writers: make([]writerPart, n), mask: uint64(n - 1)}
	s.perPart = max(maxRetained/n, 16)
	for i := range s.parts {
		s.parts[i].active = make(map[*SerTxn]struct{})
		s.writers[i].m = make(map[uint64]*SerTxn)
	}
	return s
}

// Begin registers t, a new (zero) serializable transaction record. snap
// takes its snapshot (and returns it); visible returns the newest
// snapshot now. A read-write transaction is registered and counted
// (activeRW) before its snapshot is taken, and uncounted by End, after
// its commit is published.
//
// A read-only one takes its snapshot S, then reads the count, then the
// newest snapshot again; it is safe when the count was zero and the
// newest snapshot was still S. Proof, over the sequentially consistent
// order of sync/atomic operations: a read-write transaction it did not
// count either was counted after the count was read, so took its
// snapshot after S was taken, at S or later (it cannot be a pivot
// concurrent with a T_out committed within S); or was uncounted before
// the count was read, after publishing its commit, which is therefore at
// or below the newest snapshot read next, S: inside the snapshot. A
// read-only transaction that fails the test is tracked: registered after
// its snapshot, so a pruning walk between the two could miss it and drop
// a committed transaction it overlaps. The walk counts itself
// (pruneEpoch) before it starts; a read-only transaction that sees the
// count move between before its snapshot and after its registration is
// doomed (a false positive, rare: the window is a few instructions). One
// that sees it unchanged either registered before the walk began (the
// walk sees it) or loaded it after the walk moved it, and so took its
// snapshot after the commit of everything that walk's prune drops: a
// prune drops only transactions whose End (after their commit was
// published) read the count before the walk moved it (endEpoch).
func (s *SSI) Begin(t *SerTxn, readOnly bool, snap, visible func() uint64) {
	t.readOnly = readOnly
	if readOnly {
		epoch := s.pruneEpoch.Load()
		snapshot := snap()
		t.snapshot.Store(snapshot)
		if s.activeRW.Load() == 0 && visible() == snapshot {
			t.safe = true
			return
		}
		s.register(t)
		if s.pruneEpoch.Load() != epoch {
			t.Doom()
		}
		return
	}
	s.register(t)
	s.activeRW.Add(1)
	t.snapshot.Store(snap())
}

// register adds t to a partition's active set.
func (s *SSI) register(t *SerTxn) {
	t.part = uint32(rand.Uint64() & s.mask)
	p := &s.parts[t.part]
	p.mu.Lock()
	p.active[t] = struct{}{}
	p.nActive.Add(1)
	p.mu.Unlock()
}

// effectivelyReadOnly: declared read-only, or committed without writing.
func (t *SerTxn) effectivelyReadOnly() bool {
	return t.readOnly || (t.commitPos.Load() != 0 && !t.wrote.Load())
}

// dangerous reports whether in -rw-> pivot -rw-> out, where out committed
// at outTS (before the pivot), can be part of a cycle.
func dangerous(in *SerTxn, outTS uint64) bool {
	if pos := in.commitPos.Load(); pos != 0 && 2*outTS > pos {
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
	t.mu.Lock()
	if t.minOut == 0 || newer[0] < t.minOut {
		t.minOut = newer[0]
	}
	t.mu.Unlock()
	for _, ts := range newer {
		p := s.writer(ts)
		if p == nil && s.foldedPivot(t, ts) {
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
// Otherwise the edges are recorded and rec stays registered as the writer
// at ts. The commit pipeline calls it for every committing transaction,
// in commit order, one at a time, after adding its versions to the index
// (see SSI for why that order finds every edge).
func (s *SSI) CheckCommit(rec *SerTxn, snapshot, ts uint64, keys [][]byte) error {
	if rec == nil && s.noneActive() {
		// Nobody to check (a workload without serializable readers). A
		// reader registering meanwhile reads after this writer's versions
		// were added, and ReadNewer records the edge.
		return nil
	}
	if rec != nil {
		if rec.Doomed() {
			return ErrSerialization
		}
		s.addWriter(ts, rec)
	}
	var in []*SerTxn
	check := func(r *SerTxn) {
		if pos := r.commitPos.Load(); r == rec || (pos != 0 && pos <= 2*snapshot) {
			return // itself, or committed before the writer's snapshot
		}
		r.mu.Lock()
		if r.readsAny(keys) {
			in = append(in, r)
		}
		r.mu.Unlock()
	}
	for i := range s.parts {
		p := &s.parts[i]
		p.mu.Lock()
		for r := range p.active {
			check(r)
		}
		p.mu.Unlock()
	}
	// The edges from active readers are recorded: each may yet become a
	// pivot, with this writer as its T_out.
	active := len(in)
	if rec != nil {
		rec.mu.Lock()
		out := rec.minOut
		rec.mu.Unlock()
		if out != 0 && out < ts {
			// rec has an edge out to a transaction that committed
			// first: it is a pivot if a concurrent reader, active or
			// committed, has an edge in. Committed readers matter only
			// here: an edge from one to rec never makes that reader a
			// pivot, since rec commits after it. So a writer without
			// such an out edge, the common case, skips them all.
			for i := range s.parts {
				p := &s.parts[i]
				p.mu.Lock()
				for _, r := range p.committed {
					check(r)
				}
				if p.summary != nil {
					check(p.summary)
				}
				p.mu.Unlock()
			}
			for _, r := range in {
				if dangerous(r, out) {
					s.dropWriter(ts, rec)
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
		rec.wrote.Store(true)
		rec.commitPos.Store(2 * ts)
	}
	return nil
}

// Forget undoes CheckCommit's registration of rec at ts after its commit
// could not be persisted.
func (s *SSI) Forget(rec *SerTxn, ts uint64) {
	s.dropWriter(ts, rec)
	rec.commitPos.Store(0)
	rec.wrote.Store(false)
}

// End removes t from the active set. committed says whether it committed;
// visible is the newest snapshot at that moment, which places a read-only
// commit in the commit order. A committed transaction's reads are kept
// while an active serializable transaction overlaps it.
func (s *SSI) End(t *SerTxn, committed bool, visible uint64) {
	if t.safe {
		return
	}
	p := &s.parts[t.part]
	p.mu.Lock()
	if _, ok := p.active[t]; !ok {
		p.mu.Unlock()
		return
	}
	delete(p.active, t)
	p.nActive.Add(-1)
	if committed {
		if t.commitPos.Load() == 0 {
			t.commitPos.Store(2*visible + 1)
		}
		t.endEpoch = s.pruneEpoch.Load()
		p.committed = append(p.committed, t)
		p.nKept.Add(1)
	} else if pos := t.commitPos.Load(); pos != 0 {
		s.dropWriter(pos/2, t)
		t.commitPos.Store(0)
	}
	// Pruning is lazy (amortized O(1) per transaction): a committed
	// transaction kept a little longer than needed costs memory only, as
	// CheckCommit skips those that overlap nobody; Tracked prunes
	// everything once nobody is active. No count common to all
	// partitions is touched here.
	due := len(p.committed) > 0 && len(p.committed) >= p.pruneAt
	p.mu.Unlock()
	if !t.readOnly {
		s.activeRW.Add(-1)
	}
	if due {
		oldest, any, epoch := s.oldestActive()
		s.prune(p, oldest, any, epoch)
	}
}
