package runner_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/bench/engine"
	"github.com/mvkv/mvkv/bench/runner"
	"github.com/mvkv/mvkv/bench/workload"
	"github.com/mvkv/mvkv/mvcc"
)

// lockstep makes contention certain: every transaction waits, between
// its reads and its writes, until every goroutine's transaction has done
// its reads (workload.Config.Lockstep), so concurrent transactions overlap
// whatever the machine's load.
var lockstep = workload.Config{Records: 4, HotKeys: 1, Lockstep: true}

// forced is contention by a pause instead, for the engines whose writers
// run one at a time (bbolt), which cannot overlap: their verdict does not
// depend on overlapping.
var forced = workload.Config{Records: 4, HotKeys: 1, Think: 2 * time.Millisecond}

// runOps is one run bounded by its operation count, with no warm-up: so
// that what a verdict needs (a round of the lockstep) happens inside the
// measured window however slowly the machine goes.
func runOps(t *testing.T, eng, wl string, level mvcc.Level, threads int, wc workload.Config, ops int64) runner.Result {
	t.Helper()
	w, err := workload.New(wl, wc)
	require.NoError(t, err)
	res, err := runner.Run(t.Context(), runner.Config{
		Engine: eng, Dir: t.TempDir(), Workload: w, Level: level, Threads: threads, Ops: ops,
	})
	require.NoError(t, err)
	require.Zero(t, res.Errors, res.FirstError)
	return res
}

func TestBankTotalHoldsAtSnapshotAndSerializable(t *testing.T) {
	for _, level := range []mvcc.Level{mvcc.Snapshot, mvcc.Serializable} {
		t.Run(level.String(), func(t *testing.T) {
			t.Parallel()
			res := runOps(t, "mvkv", "bank", level, 8, lockstep, 200)
			require.Equal(t, "total balance unchanged", res.Invariant.Name)
			assert.True(t, res.Invariant.MustHold)
			assert.True(t, res.Invariant.Holds, res.Invariant.Detail)
			assert.Positive(t, res.Aborts["write-write"]+res.Aborts["serialization"], "transfers in lockstep over 4 accounts must collide")
		})
	}
}

func TestBankLosesUpdatesAtReadCommitted(t *testing.T) {
	res := runOps(t, "mvkv", "bank", mvcc.ReadCommitted, 8, lockstep, 200)
	assert.False(t, res.Invariant.MustHold)
	assert.False(t, res.Invariant.Holds, "transfers in lockstep at read committed lose updates: %s", res.Invariant.Detail)
	assert.Zero(t, res.AbortRate, "read committed never aborts a transfer")
}

func TestWriteSkewByLevel(t *testing.T) {
	cases := []struct {
		engine string
		level  mvcc.Level
		holds  bool
	}{
		{"mvkv", mvcc.ReadCommitted, false},
		{"mvkv", mvcc.Snapshot, false}, // the write skew snapshot isolation allows
		{"mvkv", mvcc.Serializable, true},
		{"badger", mvcc.Serializable, true},
	}
	for _, c := range cases {
		t.Run(c.engine+"/"+c.level.String(), func(t *testing.T) {
			t.Parallel()
			res := runOps(t, c.engine, "writeskew", c.level, 4, lockstep, 100)
			assert.Equal(t, c.level == mvcc.Serializable, res.Invariant.MustHold)
			assert.Equal(t, c.holds, res.Invariant.Holds, res.Invariant.Detail)
			if !c.holds {
				assert.Positive(t, res.Invariant.Violations)
			}
		})
	}
	t.Run("bbolt/serializable", func(t *testing.T) {
		t.Parallel()
		res := runOps(t, "bbolt", "writeskew", mvcc.Serializable, 4, forced, 100)
		assert.True(t, res.Invariant.Holds, res.Invariant.Detail)
	})
	t.Run("serializable aborts for serialization", func(t *testing.T) {
		t.Parallel()
		res := runOps(t, "mvkv", "writeskew", mvcc.Serializable, 4, lockstep, 100)
		assert.Positive(t, res.Aborts["serialization"], "%v", res.Aborts)
	})
}

