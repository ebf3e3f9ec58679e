// Package bench measures what each isolation level of mvkv costs and how
// mvkv compares with the stores people would use instead.
//
// A run is one Workload on one Engine at one isolation level with N
// goroutines for a duration (or an operation count), after a warm-up whose
// operations are not recorded. Each operation is one transaction; the
// runner retries it when the engine aborts it, and counts the abort by
// cause. The Result holds throughput, latency percentiles from an HDR
// histogram (p50 to p99.9), abort and retry rates, the versions the engine
// held, Go GC activity, and the outcome of the workload's invariant check.
//
// One run proves little on a shared machine, so a cell (workload, threads,
// engine, level) is run for several rounds: Summarize folds them into a
// Summary of medians with their range (min–max), and Ties names the rows
// whose ranges overlap, which the rounds cannot rank. A Report carries the
// summaries, every run, and the Meta needed to read them later (settings,
// Go version, CPUs, commit, date); WriteTable, WriteJSON, WriteCSV,
// WritePlots and WriteHTML (one self-contained page) write it. Charts mark
// every cell whose invariant failed.
//
// Engines: "mvkv" (this module), "mvkv-locking" (mvkv's serializable by
// two-phase locking, TxOptions.Locking: the fourth mvkv row, serializable
// only), and the peers "bbolt" (one Update per
// transaction), "bbolt-batch" (bbolt's DB.Batch, which coalesces
// concurrent writers) and "badger" (Badger v4, optimistic transactions with
// conflict detection). A peer declares the levels it can express; a run at
// any other level is reported as skipped with the reason, never faked.
//
// Workloads: YCSB core A–F, with YCSB's generators (scrambled zipfian over
// 10^10 items, skewed latest over acknowledged inserts, hashed keys, 10
// fields of 100 bytes) and an explicit request distribution (zipfian,
// uniform or latest), bank transfers (the total is checked at the
// end), write skew (doctors on call: the invariant shows what each level
// allows), a hot-key contention sweep, and a long-running reader beside
// writers (version chains grow until the reader ends; vacuum then frees
// them).
//
//	res, err := bench.Run(ctx, bench.Config{
//		Engine: "mvkv", Workload: bench.YCSB('B'), Level: mvcc.Serializable,
//		Threads: 8, Duration: time.Second,
//	})
//
// The command bench/cmd/mvkv-bench drives it from the command line.
package bench
