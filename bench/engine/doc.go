// Package engine is the interface every store under test implements, so
// that mvkv and its peers run the same workloads, and the adapters.
//
// Engines: "mvkv" (this module), "mvkv-locking" (mvkv's serializable by
// two-phase locking, TxOptions.Locking: the fourth mvkv row, serializable
// only), and the peers "bbolt" (one Update per transaction),
// "bbolt-batch" (bbolt's DB.Batch, which coalesces concurrent writers),
// "badger" (Badger v4, optimistic transactions with conflict detection),
// "postgres" (a PostgreSQL server started for the run) and "etcd" (a
// three-member cluster in this process), and "noop", no engine at all:
// the harness's ceiling. A peer declares the levels it
// can express; a run at any other level is reported as skipped with the
// reason, never faked.
package engine
