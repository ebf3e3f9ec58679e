package bench_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/bench"
)

// sweep makes results of a hot-key sweep over two thread counts, as the
// CLI would produce, plus a skipped row.
func sweep() []bench.Result {
	var out []bench.Result
	for _, threads := range []int{2, 8} {
		for _, hot := range []int{1, 16, 256} {
			for _, level := range []string{"snapshot", "serializable"} {
				out = append(out, bench.Result{
					Engine: "mvkv", Workload: "hotkey", Level: level, Threads: threads, Param: bench.HotKeysParam(hot),
					Ops: 1000, Elapsed: time.Second, Throughput: float64(1000 * threads / hot),
					Latency:   bench.Latency{P50: time.Microsecond, P99: time.Duration(hot) * time.Microsecond},
					Aborts:    map[string]int64{"write-write": int64(100 / hot)},
					AbortRate: 0.1 / float64(hot),
					Invariant: bench.Invariant{Name: "counters", Holds: true, MustHold: true},
				})
			}
		}
	}
	return append(out, bench.Result{Engine: "bbolt", Workload: "hotkey", Level: "snapshot", Threads: 2,
		Skipped: "bbolt cannot express snapshot", Note: "one writer at a time"})
}

func TestWriteJSONRoundTrips(t *testing.T) {
	in := sweep()
	var buf bytes.Buffer
	require.NoError(t, bench.WriteJSON(&buf, in))
	var out []bench.Result
	require.NoError(t, json.Unmarshal(buf.Bytes(), &out))
	assert.Equal(t, in, out)
}

func TestWriteCSVHasOneRowPerResult(t *testing.T) {
	in := sweep()
	var buf bytes.Buffer
	require.NoError(t, bench.WriteCSV(&buf, in))
	rows, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, len(in)+1)
	assert.Equal(t, "workload", rows[0][0])
	assert.Equal(t, "hot-keys=1", rows[1][1])
	for _, r := range rows {
		assert.Len(t, r, len(rows[0]))
	}
}

func TestWriteTable(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, bench.WriteTable(&buf, sweep()))
	s := buf.String()
	assert.Contains(t, s, "hot-keys=16")
	assert.Contains(t, s, "write-write")
	assert.Contains(t, s, "bbolt (snapshot: n/a): one writer at a time")
	assert.NotContains(t, s, "BROKEN")
}

func TestWritePlots(t *testing.T) {
	for _, format := range []string{"svg", "png"} {
		dir := filepath.Join(t.TempDir(), "charts")
		files, err := bench.WritePlots(dir, format, sweep())
		require.NoError(t, err)
		names := map[string]bool{}
		for _, f := range files {
			names[filepath.Base(f)] = true
			st, err := os.Stat(f)
			require.NoError(t, err)
			assert.Positive(t, st.Size())
		}
		for _, want := range []string{
			"throughput-hotkey-hot-keys1-t2." + format, "p99-hotkey-hot-keys256-t8." + format,
			"threads-hotkey-hot-keys16-throughput." + format, "threads-hotkey-hot-keys16-p99." + format,
			"contention-hotkey-abort-rate." + format,
		} {
			assert.True(t, names[want], "missing %s in %v", want, files)
		}
	}
	_, err := bench.WritePlots(t.TempDir(), "gif", sweep())
	assert.Error(t, err)
}

// TestMeasureGoalsSmall runs every goal measurement at a tiny size: it
// checks that each produces a figure, not what the figure is.
func TestMeasureGoalsSmall(t *testing.T) {
	goals, err := bench.MeasureGoals(t.Context(), bench.GoalsConfig{
		Dir: t.TempDir(), Duration: 50 * time.Millisecond, Rounds: 1, Writers: 8, Keys: 3000, RestartKeys: 5000,
	})
	require.NoError(t, err)
	require.Len(t, goals, 7)
	for _, g := range goals {
		assert.Positive(t, g.Ours, g.Name)
		assert.Positive(t, g.Value, g.Name)
		assert.NotEmpty(t, g.Detail)
	}
}
