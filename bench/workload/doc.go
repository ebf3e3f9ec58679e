// Package workload holds the benchmark workloads, written against
// engine.Engine: YCSB core A–F, with YCSB's generators (scrambled zipfian
// over 10^10 items, skewed latest over acknowledged inserts, hashed keys,
// 10 fields of 100 bytes) and an explicit request distribution (zipfian,
// uniform or latest), bank transfers (the total is checked at the end),
// write skew (doctors on call: the invariant shows what each level
// allows), a hot-key contention sweep, and a long-running reader beside
// writers (version chains grow until the reader ends; vacuum then frees
// them), and put, one blind write per transaction (commit latency alone).
// Each checks its invariant after the run.
package workload
