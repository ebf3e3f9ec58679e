package anomalies_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/mvcc"
)

func TestNonRepeatableRead(t *testing.T) {
	sameFare := func(t *testing.T, o *anomalies.Outcome) {
		reads(t, o, "T1", "flight/fare", "300", "300")
	}
	snap, ser := seesSnapshot(sameFare)
	lesson(t, anomalies.NonRepeatableRead, map[mvcc.Level]expect{
		mvcc.ReadCommitted: happens(func(t *testing.T, o *anomalies.Outcome) {
			reads(t, o, "T1", "flight/fare", "300", "350")
			committed(t, o, "T1", "T2")
		}),
		mvcc.Snapshot:     snap,
		mvcc.Serializable: ser,
	})
}

func TestReadSkew(t *testing.T) {
	snapshotView := func(t *testing.T, o *anomalies.Outcome) {
		reads(t, o, "T1", "alice/checking", "500")
		reads(t, o, "T1", "alice/savings", "500")
	}
	snap, ser := seesSnapshot(snapshotView)
	lesson(t, anomalies.ReadSkew, map[mvcc.Level]expect{
		mvcc.ReadCommitted: happens(func(t *testing.T, o *anomalies.Outcome) {
			reads(t, o, "T1", "alice/checking", "500")
			reads(t, o, "T1", "alice/savings", "400") // 500 + 400 = 900
			committed(t, o, "T1", "T2")
		}),
		mvcc.Snapshot:     snap,
		mvcc.Serializable: ser,
	})
}

func TestReadSkewPredicate(t *testing.T) {
	snapshotView := func(t *testing.T, o *anomalies.Outcome) {
		assert.Equal(t, "500", o.Note("T1", "sum checking/"))
		assert.Equal(t, "500", o.Note("T1", "sum savings/"))
	}
	snap, ser := seesSnapshot(snapshotView)
	lesson(t, anomalies.ReadSkewPredicate, map[mvcc.Level]expect{
		mvcc.ReadCommitted: happens(func(t *testing.T, o *anomalies.Outcome) {
			assert.Equal(t, "500", o.Note("T1", "sum checking/"))
			assert.Equal(t, "600", o.Note("T1", "sum savings/")) // the new account, counted twice
			committed(t, o, "T1", "T2")
		}),
		mvcc.Snapshot:     snap,
		mvcc.Serializable: ser,
	})
}

func TestPhantom(t *testing.T) {
	sameList := func(t *testing.T, o *anomalies.Outcome) {
		reads(t, o, "T1", "room123/*", "09:00=carol", "09:00=carol")
	}
	snap, ser := seesSnapshot(sameList)
	lesson(t, anomalies.Phantom, map[mvcc.Level]expect{
		mvcc.ReadCommitted: happens(func(t *testing.T, o *anomalies.Outcome) {
			reads(t, o, "T1", "room123/*", "09:00=carol", "09:00=carol 12:00=bob")
			committed(t, o, "T1", "T2")
		}),
		mvcc.Snapshot:     snap,
		mvcc.Serializable: ser,
	})
}
