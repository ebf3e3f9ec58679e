package anomalies_test

import (
	"testing"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/mvcc"
)

func TestReadOnlyAnomaly(t *testing.T) {
	feeAfterDeposit := happens(func(t *testing.T, o *anomalies.Outcome) {
		committed(t, o, "T1", "T2", "T3")
		reads(t, o, "T3", "checking", "0")
		reads(t, o, "T3", "savings", "20")
		final(t, o, "checking", "-11", "savings", "20")
	})
	lesson(t, anomalies.ReadOnlyAnomaly, map[mvcc.Level]expect{
		mvcc.ReadCommitted: feeAfterDeposit,
		mvcc.Snapshot:      feeAfterDeposit,
		mvcc.Serializable: prevented(func(t *testing.T, o *anomalies.Outcome) {
			committed(t, o, "T1")
			oneConflicted(t, o, "T2", "T3")
		}),
	})
}
