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

// Contention is forced with a pause inside each transaction between its
// reads and its writes, so that concurrent transactions overlap for sure.
var forced = workload.Config{Records: 4, HotKeys: 1, Think: 2 * time.Millisecond}

func TestBankTotalHoldsAtSnapshotAndSerializable(t *testing.T) {
	for _, level := range []mvcc.Level{mvcc.Snapshot, mvcc.Serializable} {
		t.Run(level.String(), func(t *testing.T) {
			t.Parallel()
			res := run(t, "mvkv", "bank", level, 8, forced)
			require.Zero(t, res.Errors, res.FirstError)
			require.Equal(t, "total balance unchanged", res.Invariant.Name)
			assert.True(t, res.Invariant.MustHold)
			assert.True(t, res.Invariant.Holds, res.Invariant.Detail)
			assert.Positive(t, res.Aborts["write-write"]+res.Aborts["serialization"], "forced contention must abort some transfers")
		})
	}
}

func TestBankLosesUpdatesAtReadCommitted(t *testing.T) {
	res := run(t, "mvkv", "bank", mvcc.ReadCommitted, 8, forced)
	require.Zero(t, res.Errors, res.FirstError)
	assert.False(t, res.Invariant.MustHold)
	assert.False(t, res.Invariant.Holds, "overlapping transfers at read committed lose updates: %s", res.Invariant.Detail)
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
		{"bbolt", mvcc.Serializable, true},
		{"badger", mvcc.Serializable, true},
	}
	for _, c := range cases {
		t.Run(c.engine+"/"+c.level.String(), func(t *testing.T) {
			t.Parallel()
			res := run(t, c.engine, "writeskew", c.level, 4, forced)
			require.Zero(t, res.Errors, res.FirstError)
			assert.Equal(t, c.level == mvcc.Serializable, res.Invariant.MustHold)
			assert.Equal(t, c.holds, res.Invariant.Holds, res.Invariant.Detail)
			if !c.holds {
				assert.Positive(t, res.Invariant.Violations)
			}
		})
	}
	t.Run("serializable aborts for serialization", func(t *testing.T) {
		res := run(t, "mvkv", "writeskew", mvcc.Serializable, 4, forced)
		assert.Positive(t, res.Aborts["serialization"], "%v", res.Aborts)
	})
}

func TestHotKeyCountsEveryCommittedIncrement(t *testing.T) {
	for _, level := range []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable} {
		t.Run(level.String(), func(t *testing.T) {
			t.Parallel()
			res := run(t, "mvkv", "hotkey", level, 4, forced)
			require.Zero(t, res.Errors, res.FirstError)
			if level == mvcc.ReadCommitted {
				assert.False(t, res.Invariant.Holds, "read committed loses increments: %s", res.Invariant.Detail)
				return
			}
			assert.True(t, res.Invariant.Holds, res.Invariant.Detail)
			assert.Positive(t, res.AbortRate, "one hot key and four writers must collide")
			assert.Positive(t, res.Retried)
		})
	}
}

// TestLongReaderPinsVersions: while the long reader holds its snapshot,
// the writers' old versions stay (the peak exceeds the records); its two
// scans agree at snapshot and differ at read committed.
func TestLongReaderPinsVersions(t *testing.T) {
	wc := workload.Config{Records: 50, ReaderHold: 50 * time.Millisecond}
	res := run(t, "mvkv", "longreader", mvcc.Snapshot, 3, wc)
	require.Zero(t, res.Errors, res.FirstError)
	require.True(t, res.VersionsReport)
	assert.Greater(t, res.VersionsPeak, int64(wc.Records), "versions held while the reader is open")
	assert.GreaterOrEqual(t, res.VersionsEnd, int64(wc.Records))
	assert.True(t, res.Invariant.Holds, res.Invariant.Detail)
	assert.Positive(t, res.OpsByName["long-read"])
	require.NotEmpty(t, res.Footprint, "longreader records the heap and the files over time")
	assert.Positive(t, res.Footprint[len(res.Footprint)-1].HeapBytes)
	assert.Positive(t, res.Footprint[len(res.Footprint)-1].FileBytes)

	rc := run(t, "mvkv", "longreader", mvcc.ReadCommitted, 3, wc)
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
	assert.ErrorIs(t, err, workload.ErrUnknown)
	_, err = engine.Open("rocksdb", t.TempDir(), engine.Options{})
	assert.ErrorIs(t, err, engine.ErrUnknown)
	_, _, err = engine.LevelsOf("rocksdb")
	assert.ErrorIs(t, err, engine.ErrUnknown)
}
