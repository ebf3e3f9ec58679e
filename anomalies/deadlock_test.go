package anomalies_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/mvcc"
)

func TestDeadlock(t *testing.T) {
	oneVictim := prevented(func(t *testing.T, o *anomalies.Outcome) {
		assert.True(t, o.WasBlocked("T1"), "T1's lock on bob must wait for T2")
		victims := 0
		for _, s := range []string{"T1", "T2"} {
			if err := o.Err(s); err != nil {
				victims++
				assert.ErrorIs(t, err, mvcc.ErrDeadlock)
				assert.ErrorIs(t, err, mvcc.ErrConflict, "a deadlock is a conflict: Update retries it")
			} else {
				committed(t, o, s)
			}
		}
		assert.Equal(t, 1, victims, "exactly one victim")
		assert.Equal(t, 200, o.Int("alice")+o.Int("bob"))
	})
	lesson(t, anomalies.Deadlock, map[mvcc.Level]expect{
		mvcc.ReadCommitted: oneVictim,
		mvcc.Snapshot:      oneVictim,
		mvcc.Serializable:  oneVictim,
	})
}
