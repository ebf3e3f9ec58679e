// Package linear holds the sequential specifications (porcupine models)
// that mvkv's histories are checked against, and the plumbing to record a
// concurrent history and write porcupine's visualization when a check
// fails.
//
// Two models:
//
//   - KV is a map of registers partitioned by key (a history is
//     linearizable iff each key's sub-history is, which keeps the search
//     small): Get, Put, Delete, and Append, a read-modify-write that reads
//     the old value and writes old+suffix in one step. Each operation of
//     the history is one transaction on one key.
//   - Txns is a small multi-key state (a handful of integer registers) on
//     which a whole transaction, reads and writes, is one operation. A
//     history of committed transactions that is linearizable under it is
//     strictly serializable: there is a serial order, consistent with real
//     time, that explains every read. The search is exponential in the
//     number of concurrent transactions, so histories must stay small (as
//     in etcd's robustness tests).
//
// A Recorder stamps calls and returns with a logical clock shared by all
// clients, so that one operation returning before another is called is
// visible to the checker exactly when it happened.
package linear
