package anomalies_test

import (
	"testing"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/mvcc"
)

// Writes are buffered until Commit, so the dirty anomalies are prevented
// at every level; at read committed with no error at all.

func TestDirtyWrite(t *testing.T) {
	lastWins := prevented(func(t *testing.T, o *anomalies.Outcome) {
		committed(t, o, "T1", "T2")
		final(t, o, "car42/buyer", "bob", "car42/invoice", "bob")
	})
	firstCommits := prevented(firstWins("T1", "T2", "car42/buyer", "alice", "car42/invoice", "alice"))
	lesson(t, anomalies.DirtyWrite, map[mvcc.Level]expect{
		mvcc.ReadCommitted: lastWins,
		mvcc.Snapshot:      firstCommits,
		mvcc.Serializable:  firstCommits,
	})
}

func TestDirtyReadAborted(t *testing.T) {
	neverPaid := prevented(func(t *testing.T, o *anomalies.Outcome) {
		reads(t, o, "T2", "order17/status", "unpaid", "unpaid")
		committed(t, o, "T2")
		final(t, o, "order17/status", "unpaid")
	})
	lesson(t, anomalies.AbortedRead, map[mvcc.Level]expect{
		mvcc.ReadCommitted: neverPaid,
		mvcc.Snapshot:      neverPaid,
		mvcc.Serializable:  neverPaid,
	})
}

func TestDirtyReadIntermediate(t *testing.T) {
	snapshot := prevented(func(t *testing.T, o *anomalies.Outcome) {
		reads(t, o, "T2", "order17/total", "100", "100")
		committed(t, o, "T1", "T2")
		final(t, o, "order17/total", "130")
	})
	lesson(t, anomalies.IntermediateRead, map[mvcc.Level]expect{
		mvcc.ReadCommitted: prevented(func(t *testing.T, o *anomalies.Outcome) {
			reads(t, o, "T2", "order17/total", "100", "130")
			committed(t, o, "T1", "T2")
		}),
		mvcc.Snapshot:     snapshot,
		mvcc.Serializable: snapshot,
	})
}

func TestDirtyReadCircular(t *testing.T) {
	neitherSees := prevented(func(t *testing.T, o *anomalies.Outcome) {
		reads(t, o, "T1", "status/bob", "in")
		reads(t, o, "T2", "status/alice", "in")
		committed(t, o, "T1", "T2")
		final(t, o, "status/alice", "out", "status/bob", "out")
	})
	lesson(t, anomalies.CircularInformationFlow, map[mvcc.Level]expect{
		mvcc.ReadCommitted: neitherSees,
		mvcc.Snapshot:      neitherSees,
		// Each read what the other wrote: write skew, so SSI aborts one.
		mvcc.Serializable: prevented(func(t *testing.T, o *anomalies.Outcome) {
			oneConflicted(t, o, "T1", "T2")
		}),
	})
}

func TestObservedTransactionVanishes(t *testing.T) {
	snapshot := prevented(func(t *testing.T, o *anomalies.Outcome) {
		committed(t, o, "T1", "T3")
		conflicted(t, o, "T2")
		reads(t, o, "T3", "pair/x", "11", "11")
		reads(t, o, "T3", "pair/y", "19", "19")
		final(t, o, "pair/x", "11", "pair/y", "19")
	})
	lesson(t, anomalies.ObservedTransactionVanishes, map[mvcc.Level]expect{
		mvcc.ReadCommitted: prevented(func(t *testing.T, o *anomalies.Outcome) {
			committed(t, o, "T1", "T2", "T3")
			reads(t, o, "T3", "pair/x", "11", "12")
			reads(t, o, "T3", "pair/y", "19", "18")
			final(t, o, "pair/x", "12", "pair/y", "18")
		}),
		mvcc.Snapshot:     snapshot,
		mvcc.Serializable: snapshot,
	})
}
