package anomalies_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/mvcc"
)

func TestLostUpdate(t *testing.T) {
	firstCommits := prevented(firstWins("T1", "T2", "balance", "150"))
	lesson(t, anomalies.LostUpdate, map[mvcc.Level]expect{
		mvcc.ReadCommitted: happens(func(t *testing.T, o *anomalies.Outcome) {
			committed(t, o, "T1", "T2")
			final(t, o, "balance", "120") // T1's +50 is gone
		}),
		mvcc.Snapshot:     firstCommits,
		mvcc.Serializable: firstCommits,
	})
}

func TestLostUpdateFixedWithGetForUpdate(t *testing.T) {
	waitsThenConflicts := prevented(func(t *testing.T, o *anomalies.Outcome) {
		assert.True(t, o.WasBlocked("T2"), "T2's GetForUpdate must wait for T1's lock")
		committed(t, o, "T1")
		conflicted(t, o, "T2")
		final(t, o, "balance", "150")
	})
	lesson(t, anomalies.LostUpdateFixedWithGetForUpdate, map[mvcc.Level]expect{
		mvcc.ReadCommitted: prevented(func(t *testing.T, o *anomalies.Outcome) {
			assert.True(t, o.WasBlocked("T2"), "T2's GetForUpdate must wait for T1's lock")
			reads(t, o, "T2", "balance", "150") // the waiter re-reads the new value
			committed(t, o, "T1", "T2")
			final(t, o, "balance", "170")
		}),
		mvcc.Snapshot:     waitsThenConflicts,
		mvcc.Serializable: waitsThenConflicts,
	})
}
