package txn

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func snapAt(ts uint64) func() uint64 { return func() uint64 { return ts } }

func begin(s *SSI, readOnly bool, snapshot uint64) *SerTxn {
	t := &SerTxn{}
	s.Begin(t, readOnly, snapAt(snapshot), snapAt(snapshot))
	return t
}

// The dangerous-structure rule with Ports & Grittner's refinements:
// T_out must commit first, and a read-only T_in must have seen it.
func TestDangerous(t *testing.T) {
	tests := []struct {
		name     string
		inPos    uint64 // T_in's commitPos (0: active)
		readOnly bool
		wrote    bool
		snapshot uint64
		outTS    uint64
		want     bool
	}{
		{"active read-write T_in", 0, false, false, 10, 12, true},
		{"T_in committed after T_out", 2 * 13, false, true, 10, 12, true},
		{"T_in is T_out (a 2-cycle)", 2 * 12, false, true, 10, 12, true},
		{"T_out committed after T_in", 2 * 11, false, true, 10, 12, false},
		{"read-only T_in that did not see T_out", 0, true, false, 11, 12, false},
		{"read-only T_in that saw T_out", 0, true, false, 12, 12, true},
		{"committed without writing, did not see T_out", 2*11 + 1, false, false, 11, 12, false},
		{"committed without writing, saw T_out", 2*13 + 1, false, false, 12, 12, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &SerTxn{readOnly: tt.readOnly}
			in.commitPos.Store(tt.inPos)
			in.wrote.Store(tt.wrote)
			in.snapshot.Store(tt.snapshot)
			require.Equal(t, tt.want, dangerous(in, tt.outTS))
		})
	}
}

// Write skew: each reads what the other writes; the second to commit is
// the pivot of T1 -rw-> T2 -rw-> T1 and is refused.
func TestSSIWriteSkewRefusesSecondCommit(t *testing.T) {
	s := NewSSI()
	t1, t2 := begin(s, false, 10), begin(s, false, 10)
	t1.RecordKey([]byte("x"))
	t2.RecordKey([]byte("y"))
	require.NoError(t, s.CheckCommit(t1, 10, 11, [][]byte{[]byte("y")}))
	s.End(t1, true, 11)
	require.ErrorIs(t, s.CheckCommit(t2, 10, 12, [][]byte{[]byte("x")}), ErrSerialization)
	s.End(t2, false, 11)
	active, committed := s.Tracked()
	require.Zero(t, active)
	require.Zero(t, committed, "nothing kept once no transaction is active")
}

// Disjoint reads and writes never conflict.
func TestSSIDisjointCommit(t *testing.T) {
	s := NewSSI()
	t1, t2 := begin(s, false, 10), begin(s, false, 10)
	t1.RecordKey([]byte("a"))
	t2.RecordRange([]byte("m"), []byte("p"))
	require.NoError(t, s.CheckCommit(t1, 10, 11, [][]byte{[]byte("b")}))
	require.NoError(t, s.CheckCommit(t2, 10, 12, [][]byte{[]byte("c")}))
	require.Zero(t, t1.minOut)
	require.Zero(t, t2.minOut)
}

// The read-only anomaly at the level of the rule: pivot P read x, which
// O then wrote (committed at 12); P wrote y (13). A read-only R that reads
// y without seeing P closes a cycle only if it saw O (snapshot >= 12).
func TestSSIReadOnlyRule(t *testing.T) {
	for _, rSnap := range []uint64{11, 12} {
		t.Run(fmt.Sprint("snapshot=", rSnap), func(t *testing.T) {
			s := NewSSI()
			p, o := begin(s, false, 10), begin(s, false, 10)
			p.RecordKey([]byte("x"))
			require.NoError(t, s.CheckCommit(o, 10, 12, [][]byte{[]byte("x")}))
			s.End(o, true, 12)
			require.Equal(t, uint64(12), p.minOut, "P -rw-> O")
			r := begin(s, true, rSnap)
			require.False(t, r.safe, "a read-write transaction is active")
			require.NoError(t, s.CheckCommit(p, 10, 13, [][]byte{[]byte("y")}))
			s.End(p, true, 13)
			r.RecordKey([]byte("y"))
			err := s.ReadNewer(r, []uint64{13})
			if rSnap < 12 {
				require.NoError(t, err)
				require.False(t, r.Doomed())
			} else {
				require.ErrorIs(t, err, ErrSerialization)
				require.True(t, r.Doomed())
			}
		})
	}
}

