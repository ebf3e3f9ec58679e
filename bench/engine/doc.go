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
//
// Beside Engine and Tx, which every workload needs, optional interfaces
// name what only some engines can do: Versioner and Vacuumer (mvkv's
// versions), and the ways of reading the performance goals compare,
// Viewer (a read-only transaction ended without a commit: mvkv's View,
// bbolt's View), Lender (reads lent in place instead of copied: bbolt's
// slices, mvcc.Txn.ScanFunc) and KeyScanner (a walk of keys that reads no
// value). OpenBoltFile opens an existing bbolt file, an mvkv database's
// own, read-only: bbolt reading the very B+tree mvkv reads.
package engine
