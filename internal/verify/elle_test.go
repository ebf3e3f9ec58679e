package verify_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/internal/elle"
	"github.com/mvkv/mvkv/internal/verify"
	"github.com/mvkv/mvkv/mvcc"
)

// What each level must never show, and what a correct engine at that level
// does show when transactions collide (the checker must find it in the
// scripted collisions, verify.Collisions: otherwise the workload or the
// checker lost its teeth).
var elleExpect = map[mvcc.Level]struct {
	forbidden []elle.Kind
	expected  []elle.Kind
}{
	mvcc.ReadCommitted: {
		forbidden: []elle.Kind{elle.G0, elle.G1a, elle.G1b, elle.G1c, elle.DuplicateElements, elle.GarbageRead, elle.Internal},
		expected:  []elle.Kind{elle.LostUpdate, elle.GSingle, elle.G2Item},
	},
	mvcc.Snapshot: {
		forbidden: []elle.Kind{elle.G0, elle.G1a, elle.G1b, elle.G1c, elle.GSingle, elle.LostUpdate, elle.IncompatibleOrder, elle.DuplicateElements, elle.GarbageRead, elle.Internal},
		expected:  []elle.Kind{elle.G2Item},
	},
	mvcc.Serializable: {
		forbidden: elle.Kinds,
	},
}

// At read committed with GetForUpdate on every append, read-modify-writes
// are atomic: no lost update, and the versions of a key never fork. Read
// skew and write skew remain.
var rcForUpdate = struct {
	forbidden []elle.Kind
	expected  []elle.Kind
}{
	forbidden: append([]elle.Kind{elle.LostUpdate, elle.IncompatibleOrder}, elleExpect[mvcc.ReadCommitted].forbidden...),
	expected:  []elle.Kind{elle.GSingle, elle.G2Item},
}

func TestListAppendAnomaliesByLevel(t *testing.T) {
	type variant struct {
		level     mvcc.Level
		forUpdate bool
		locking   int // clients of 8 that run serializable by locking
	}
	variants := []variant{{mvcc.ReadCommitted, false, 0}, {mvcc.ReadCommitted, true, 0}, {mvcc.Snapshot, false, 0}, {mvcc.Serializable, false, 0},
		{mvcc.Serializable, false, 8}, {mvcc.Serializable, false, 4}}
	for _, v := range variants {
		level := v.level
		name := level.String()
		exp := elleExpect[level]
		if v.forUpdate {
			name += "+getforupdate"
			exp = rcForUpdate
		}
		switch v.locking {
		case 8:
			name += "+locking"
		case 4:
			name += "+mixed-ssi-locking"
		}
		t.Run(name, func(t *testing.T) {
			db := openDB(t)
			found := make(map[elle.Kind]int)
			runs := scale(30)
			committed, total := 0, 0
			for run := range runs {
				h, err := verify.RunListAppend(db, verify.ListAppendConfig{
					Level: level, Clients: 8, Txns: 50, Keys: 4, MaxOps: 4,
					Seed: uint64(run), Prefix: fmt.Sprintf("la/%d/", run), ForUpdate: v.forUpdate, LockingClients: v.locking,
				})
				require.NoError(t, err)
				rep := elle.Check(h)
				committed += rep.Committed
				total += rep.Txns
				for _, k := range rep.Kinds() {
					found[k]++
				}
				for _, k := range exp.forbidden {
					if !assert.False(t, rep.Has(k), "run %d: %s is forbidden at %s\n%s", run, k, level, rep) {
						return
					}
				}
			}
			// Random runs make the allowed anomalies likely, not certain:
			// they are reported, and the scripted collisions below make
			// each of them certain.
			t.Logf("%s: %d runs, %d transactions (%d committed); runs with each anomaly: %v", name, runs, total, committed, found)
			if v.locking > 0 {
				// A locking transaction's reads wait for the other's
				// writes: a script in one goroutine cannot run them.
				return
			}
			require.NoError(t, verify.CheckCollisions(verify.BeginFor(db, verify.ListAppendConfig{Level: level}), "collide/", v.forUpdate, exp.forbidden, exp.expected))
		})
	}
}
