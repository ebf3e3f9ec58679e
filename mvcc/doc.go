// Package mvcc is the mvkv storage engine: an embedded multiversion
// key-value store with per-transaction isolation levels.
//
//	db, err := mvcc.Open("app.db", nil) // durable commits by default
//	if err != nil { ... }
//	defer db.Close()
//	err = db.Update(ctx, mvcc.Serializable, func(tx *mvcc.Txn) error {
//		v, err := tx.Get([]byte("counter"))
//		...
//		return tx.Put([]byte("counter"), next)
//	})
//
// # Data model
//
// Keys and values are byte strings (keys 1..MaxKeySize bytes, values up to
// MaxValueSize). Every committed write creates a version stamped with its
// transaction's commit timestamp; a delete creates a tombstone version.
// Versions live in an in-memory B-tree (package index) and in a bbolt file,
// where each version is appended under its (timestamp, sequence) name.
// Reads are served from memory and never open a bbolt transaction, so they
// neither pin file pages nor wait on writers. The whole dataset, with the
// versions still visible to someone, must fit in memory; Open rebuilds the
// index from the file.
//
// # Isolation levels
//
//	level          a read sees                        a commit guarantees
//	ReadCommitted  latest committed data at the read  no dirty reads or writes; last committer wins
//	Snapshot       one snapshot taken at Begin        also: of two concurrent writers of a key, one commits
//	Serializable   one snapshot taken at Begin        also: the committed history is serializable,
//	                                                  range reads (phantoms) included
//
// Writes are buffered in the transaction until Commit, so no level ever
// reads or overwrites uncommitted data. Every transaction sees its own
// writes, in Get, GetForUpdate and Scan.
//
// Where ErrConflict comes from (errors.Is(err, ErrConflict)):
//   - Put or Delete, under Snapshot and Serializable, when the key already
//     has a version committed after the snapshot (the commit would fail);
//   - Commit, for the same write-write conflict found at commit time (first
//     committer wins), or for a serialization failure when the transaction
//     is the pivot of a dangerous structure (Serializable);
//   - Get, under Serializable, when the read itself completes a dangerous
//     structure; a Scan that does so keeps yielding its snapshot and the
//     failure is returned by the transaction's next call or Commit;
//   - GetForUpdate, under Snapshot and Serializable, when a newer version
//     was committed after the snapshot, or on a deadlock (also ErrDeadlock).
//
// After a conflict the transaction is finished: later calls return an
// error matching ErrTxnDone that also still matches ErrConflict, until
// Rollback (then plain ErrTxnDone). So a failure that a Scan found, and
// that some later call reported, is still a conflict to whoever checks
// last. DB.Update reruns its function on conflicts, with backoff.
//
// # Locks
//
// GetForUpdate takes an exclusive lock on a key until the transaction
// ends; another GetForUpdate of that key waits (plain reads and writes do
// not). A wait that would close a cycle fails at once with ErrDeadlock.
//
// # Durability
//
// Commits go through one pipeline that writes every transaction waiting to
// commit in a single bbolt transaction with one fsync (group commit, with
// no timer), then acknowledges them all. Without Options.NoSync, a commit
// that returned nil survives a crash or power loss, and a crash never
// exposes part of a transaction.
//
// # Garbage collection
//
// Old versions are kept exactly as long as an open transaction can see
// them; DB.Vacuum removes the rest from memory and disk (the rule is in the
// gc package's documentation). It works in batches of a thousand versions,
// one short bbolt write transaction each, so commits go on while it runs,
// and its cost grows with the dead versions it removes, not with the data.
// An autovacuum runs it in the background when the dead versions reach
// Options.AutovacuumThreshold + Options.AutovacuumScaleFactor * live ones
// (Options.NoAutovacuum turns it off). Stats.DeadVersions says how many
// wait, and Stats.HorizonAge how long the transaction holding them back
// has been open: a forgotten transaction is the usual cause of bloat.
//
// Vacuumed pages are reused by later writes, so the file stops growing but
// does not shrink; Compact copies a closed database to a new, packed file.
package mvcc