func TestHotKeyCountsEveryCommittedIncrement(t *testing.T) {
	for _, level := range []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable} {
		t.Run(level.String(), func(t *testing.T) {
			t.Parallel()
			res := runOps(t, "mvkv", "hotkey", level, 4, lockstep, 100)
			if level == mvcc.ReadCommitted {
				assert.False(t, res.Invariant.Holds, "read committed loses increments: %s", res.Invariant.Detail)
				return
			}
			assert.True(t, res.Invariant.Holds, res.Invariant.Detail)
			assert.Positive(t, res.AbortRate, "four writers of one hot key in lockstep must collide")
			assert.Positive(t, res.Retried)
		})
	}
}

// TestLongReaderPinsVersions: while the long reader holds its snapshot,
// the writers' old versions stay (the peak exceeds the records); its two
// scans agree at snapshot and differ at read committed (in lockstep the
// writers write only between its two scans, and its second scan waits for
// a write committed after its first). The peak is the runner's samples'
// (every 10ms) and the reader's own, taken while its snapshot holds a
// version a committed write replaced: above the records for certain.
func TestLongReaderPinsVersions(t *testing.T) {
	wc := workload.Config{Records: 50, ReaderHold: 200 * time.Millisecond, Lockstep: true}
	res := runOps(t, "mvkv", "longreader", mvcc.Snapshot, 3, wc, 300)
	require.True(t, res.VersionsReport)
	assert.Greater(t, res.VersionsPeak, int64(wc.Records), "versions held while the reader is open")
	assert.GreaterOrEqual(t, res.VersionsEnd, int64(wc.Records))
	assert.True(t, res.Invariant.Holds, res.Invariant.Detail)
	assert.Positive(t, res.OpsByName["long-read"])
	require.NotEmpty(t, res.Footprint, "longreader records the heap and the files over time")
	assert.Positive(t, res.Footprint[len(res.Footprint)-1].HeapBytes)
	assert.Positive(t, res.Footprint[len(res.Footprint)-1].FileBytes)

	rc := runOps(t, "mvkv", "longreader", mvcc.ReadCommitted, 3, wc, 300)
	assert.False(t, rc.Invariant.Holds, "read committed scans see the writers: %s", rc.Invariant.Detail)
	assert.False(t, rc.Invariant.MustHold)
}

func TestPeersSkipLevelsTheyCannotExpress(t *testing.T) {
	for _, eng := range []string{"bbolt", "bbolt-batch", "badger"} {
		levels, note, err := engine.LevelsOf(eng)
		require.NoError(t, err)
		assert.Equal(t, []mvcc.Level{mvcc.Serializable}, levels)
		assert.Contains(t, note, "read committed")
		res := run(t, eng, "ycsb-c", mvcc.Snapshot, 1, workload.Config{Records: 10})
		assert.Contains(t, res.Skipped, "cannot express snapshot")
		assert.Zero(t, res.Ops)
	}
}

func TestOpsBoundEndsTheRun(t *testing.T) {
	w, err := workload.New("ycsb-a", workload.Config{Records: 100})
	require.NoError(t, err)
	res, err := runner.Run(t.Context(), runner.Config{Engine: "mvkv", Dir: t.TempDir(), Workload: w,
		Level: mvcc.Snapshot, Threads: 2, Ops: 500})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, res.Ops, int64(500))
	assert.Less(t, res.Ops, int64(500+2*50), "a few in flight may finish after the bound")
	assert.Equal(t, res.Ops, res.OpsByName["read"]+res.OpsByName["update"])
}

func TestUnknownNames(t *testing.T) {
	_, err := workload.New("ycsb-z", workload.Config{})
	assert.ErrorIs(t, err, workload.ErrUnknown)
	_, err = workload.New("tpcc", workload.Config{})
	assert.ErrorIs(t, err, workload.ErrUnknown)
	_, err = workload.New("ycsb-a", workload.Config{Distribution: "gaussian"})
	assert.ErrorIs(t, err, workload.ErrUnknownDistribution)
	assert.NotErrorIs(t, err, workload.ErrUnknown, "the workload is known")
	_, err = engine.Open("rocksdb", t.TempDir(), engine.Options{})
	assert.ErrorIs(t, err, engine.ErrUnknown)
	_, _, err = engine.LevelsOf("rocksdb")
	assert.ErrorIs(t, err, engine.ErrUnknown)
}
