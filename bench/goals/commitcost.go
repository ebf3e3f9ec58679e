package goals

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/mvkv/mvkv/bench/engine"
	"github.com/mvkv/mvkv/bench/report"
	"github.com/mvkv/mvkv/mvcc"
)

// atMostGoal is an absolute goal: Value is ours, and must stay at or
// below target.
func atMostGoal(name, unit string, v, target float64, detail string) Goal {
	return Goal{Name: name, Ours: v, Value: v, Unit: unit, Target: target, AtMost: true, Met: v <= target, Detail: detail}
}

// tailWriters is how many durable writers the commit-latency goal runs.
const tailWriters = 16

// goalCommitCost: what one commit costs without fsync (one writer), how
// far the slowest durable commits of tailWriters writers stray from the
// typical one, and a bulk load, each against bbolt.
func goalCommitCost(ctx context.Context, cfg Config, dir string) (_ []Goal, err error) {
	var goals []Goal
	// One writer, no fsync: the CPU a commit costs.
	var ours, theirs []float64
	for r := range cfg.Rounds {
		o, err := timedPuts(ctx, dir, fmt.Sprintf("nosync-%d", r), "mvkv", false, 1, cfg.Duration, cfg)
		if err != nil {
			return nil, err
		}
		t, err := timedPuts(ctx, dir, fmt.Sprintf("nosync-%d", r), "bbolt", false, 1, cfg.Duration, cfg)
		if err != nil {
			return nil, err
		}
		ours, theirs = append(ours, perCommit(o)), append(theirs, perCommit(t))
	}
	goals = append(goals, atMostGoal("commit without fsync, 1 writer", "µs", report.Median(ours), 30,
		fmt.Sprintf("one put per transaction, median of %d rounds of %v; bbolt's Update %.1f µs", cfg.Rounds, cfg.Duration, report.Median(theirs))))

	// tailWriters durable writers: p99.9 over p50 of every commit's latency.
	ours, theirs = ours[:0], theirs[:0]
	var p50, p999 []float64
	for r := range cfg.tailRounds {
		o, err := timedPuts(ctx, dir, fmt.Sprintf("tail-%d", r), "mvkv", true, tailWriters, cfg.TailDuration, cfg)
		if err != nil {
			return nil, err
		}
		t, err := timedPuts(ctx, dir, fmt.Sprintf("tail-%d", r), "bbolt", true, tailWriters, cfg.TailDuration, cfg)
		if err != nil {
			return nil, err
		}
		p50, p999 = append(p50, quantile(o, 0.5)), append(p999, quantile(o, 0.999))
		ours, theirs = append(ours, quantile(o, 0.999)/quantile(o, 0.5)), append(theirs, quantile(t, 0.999)/quantile(t, 0.5))
	}
	goals = append(goals, atMostGoal(fmt.Sprintf("durable commits, %d writers: p99.9 over p50", tailWriters), "×", report.Median(ours), 3,
		fmt.Sprintf("one put per transaction, %s: p50 %.2f ms, p99.9 %.2f ms; bbolt's ratio %.1f", runs(cfg.tailRounds, cfg.TailDuration), report.Median(p50), report.Median(p999), report.Median(theirs))))
	disk, err := diskSyncGoal(dir, cfg)
	if err != nil {
		return nil, err
	}
	goals = append(goals, disk)

	// A bulk load: keys in order, 1,000 per transaction, durable.
	ours, theirs = ours[:0], theirs[:0]
	n := cfg.Keys
	for r := range cfg.Rounds {
		o, err := bulkLoad(ctx, dir, fmt.Sprintf("bulk-%d", r), "mvkv", n, cfg.StorageValueSize)
		if err != nil {
			return nil, err
		}
		t, err := bulkLoad(ctx, dir, fmt.Sprintf("bulk-%d", r), "bbolt", n, cfg.StorageValueSize)
		if err != nil {
			return nil, err
		}
		ours, theirs = append(ours, o), append(theirs, t)
	}
	goals = append(goals, ratioGoal("bulk load vs bbolt", "keys/s", report.Median(ours), report.Median(theirs), 1,
		fmt.Sprintf("%d keys of %d bytes in key order, 1,000 per transaction, durable, median of %d rounds", n, cfg.StorageValueSize, cfg.Rounds)))
	return goals, nil
}

// runs names n rounds of d: "one run of 30s", "median of 3 rounds of 2s".
func runs(n int, d time.Duration) string {
	if n == 1 {
		return fmt.Sprintf("one run of %v", d)
	}
	return fmt.Sprintf("median of %d rounds of %v", n, d)
}

// timedPuts runs writers goroutines committing one put each for d on a
// fresh engine, and returns every commit's latency.
func timedPuts(ctx context.Context, dir, sub, name string, durable bool, writers int, d time.Duration, cfg Config) ([]time.Duration, error) {
	e, err := openEngine(filepath.Join(dir, sub), name, engine.Options{Durable: durable})
	if err != nil {
		return nil, err
	}
	level := mvcc.Snapshot
	if name != "mvkv" {
		level = mvcc.Serializable
	}
	val := goalValue(cfg.ValueSize, 1)
	lat := make([][]time.Duration, writers) // each goroutine's own
	_, err = hammer(ctx, writers, d, func(g, i int) error {
		t := time.Now()
		err := e.Txn(level, false, func(tx engine.Tx) error {
			return tx.Put(fmt.Appendf(nil, "w%03d/%010d", g, i), val)
		})
		lat[g] = append(lat[g], time.Since(t))
		return err
	})
	if cerr := e.Close(); err == nil {
		err = cerr
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	return all, err
}

// perCommit is the mean of sorted latencies, in µs.
func perCommit(lat []time.Duration) float64 {
	if len(lat) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	return float64(sum) / float64(len(lat)) / 1e3
}

// quantile is the q quantile of sorted latencies, in ms, interpolated
// between the two nearest ranks: at 0.5 it is report.Median's median (the
// mean of the middle pair of an even number).
func quantile(lat []time.Duration, q float64) float64 {
	if len(lat) == 0 {
		return 0
	}
	pos := float64(len(lat)-1) * q
	lo := int(pos)
	hi := min(lo+1, len(lat)-1)
	v := float64(lat[lo]) + (float64(lat[hi])-float64(lat[lo]))*(pos-float64(lo))
	return v / 1e6
}

// bulkLoad loads n keys of size bytes in key order, 1,000 per durable
// transaction, into a fresh engine, and returns keys per second.
func bulkLoad(ctx context.Context, dir, sub, name string, n, size int) (float64, error) {
	e, err := openEngine(filepath.Join(dir, sub), name, engine.Options{Durable: true})
	if err != nil {
		return 0, err
	}
	level := mvcc.Snapshot
	if name != "mvkv" {
		level = mvcc.Serializable
	}
	val := goalValue(size, 2)
	start := time.Now()
	for lo := 0; lo < n && err == nil; lo += 1000 {
		if err = ctx.Err(); err != nil {
			break
		}
		err = e.Txn(level, false, func(tx engine.Tx) error {
			for i := lo; i < min(lo+1000, n); i++ {
				if err := tx.Put(goalKey(i), val); err != nil {
					return err
				}
			}
			return nil
		})
	}
	rate := float64(n) / time.Since(start).Seconds()
	if cerr := e.Close(); err == nil {
		err = cerr
	}
	return rate, err
}
