package goals

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"

	"github.com/mvkv/mvkv/bench/report"
	"github.com/mvkv/mvkv/bench/runner"
	"github.com/mvkv/mvkv/bench/workload"
	"github.com/mvkv/mvkv/mvcc"
)

// ScalingCores is the core count the scaling goals are set at.
const ScalingCores = 16

// Scaling targets: reads at ScalingCores cores against one core and
// against bbolt there; serializable against snapshot there.
const (
	readScalingTarget = 8.0
	ssiScalingTarget  = 0.9
)

// atCores runs fn with GOMAXPROCS set to n.
func atCores[T any](n int, fn func() (T, error)) (T, error) {
	prev := runtime.GOMAXPROCS(n)
	defer runtime.GOMAXPROCS(prev)
	return fn()
}

// goalScaling: reads scale with cores. Point reads in View and in
// read-only transactions at every level, and YCSB-C, at ScalingCores
// cores (as many goroutines) against one core and against bbolt at
// ScalingCores; YCSB-B serializable against snapshot at ScalingCores. On
// a machine with fewer cores the figures are measured at the cores it has
// and the goals are reported unjudged, saying so.
func goalScaling(ctx context.Context, cfg Config, dir string) ([]Goal, error) {
	cores := min(ScalingCores, runtime.NumCPU())
	unjudged := ""
	if cores < ScalingCores {
		unjudged = fmt.Sprintf("this machine has %d cores; the goal is set at %d: figures measured at %d cores, not judged", runtime.NumCPU(), ScalingCores, cores)
	}
	mv, bb, closeBoth, err := openLoaded(ctx, cfg, dir)
	if err != nil {
		return nil, err
	}
	defer closeBoth()
	r := rand.New(rand.NewPCG(5, 6))
	keys := make([][]byte, 1<<16)
	for i := range keys {
		keys[i] = goalKey(r.IntN(cfg.Keys))
	}
	pick := func(g, i int) []byte { return keys[(g*7919+i)&(len(keys)-1)] }
	measure := func(n int, fn func(g, i int) error) (float64, error) {
		var v []float64
		for range cfg.Rounds {
			x, err := atCores(n, func() (float64, error) { return hammer(ctx, n, cfg.Duration, fn) })
			if err != nil {
				return 0, err
			}
			v = append(v, x)
		}
		return report.Median(v), nil
	}
	boltRead, err := pointRead(bb, mvcc.Serializable, pick, nil, cores)
	if err != nil {
		return nil, err
	}
	bolt16, err := measure(cores, boltRead)
	if err != nil {
		return nil, err
	}
	detail := func(what string) string {
		return fmt.Sprintf("%s; %d keys of %d-byte values, median of %d rounds of %v", what, cfg.Keys, cfg.ValueSize, cfg.Rounds, cfg.Duration)
	}
	var goals []Goal
	judge := func(g Goal) {
		if unjudged != "" {
			g.Met, g.Unjudged = false, unjudged
		}
		goals = append(goals, g)
	}
	// Point reads in mvkv's read-only transactions (engine.Viewer): View,
	// then a read-only transaction at each level (at snapshot that is
	// View again: a read-only transaction ended by Rollback).
	type read struct {
		name string
		read func(g, i int) error
	}
	var reads []read
	for j, level := range []mvcc.Level{mvcc.Snapshot, mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable} {
		name := "View point read"
		if j > 0 {
			name = "read-only " + level.String() + " point read"
		}
		fn, err := pointRead(mv, level, pick, nil, cores)
		if err != nil {
			return nil, err
		}
		reads = append(reads, read{name, fn})
	}
	for _, rd := range reads {
		one, err := measure(1, rd.read)
		if err != nil {
			return nil, err
		}
		many, err := measure(cores, rd.read)
		if err != nil {
			return nil, err
		}
		judge(ratioGoal(fmt.Sprintf("%s, %d cores vs 1", rd.name, ScalingCores), "reads/s", many, one, readScalingTarget,
			detail(fmt.Sprintf("one transaction per read, %d goroutines on %d cores vs 1 on 1", cores, cores))))
		judge(ratioGoal(fmt.Sprintf("%s vs bbolt View+Get, %d cores", rd.name, ScalingCores), "reads/s", many, bolt16, readScalingTarget,
			detail(fmt.Sprintf("%d goroutines on %d cores each", cores, cores))))
	}

	ycsb := func(name, eng string, level mvcc.Level, n int) (float64, error) {
		var v []float64
		for range cfg.Rounds {
			w, err := workload.New(name, workload.Config{Records: cfg.Keys, ValueSize: cfg.ValueSize, Fields: 1})
			if err != nil {
				return 0, err
			}
			// A run that completed nothing (a slow machine, -race) measured
			// nothing: it runs again, longer, a few times.
			var res runner.Result
			for d := cfg.Duration; res.Ops == 0 && d <= 8*cfg.Duration; d *= 2 {
				if d > cfg.Duration {
					if w, err = workload.New(name, workload.Config{Records: cfg.Keys, ValueSize: cfg.ValueSize, Fields: 1}); err != nil {
						return 0, err
					}
				}
				res, err = atCores(n, func() (runner.Result, error) {
					return runner.Run(ctx, runner.Config{Engine: eng, Dir: dir, Workload: w, Level: level,
						Threads: n, Duration: d, Warmup: d / 10})
				})
				if err != nil {
					return 0, err
				}
			}
			if res.Errors > 0 {
				return 0, fmt.Errorf("%s on %s: %s", name, eng, res.FirstError)
			}
			v = append(v, res.Throughput)
		}
		return report.Median(v), nil
	}
	c1, err := ycsb("ycsb-c", "mvkv", mvcc.Snapshot, 1)
	if err != nil {
		return nil, err
	}
	cN, err := ycsb("ycsb-c", "mvkv", mvcc.Snapshot, cores)
	if err != nil {
		return nil, err
	}
	cB, err := ycsb("ycsb-c", "bbolt", mvcc.Serializable, cores)
	if err != nil {
		return nil, err
	}
	ycsbDetail := detail(fmt.Sprintf("YCSB-C (zipfian reads), mvkv at snapshot, %d threads on %d cores", cores, cores))
	judge(ratioGoal(fmt.Sprintf("YCSB-C, %d cores vs 1", ScalingCores), "ops/s", cN, c1, readScalingTarget, ycsbDetail+" vs 1 on 1"))
	judge(ratioGoal(fmt.Sprintf("YCSB-C vs bbolt, %d cores", ScalingCores), "ops/s", cN, cB, readScalingTarget, ycsbDetail))

	ser, err := ycsb("ycsb-b", "mvkv", mvcc.Serializable, cores)
	if err != nil {
		return nil, err
	}
	snap, err := ycsb("ycsb-b", "mvkv", mvcc.Snapshot, cores)
	if err != nil {
		return nil, err
	}
	judge(ratioGoal(fmt.Sprintf("serializable vs snapshot, YCSB-B, %d cores", ScalingCores), "ops/s", ser, snap, ssiScalingTarget,
		detail(fmt.Sprintf("%d threads on %d cores, no fsync", cores, cores))))
	return goals, nil
}
