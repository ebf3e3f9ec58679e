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
	lesson(t, anomalies.NonRepeatableRead, map[mvcc.Level]expect{
		mvcc.ReadCommitted: happens(func(t *testing.T, o *anomalies.Outcome) {
			reads(t, o, "T1", "flight/fare", "300", "350")
			committed(t, o, "T1", "T2")
		}),
		mvcc.Snapshot: prevented(func(t *testing.T, o *anomalies.Outcome) {
			sameFare(t, o)
			committed(t, o, "T1", "T2")
		}),
		mvcc.Serializable: prevented(consistentOrAborted("T1", sameFare)),
	})
}

func TestReadSkew(t *testing.T) {
	snapshotView := func(t *testing.T, o *anomalies.Outcome) {
		reads(t, o, "T1", "alice/checking", "500")
		reads(t, o, "T1", "alice/savings", "500")
	}
	lesson(t, anomalies.ReadSkew, map[mvcc.Level]expect{
		mvcc.ReadCommitted: happens(func(t *testing.T, o *anomalies.Outcome) {
			reads(t, o, "T1", "alice/checking", "500")
			reads(t, o, "T1", "alice/savings", "400") // 500 + 400 = 900
			committed(t, o, "T1", "T2")
		}),
		mvcc.Snapshot: prevented(func(t *testing.T, o *anomalies.Outcome) {
			snapshotView(t, o)
			committed(t, o, "T1", "T2")
		}),
		mvcc.Serializable: prevented(consistentOrAborted("T1", snapshotView)),
	})
}

func TestReadSkewPredicate(t *testing.T) {
	snapshotView := func(t *testing.T, o *anomalies.Outcome) {
		assert.Equal(t, "500", o.Note("T1", "sum checking/"))
		assert.Equal(t, "500", o.Note("T1", "sum savings/"))
	}
	lesson(t, anomalies.ReadSkewPredicate, map[mvcc.Level]expect{
		mvcc.ReadCommitted: happens(func(t *testing.T, o *anomalies.Outcome) {
			assert.Equal(t, "500", o.Note("T1", "sum checking/"))
			assert.Equal(t, "600", o.Note("T1", "sum savings/")) // the new account, counted twice
			committed(t, o, "T1", "T2")
		}),
		mvcc.Snapshot: prevented(func(t *testing.T, o *anomalies.Outcome) {
			snapshotView(t, o)
			committed(t, o, "T1", "T2")
		}),
		mvcc.Serializable: prevented(consistentOrAborted("T1", snapshotView)),
	})
}

func TestPhantom(t *testing.T) {
	sameList := func(t *testing.T, o *anomalies.Outcome) {
		reads(t, o, "T1", "room123/*", "09:00=carol", "09:00=carol")
	}
	lesson(t, anomalies.Phantom, map[mvcc.Level]expect{
		mvcc.ReadCommitted: happens(func(t *testing.T, o *anomalies.Outcome) {
			reads(t, o, "T1", "room123/*", "09:00=carol", "09:00=carol 12:00=bob")
			committed(t, o, "T1", "T2")
		}),
		mvcc.Snapshot: prevented(func(t *testing.T, o *anomalies.Outcome) {
			sameList(t, o)
			committed(t, o, "T1", "T2")
		}),
		mvcc.Serializable: prevented(consistentOrAborted("T1", sameList)),
	})
}
