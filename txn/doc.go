// Package txn is mvkv's concurrency control, independent of storage: the
// isolation levels, the timestamp oracle and registry of active
// transactions (whose oldest snapshot is the vacuum horizon), serializable
// snapshot isolation (SSI), and the key locks of GetForUpdate with
// deadlock detection.
//
// # Timestamps and snapshots
//
// Every commit gets the next integer timestamp from the Oracle; a version
// carries its writer's commit timestamp. A snapshot is a timestamp: it sees
// exactly the versions at or below it. The oracle publishes a commit's
// timestamp only after the commit's versions are in the index, so a new
// snapshot never sees half a transaction. Taking a snapshot is one atomic
// load, and beginning and ending a transaction take no lock: each holds a
// cell of a reader table, and the vacuum horizon is a scan of the cells
// (horizon.go says how a scan racing a begin never passes its snapshot).
//
//	commit ts:   1        2        3
//	key a:       a=1               a=3
//	key b:                b=2
//	snapshot 2 reads a=1, b=2; snapshot 3 reads a=3, b=2.
//
// # Write-write conflicts: first committer wins
//
// Snapshot and Serializable refuse a commit that writes a key some other
// transaction committed after the committer's snapshot. The first
// committer wins, rather than the first updater (which would make a
// writer wait on another's row lock): writes are buffered, so nobody
// waits on a plain Put, the check is one index lookup per written key at
// commit, and a Put that already sees a newer committed version fails at
// once. Users who want first-updater-wins take GetForUpdate locks.
//
// # Serializable
//
// SSI (ssi.go) tracks what serializable transactions read, keys and
// ranges, and aborts a transaction only when a dangerous structure of two
// consecutive read-write antidependencies forms (see SSI). Readers never
// wait. The other way to serializability, strict two-phase locking with
// key-range locks, is built on the lock table; SSI tracks those
// transactions too, so both kinds can share a database (see SSI).
//
// # Locks
//
// LockTable (locks.go) holds shared, intent and exclusive key locks and
// shared range locks until the owner ends, and queues waiters FIFO per key
// (upgrades first; lockqueue.go), so that queuing and granting cost what
// the key needs, not what other keys' queues hold. It keeps the wait-for
// graph free of cycles (deadlock.go): whenever a wait, an upgrade jumping
// a queue, or a release adds edges, it walks the graph from the owners
// whose edges changed, and fails one waiter of any cycle found, the one
// whose wait closed it, with a *DeadlockError (ErrDeadlock) that names
// the cycle. The LockTable documentation says why detection runs on the
// edges rather than in a background pass, and why one mutex serves all
// keys.
package txn
