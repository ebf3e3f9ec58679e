package anomalies_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/mvcc"
)

func TestWriteSkew(t *testing.T) {
	nobodyOnCall := happens(func(t *testing.T, o *anomalies.Outcome) {
		committed(t, o, "T1", "T2")
		final(t, o, "oncall/alice", "off", "oncall/bob", "off")
	})
	lesson(t, anomalies.WriteSkew, map[mvcc.Level]expect{
		mvcc.ReadCommitted: nobodyOnCall,
		mvcc.Snapshot:      nobodyOnCall,
		mvcc.Serializable: prevented(func(t *testing.T, o *anomalies.Outcome) {
			oneConflicted(t, o, "T1", "T2")
		}),
	})
}

func TestWriteSkewFixedWithGetForUpdate(t *testing.T) {
	waitsThenConflicts := prevented(func(t *testing.T, o *anomalies.Outcome) {
		assert.True(t, o.WasBlocked("T2"), "Bob's GetForUpdate must wait for Alice's lock")
		committed(t, o, "T1")
		conflicted(t, o, "T2")
		final(t, o, "oncall/alice", "off", "oncall/bob", "on")
	})
	lesson(t, anomalies.WriteSkewFixedWithGetForUpdate, map[mvcc.Level]expect{
		mvcc.ReadCommitted: prevented(func(t *testing.T, o *anomalies.Outcome) {
			assert.True(t, o.WasBlocked("T2"), "Bob's GetForUpdate must wait for Alice's lock")
			reads(t, o, "T2", "oncall/alice", "off")
			assert.Equal(t, "stay", o.Note("T2", "decision"))
			committed(t, o, "T1", "T2")
			final(t, o, "oncall/alice", "off", "oncall/bob", "on")
		}),
		mvcc.Snapshot:     waitsThenConflicts,
		mvcc.Serializable: waitsThenConflicts,
	})
}

func TestWriteSkewFixedByWritingReads(t *testing.T) {
	firstCommits := prevented(firstWins("T1", "T2", "oncall/alice", "off", "oncall/bob", "on"))
	lesson(t, anomalies.WriteSkewFixedByWritingReads, map[mvcc.Level]expect{
		// No write-write check at read committed: Bob's rewrite puts Alice
		// back on call after her transaction committed her off.
		mvcc.ReadCommitted: happens(func(t *testing.T, o *anomalies.Outcome) {
			committed(t, o, "T1", "T2")
			final(t, o, "oncall/alice", "on", "oncall/bob", "off")
		}),
		mvcc.Snapshot:     firstCommits,
		mvcc.Serializable: firstCommits,
	})
}

func TestWriteSkewRange(t *testing.T) {
	doubleBooked := happens(func(t *testing.T, o *anomalies.Outcome) {
		committed(t, o, "T1", "T2")
		final(t, o, "booking/room123/12:00-13:00", "alice", "booking/room123/12:30-13:30", "bob")
	})
	lesson(t, anomalies.WriteSkewRange, map[mvcc.Level]expect{
		mvcc.ReadCommitted: doubleBooked,
		mvcc.Snapshot:      doubleBooked,
		mvcc.Serializable: prevented(func(t *testing.T, o *anomalies.Outcome) {
			oneConflicted(t, o, "T1", "T2")
			assert.Len(t, o.Prefix("booking/room123/"), 2, "Carol's booking and one of the two new ones")
		}),
	})
}

func TestWriteSkewRangeFixedByMaterializing(t *testing.T) {
	waitsThenConflicts := prevented(func(t *testing.T, o *anomalies.Outcome) {
		assert.True(t, o.WasBlocked("T2"), "Bob's lock on the 12:30 slot must wait for Alice's")
		committed(t, o, "T1")
		conflicted(t, o, "T2")
		final(t, o, "booking/room123/12:00-13:00", "alice", "booking/room123/12:30-13:30", anomalies.Absent,
			"slot/room123/12:30", "alice", "slot/room123/13:00", "free")
	})
	lesson(t, anomalies.WriteSkewRangeFixedByMaterializing, map[mvcc.Level]expect{
		mvcc.ReadCommitted: prevented(func(t *testing.T, o *anomalies.Outcome) {
			assert.True(t, o.WasBlocked("T2"), "Bob's lock on the 12:30 slot must wait for Alice's")
			reads(t, o, "T2", "slot/room123/12:30", "alice")
			assert.Equal(t, "refused", o.Note("T2", "decision"))
			committed(t, o, "T1", "T2")
			final(t, o, "booking/room123/12:00-13:00", "alice", "booking/room123/12:30-13:30", anomalies.Absent,
				"slot/room123/12:30", "alice", "slot/room123/13:00", "free")
		}),
		mvcc.Snapshot:     waitsThenConflicts,
		mvcc.Serializable: waitsThenConflicts,
	})
}
