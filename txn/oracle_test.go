package txn_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mvkv/mvkv/txn"
)

// commit plays the commit pipeline's part: assign the next timestamp and
// publish it.
func commit(o *txn.Oracle) uint64 {
	ts := o.Visible() + 1
	o.Publish(ts)
	return ts
}

func TestOracleTimestamps(t *testing.T) {
	o := txn.NewOracle(41)
	assert.Equal(t, uint64(41), o.Visible(), "recovery's last commit is the first snapshot")
	assert.Equal(t, uint64(41), o.Horizon())

	// Only published timestamps are visible.
	o.Publish(43)
	assert.Equal(t, uint64(43), o.Visible())
	assert.Equal(t, uint64(43), o.Horizon())
}

func TestOracleBeginTakesCurrentSnapshot(t *testing.T) {
	o := txn.NewOracle(0)
	s0 := o.Begin()
	assert.Equal(t, uint64(0), s0.TS())
	commit(o)
	commit(o)
	s2 := o.Begin()
	assert.Equal(t, uint64(2), s2.TS())
	assert.Equal(t, uint64(0), s0.TS(), "a snapshot does not move by itself")
	assert.False(t, s2.Start.Before(s0.Start))
}

func TestHorizon(t *testing.T) {
	// Steps: each runs an action, then checks the horizon: the oldest
	// snapshot held by an active transaction, or the newest snapshot when
	// none is active.
	o := txn.NewOracle(10)
	slots := map[string]*txn.Slot{}
	steps := []struct {
		name    string
		do      func()
		horizon uint64
		active  int
	}{
		{"idle", func() {}, 10, 0},
		{"idle after commits", func() { commit(o); commit(o) }, 12, 0},
		{"A begins at 12", func() { slots["A"] = o.Begin() }, 12, 1},
		{"commits do not pass A", func() { commit(o); commit(o); commit(o) }, 12, 1},
		{"B begins at 15", func() { slots["B"] = o.Begin() }, 12, 2},
		{"A advances to 15", func() { slots["A"].Advance(o.Visible()) }, 15, 2},
		{"advance never goes back", func() { slots["A"].Advance(3) }, 15, 2},
		{"C begins at 16", func() { commit(o); slots["C"] = o.Begin() }, 15, 3},
		{"A ends", func() { o.End(slots["A"]) }, 15, 2},
		{"B ends", func() { o.End(slots["B"]) }, 16, 1},
		{"B ends twice", func() { o.End(slots["B"]) }, 16, 1},
		{"C ends", func() { o.End(slots["C"]) }, 16, 0},
		{"idle again follows commits", func() { commit(o) }, 17, 0},
	}
	for _, st := range steps {
		st.do()
		assert.Equal(t, st.horizon, o.Horizon(), st.name)
		n, oldest := o.Active()
		assert.Equal(t, st.active, n, st.name)
		assert.Equal(t, st.active == 0, oldest.IsZero(), st.name)
	}
}

func TestActiveOldest(t *testing.T) {
	o := txn.NewOracle(0)
	a := o.Begin()
	b := o.Begin()
	_, oldest := o.Active()
	assert.Equal(t, a.Start, oldest)
	o.End(a)
	_, oldest = o.Active()
	assert.Equal(t, b.Start, oldest)
}

func TestSlotAdvance(t *testing.T) {
	o := txn.NewOracle(5)
	s := o.Begin()
	for _, tt := range []struct{ to, want uint64 }{{7, 7}, {6, 7}, {7, 7}, {20, 20}, {0, 20}} {
		s.Advance(tt.to)
		assert.Equal(t, tt.want, s.TS(), "advance to %d", tt.to)
	}
}

func TestHorizonNeverAboveActiveSnapshot(t *testing.T) {
	// While one goroutine commits, others begin and end transactions and
	// check that a horizon computed while they are registered is never
	// above their snapshot: vacuum must not take a version they can see.
	// Run with -race.
	o := txn.NewOracle(0)
	var commitMu sync.Mutex // the pipeline is the only caller of Next/Publish
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			commitMu.Lock()
			commit(o)
			commitMu.Unlock()
		}
	}()
	var readers sync.WaitGroup
	for r := 0; r < 4; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := 0; i < 2000; i++ {
				s := o.Begin()
				h := o.Horizon()
				if !assert.LessOrEqual(t, h, s.TS()) {
					return
				}
				if i%2 == 0 {
					s.Advance(o.Visible())
					assert.LessOrEqual(t, o.Horizon(), s.TS())
				}
				o.End(s)
			}
		}()
	}
	readers.Wait()
	close(stop)
	wg.Wait()
	n, _ := o.Active()
	assert.Equal(t, 0, n)
	assert.Equal(t, o.Visible(), o.Horizon())
}
