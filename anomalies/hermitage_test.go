package anomalies_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/mvcc"
)

func TestPhantomWrite(t *testing.T) {
	firstCommits := prevented(firstWins("T1", "T2", "test/1", "20", "test/2", "30"))
	lesson(t, anomalies.PhantomWrite, map[mvcc.Level]expect{
		mvcc.ReadCommitted: happens(func(t *testing.T, o *anomalies.Outcome) {
			committed(t, o, "T1", "T2")
			assert.Equal(t, "2", o.Note("T2", "deleted"), "T2 deletes the row worth 20 in what it read")
			reads(t, o, "T2", "test/*", "1=10 2=20", "1=20")
			final(t, o, "test/1", "20", "test/2", anomalies.Absent) // T1's 30 lost with the row
		}),
		mvcc.Snapshot:     firstCommits,
		mvcc.Serializable: firstCommits,
	})
}

func TestReadSkewDelete(t *testing.T) {
	firstCommits := prevented(func(t *testing.T, o *anomalies.Outcome) {
		reads(t, o, "T1", "test/*", "1=10 2=20")
		firstWins("T2", "T1", "test/1", "12", "test/2", "18")(t, o)
	})
	lesson(t, anomalies.ReadSkewDelete, map[mvcc.Level]expect{
		mvcc.ReadCommitted: happens(func(t *testing.T, o *anomalies.Outcome) {
			committed(t, o, "T1", "T2")
			reads(t, o, "T1", "test/1", "10")
			reads(t, o, "T1", "test/*", "1=12 2=18")
			assert.Empty(t, o.Note("T1", "deleted"))
			final(t, o, "test/1", "12", "test/2", "18")
		}),
		mvcc.Snapshot:     firstCommits,
		mvcc.Serializable: firstCommits,
	})
}

func TestReadSkewDeleteRolledBack(t *testing.T) {
	noTrace := prevented(func(t *testing.T, o *anomalies.Outcome) {
		assert.Equal(t, "2", o.Note("T1", "deleted"), "T1 deletes row 2 before rolling back")
		assert.False(t, o.WasBlocked("T2"), "a buffered delete holds no lock")
		committed(t, o, "T2")
		final(t, o, "test/1", "12", "test/2", "18")
	})
	lesson(t, anomalies.ReadSkewDeleteRolledBack, map[mvcc.Level]expect{
		mvcc.ReadCommitted: noTrace,
		mvcc.Snapshot:      noTrace,
		mvcc.Serializable:  noTrace,
	})
}

func TestTwoAntiDependencies(t *testing.T) {
	cycle := happens(func(t *testing.T, o *anomalies.Outcome) {
		committed(t, o, "T1", "T2", "T3")
		final(t, o, "test/1", "0", "test/2", "25")
	})
	lesson(t, anomalies.TwoAntiDependencies, map[mvcc.Level]expect{
		mvcc.ReadCommitted: cycle,
		mvcc.Snapshot:      cycle,
		mvcc.Serializable: prevented(func(t *testing.T, o *anomalies.Outcome) {
			committed(t, o, "T2", "T3")
			conflicted(t, o, "T1") // the pivot, as in PostgreSQL
			final(t, o, "test/1", "10", "test/2", "25")
		}),
	})
}
