// Package bench measures what each isolation level of mvkv costs and how
// mvkv compares with the stores people would use instead. It holds no code
// of its own: each job has its package.
//
//   - engine: the Engine interface every store under test implements, and
//     one adapter per store (mvkv, mvkv-locking, bbolt, bbolt-batch, badger,
//     postgres, etcd).
//   - workload: the workloads (YCSB A–F, bank, write skew, hot key, long
//     reader) and their invariants, written against engine.Engine.
//   - runner: one run of a workload on an engine at a level, and its
//     Result.
//   - report: rounds folded into summaries, and the report as a table,
//     JSON, CSV, charts and one HTML page.
//   - goals: the performance-goal measurements, mvkv and bbolt driven
//     through engine.Engine as every run is.
//   - crossengine: the same anomaly scenarios and checkers run on mvkv,
//     PostgreSQL and etcd.
//   - cmd/mvkv-bench: the command line.
//
// A run is one Workload on one Engine at one isolation level with N
// goroutines for a duration (or an operation count), after a warm-up whose
// operations are not recorded:
//
//	w, err := workload.New("ycsb-b", workload.Config{})
//	...
//	res, err := runner.Run(ctx, runner.Config{
//		Engine: "mvkv", Workload: w, Level: mvcc.Serializable,
//		Threads: 8, Duration: time.Second,
//	})
package bench
