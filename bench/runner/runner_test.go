package runner_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/bench/engine"
	"github.com/mvkv/mvkv/bench/runner"
	"github.com/mvkv/mvkv/bench/workload"
	"github.com/mvkv/mvkv/mvcc"
)

// run is one short run, bounded by its operation count with no warm-up,
// so that it measures something however slowly a loaded machine goes; the
// workloads are small so the tests stay fast.
func run(t *testing.T, eng, wl string, level mvcc.Level, threads int, wc workload.Config) runner.Result {
	t.Helper()
	w, err := workload.New(wl, wc)
	require.NoError(t, err)
	res, err := runner.Run(context.Background(), runner.Config{
		Engine: eng, Dir: t.TempDir(), Workload: w, Level: level, Threads: threads, Ops: 200,
	})
	require.NoError(t, err)
	return res
}

func TestEveryWorkloadRunsOnEveryEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every workload on every engine")
	}
	wc := workload.Config{Records: 500, ReaderHold: 20 * time.Millisecond}
	for _, eng := range engine.Defaults() { // the servers: TestServerEngines
		for _, wl := range workload.Names() {
			t.Run(eng+"/"+wl, func(t *testing.T) {
				t.Parallel()
				res := run(t, eng, wl, mvcc.Serializable, 4, wc)
				require.Empty(t, res.Skipped)
				assert.Zero(t, res.Errors, res.FirstError)
				assert.Positive(t, res.Ops)
				assert.Positive(t, res.Throughput)
				assert.Positive(t, res.Latency.P50)
				assert.LessOrEqual(t, res.Latency.P50, res.Latency.P99)
				assert.LessOrEqual(t, res.Latency.P99, res.Latency.P999)
				assert.LessOrEqual(t, res.Latency.P999, res.Latency.Max)
				assert.False(t, res.Invariant.Broken(), "%s: %s", res.Invariant.Name, res.Invariant.Detail)
				var inWindows int64
				for i, w := range res.Timeline {
					assert.Equal(t, i, w.Second)
					assert.LessOrEqual(t, w.P50, w.P99)
					inWindows += w.Ops
				}
				assert.Equal(t, res.Ops, inWindows, "every operation counted in its second")
			})
		}
	}
}
