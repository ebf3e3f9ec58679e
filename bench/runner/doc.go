// Package runner runs one workload on one engine at one isolation level
// with N goroutines for a duration (or an operation count), after a
// warm-up whose operations are not recorded. Each operation is one
// transaction; the runner retries it when the engine aborts it, and counts
// the abort by cause. The Result holds throughput, latency percentiles
// from an HDR histogram (p50 to p99.9), abort and retry rates, the
// versions the engine held, Go GC activity, and the outcome of the
// workload's invariant check.
package runner
