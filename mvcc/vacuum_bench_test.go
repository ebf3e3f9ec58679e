package mvcc_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

const benchValueSize = 100

// writeKeys commits one version of each key i*stride for i in [0, n), 1000
// keys per transaction.
func writeKeys(b testing.TB, db *mvcc.DB, n, stride, round int) {
	b.Helper()
	value := make([]byte, benchValueSize)
	copy(value, fmt.Sprint("round ", round))
	for lo := 0; lo < n; lo += 1000 {
		require.NoError(b, db.Update(context.Background(), mvcc.ReadCommitted, func(tx *mvcc.Txn) error {
			for i := lo; i < min(lo+1000, n); i++ {
				if err := tx.Put(benchKey(i*stride), value); err != nil {
					return err
				}
			}
			return nil
		}))
	}
}

// BenchmarkVacuum measures vacuum throughput: each iteration overwrites
// dead keys out of live (untimed), then times a vacuum removing those dead
// versions. "stride" spreads the overwritten keys evenly over the key
// space (and so the dead versions over the whole file); "contiguous" takes
// the first dead keys. Throughput should depend on dead, not on live.
//
//	go test -run '^$' -bench BenchmarkVacuum$ -benchtime 3x ./mvcc
func BenchmarkVacuum(b *testing.B) {
	cases := []struct {
		live, dead int
		spread     bool
		pause      time.Duration
	}{
		{100_000, 100_000, false, 0},
		{1_000_000, 100_000, false, 0},
		{1_000_000, 100_000, true, 0},
		{1_000_000, 400_000, false, 0},
		{100_000, 100_000, false, -1},
		{1_000_000, 100_000, false, -1},
		{1_000_000, 400_000, false, -1},
	}
	for _, c := range cases {
		layout := "contiguous"
		stride := 1
		if c.spread {
			layout, stride = "spread", c.live/c.dead
		}
		pause := "adaptive"
		if c.pause < 0 {
			pause = "none"
		}
		b.Run(fmt.Sprintf("live=%d/dead=%d/%s/pause=%s", c.live, c.dead, layout, pause), func(b *testing.B) {
			db, err := mvcc.Open(filepath.Join(b.TempDir(), "bench.db"),
				&mvcc.Options{NoSync: true, NoAutovacuum: true, VacuumPause: c.pause})
			require.NoError(b, err)
			defer db.Close()
			writeKeys(b, db, c.live, 1, 0)
			var removed int64
			var vacuumTime time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				writeKeys(b, db, c.dead, stride, i+1)
				b.StartTimer()
				st, err := db.Vacuum(context.Background())
				require.NoError(b, err)
				require.Equal(b, int64(c.dead), st.VersionsRemoved)
				removed += st.VersionsRemoved
				vacuumTime += st.Duration
			}
			b.ReportMetric(float64(removed)/vacuumTime.Seconds(), "versions/s")
			b.ReportMetric(float64(vacuumTime.Nanoseconds())/float64(removed), "ns/version")
		})
	}
}

// BenchmarkVacuumCommitLatency measures what a vacuum costs concurrent
// commits. With durable commits (fsync), it loads a database whose dead
// versions number MVKV_BENCH_DEAD (default 100,000; the report uses
// 1,000,000), then runs a vacuum while a committer makes back-to-back
// single-key commits, and reports the worst commit latency during the
// vacuum against the vacuum's length, and the worst latency of the same
// committer without a vacuum as a baseline. MVKV_BENCH_PAUSE sets
// Options.VacuumPause (default adaptive; "-1ns" for none).
//
//	MVKV_BENCH_DEAD=1000000 go test -run '^$' -bench CommitLatency -benchtime 1x -timeout 30m ./mvcc
func BenchmarkVacuumCommitLatency(b *testing.B) {
	dead := 100_000
	if s := os.Getenv("MVKV_BENCH_DEAD"); s != "" {
		var err error
		dead, err = strconv.Atoi(s)
		require.NoError(b, err)
	}
	var pause time.Duration // MVKV_BENCH_PAUSE: Options.VacuumPause, e.g. -1ns for none
	if s := os.Getenv("MVKV_BENCH_PAUSE"); s != "" {
		var err error
		pause, err = time.ParseDuration(s)
		require.NoError(b, err)
	}
	db, err := mvcc.Open(filepath.Join(b.TempDir(), "latency.db"), &mvcc.Options{NoAutovacuum: true, VacuumPause: pause})
	require.NoError(b, err)
	defer db.Close()
	ctx := context.Background()

	// commitLoop makes single-key commits until stop and returns their
	// latencies, slowest first.
	commitLoop := func(stop *atomic.Bool) (lat []time.Duration) {
		for i := 0; !stop.Load(); i++ {
			t0 := time.Now()
			require.NoError(b, db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
				return tx.Put([]byte(fmt.Sprintf("hot%02d", i%16)), []byte("v"))
			}))
			lat = append(lat, time.Since(t0))
		}
		slices.SortFunc(lat, func(a, b time.Duration) int { return cmp.Compare(b, a) })
		return lat
	}
	mean := func(lat []time.Duration) time.Duration {
		var t time.Duration
		for _, d := range lat {
			t += d
		}
		return t / time.Duration(max(len(lat), 1))
	}

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// Half the keys are overwritten twice: dead versions are spread
		// over the first half of the file, live data stays around.
		if i == 0 {
			writeKeys(b, db, dead, 1, 0)
		}
		writeKeys(b, db, dead/2, 1, 2*i+1)
		writeKeys(b, db, dead/2, 1, 2*i+2)

		// Baseline: the committer alone for a while.
		var stop atomic.Bool
		time.AfterFunc(time.Second, func() { stop.Store(true) })
		base := commitLoop(&stop)
		b.StartTimer()

		stop.Store(false)
		var wg sync.WaitGroup
		var lat []time.Duration
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat = commitLoop(&stop)
		}()
		time.Sleep(50 * time.Millisecond) // the committer is running
		st, err := db.Vacuum(ctx)
		stop.Store(true)
		wg.Wait()
		require.NoError(b, err)
		require.NotEmpty(b, lat)
		b.Logf("dead %d: vacuum removed %d versions in %v (%d batches, longest %v); during it %d commits, slowest %v, mean %v; "+
			"alone for 1s: %d commits, slowest %v, mean %v",
			dead, st.VersionsRemoved, st.Duration, st.Batches, st.LongestBatch, len(lat), lat[:min(5, len(lat))], mean(lat),
			len(base), base[:min(5, len(base))], mean(base))
		b.ReportMetric(float64(st.Duration.Milliseconds()), "vacuum-ms")
		b.ReportMetric(float64(st.LongestBatch.Microseconds())/1000, "longest-batch-ms")
		b.ReportMetric(float64(lat[0].Microseconds())/1000, "worst-commit-ms")
		b.ReportMetric(float64(mean(lat).Microseconds())/1000, "mean-commit-ms")
		b.ReportMetric(float64(base[0].Microseconds())/1000, "base-worst-commit-ms")
		b.ReportMetric(float64(st.VersionsRemoved)/st.Duration.Seconds(), "versions/s")
	}
}