// A read-only transaction that begins while no read-write serializable
// one runs has a safe snapshot: untracked, it never aborts.
func TestSSISafeSnapshot(t *testing.T) {
	s := NewSSI()
	r := begin(s, true, 5)
	require.True(t, r.safe)
	require.Equal(t, -1, r.RecordRange(nil, nil))
	require.NoError(t, s.ReadNewer(r, []uint64{6}))
	active, _ := s.Tracked()
	require.Zero(t, active)
	w := begin(s, false, 5)
	r2 := begin(s, true, 5)
	require.False(t, r2.safe, "a read-write one is active")
	s.End(w, false, 5)
	s.End(r2, true, 5)
}

// Narrowed ranges: a forward scan that stopped at m read [start, m]; a
// reverse one that stopped at m read [m, end).
func TestSSINarrowRange(t *testing.T) {
	s := NewSSI()
	tx := begin(s, false, 1)
	h := tx.RecordRange([]byte("a"), []byte("z"))
	tx.NarrowRange(h, []byte("m"))
	keys := func(k string) [][]byte { return [][]byte{[]byte(k)} }
	require.True(t, tx.readsAny(keys("m")))
	require.False(t, tx.readsAny(keys("m\x00")))
	h = tx.RecordRange([]byte("p"), nil)
	tx.NarrowRangeStart(h, []byte("t"))
	require.False(t, tx.readsAny(keys("s")))
	require.True(t, tx.readsAny(keys("t")))
	require.True(t, tx.readsAny(keys("zzz")))
}

// A long-running transaction keeps committed ones alive; past maxRetained
// the older half is folded into one summary that keeps their reads (so
// their edges are still found) and the state stays bounded.
func TestSSIFoldingBoundsState(t *testing.T) {
	s := NewSSI()
	long := begin(s, false, 1)
	n := maxRetained + maxRetained/2
	for i := range n {
		c := begin(s, false, 1)
		c.RecordKey(fmt.Appendf(nil, "k%06d", i))
		ts := uint64(2 + i)
		require.NoError(t, s.CheckCommit(c, 1, ts, [][]byte{fmt.Appendf(nil, "w%06d", i)}))
		s.End(c, true, ts)
		_, committed := s.Tracked()
		require.LessOrEqual(t, committed, maxRetained+len(s.parts), "each partition keeps its share and a summary")
	}
	var folded *ssiPart
	for i := range s.parts {
		if s.parts[i].summary != nil && s.parts[i].summary.readsAny([][]byte{[]byte("k000000")}) {
			folded = &s.parts[i]
		}
	}
	require.NotNil(t, folded, "folded reads are kept")
	require.NotZero(t, folded.foldedMaxTS, "the folded writers' newest commit")
	s.End(long, false, uint64(n+1))
	active, committed := s.Tracked()
	require.Zero(t, active)
	require.Zero(t, committed, "everything goes once nobody overlaps it")
}

// A tracked read-only transaction registers after taking its snapshot; a
// pruning walk in that window might miss it and drop a committed
// transaction it overlaps, so Begin dooms it (a false positive).
func TestSSIReadOnlyBeginRacingAPruneIsDoomed(t *testing.T) {
	s := NewSSI()
	w := begin(s, false, 10) // a read-write one is active: the reader is tracked
	r := &SerTxn{}
	s.Begin(r, true, func() uint64 { s.pruneAll(); return 10 }, snapAt(10))
	require.False(t, r.safe)
	require.True(t, r.Doomed(), "a prune walked between its snapshot and its registration")
	r2 := begin(s, true, 10)
	require.False(t, r2.Doomed(), "no walk in its window")
	s.End(r, false, 10)
	s.End(r2, false, 10)
	s.End(w, false, 10)
}

// A prune drops only transactions that ended before its walk began: one
// that ends during the walk may overlap a reader the walk missed.
func TestSSIPruneKeepsWhatEndedDuringItsWalk(t *testing.T) {
	s := NewSSI()
	other := begin(s, false, 1) // keeps End from pruning everything
	c := begin(s, false, 1)
	require.NoError(t, s.CheckCommit(c, 1, 2, [][]byte{[]byte("x")}))
	_, _, during := s.oldestActive() // a walk begins...
	s.End(c, true, 2)                // ...and c ends during it
	p := &s.parts[c.part]
	has := func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return slices.Contains(p.committed, c)
	}
	s.prune(p, 5, false, during) // even had that walk found nobody active
	require.True(t, has(), "ended during the walk: kept")
	_, _, after := s.oldestActive()
	s.prune(p, 5, false, after)
	require.False(t, has(), "a walk begun after it ended drops it")
	s.End(other, false, 2)
}
