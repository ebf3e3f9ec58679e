package anomalies_test

import (
	"testing"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/mvcc"
)

func TestInterference(t *testing.T) {
	firstCommits := prevented(func(t *testing.T, o *anomalies.Outcome) {
		reads(t, o, "T1", "price/apple", "2")
		firstWins("T2", "T1", "price/apple", "3", "price/pear", "5")(t, o)
	})
	lesson(t, anomalies.Interference, map[mvcc.Level]expect{
		mvcc.ReadCommitted: happens(func(t *testing.T, o *anomalies.Outcome) {
			reads(t, o, "T1", "price/apple", "3")
			committed(t, o, "T2", "T1")
			final(t, o, "price/apple", "3", "price/pear", "6")
		}),
		mvcc.Snapshot:     firstCommits,
		mvcc.Serializable: firstCommits,
	})
}

func TestMissedEffects(t *testing.T) {
	firstCommits := prevented(firstWins("T2", "T1", "net/pear", "8", "gross/pear", "10"))
	lesson(t, anomalies.MissedEffects, map[mvcc.Level]expect{
		mvcc.ReadCommitted: happens(func(t *testing.T, o *anomalies.Outcome) {
			committed(t, o, "T1", "T2")
			final(t, o, "net/pear", "8", "gross/pear", "5")
		}),
		mvcc.Snapshot:     firstCommits,
		mvcc.Serializable: firstCommits,
	})
}
