// Package gc is vacuum: it removes the versions no open transaction can
// see, from the in-memory index and from durable storage, in small batches,
// and decides when to do it on its own (autovacuum).
//
// # The rule
//
// The horizon is the oldest snapshot any active transaction holds,
// commits in flight included (a committing transaction keeps its snapshot
// until its commit has finished). For each key, vacuum keeps the newest
// version at or below the horizon and every newer one; everything older is
// invisible to every snapshot that exists or can still be taken. When that
// kept version is a tombstone it goes too (with nothing older left, the key
// reads as absent either way), and a key left with no version is removed.
//
//	key k: a@3  b@5  del@8  c@12        horizon 9
//	         gone gone gone  kept       (del@8 is what a snapshot at 9..11 sees:
//	                                     absent; so it goes, and c@12 stays)
//
// # Batches
//
// A pass takes the horizon once and then works in batches of
// Config.BatchSize versions: it prunes a batch from the index under the
// index lock (no I/O under it), deletes that batch from storage in one
// write transaction (Store.Delete), and pauses before the next so that
// commits get the index lock and the storage writer in between: no lock and
// no write transaction is ever held for more than one batch. This is the
// lesson of etcd's compaction (etcd-io/etcd#11421, #19406): one big delete
// stalls every writer for its whole length, and the pause must come after
// each batch has finished, not on a fixed tick.
//
// Crash safety: the removed versions of one key are deleted from storage
// in the same batch, so a crash never leaves an older put on disk without
// the tombstone that hid it. The one exception is a key with more removable
// versions than a batch holds; its versions then go oldest first over
// several batches, the newest (possibly the tombstone) in the last, so
// every state a crash can leave still reads right.
//
// Finding the work costs O(garbage), not O(data): the index records, as
// commits append, when each superseded version becomes removable (see
// index.Prune), and a pass consumes that record up to its horizon.
//
// # Autovacuum
//
// Like PostgreSQL's autovacuum, a background loop wakes every
// Config.Interval and starts a pass when the versions it could remove
// reach Policy.Threshold + Policy.ScaleFactor * live versions: a table of
// a million live versions tolerates 200,000 dead ones at the default 0.2,
// a small one is vacuumed after a thousand.
//
// Example, with the index as the only store:
//
//	c := gc.New(ix, oracle, store, gc.Config{})
//	st, err := c.Vacuum(ctx) // st.VersionsRemoved, st.Horizon, ...
//	go c.Auto(ctx)           // until ctx ends
//
// gc never calls into the engine: the engine hands it an Index (the
// index.Index), a Horizon (the transaction oracle) and a Store (the
// on-disk delete), and gc calls nothing else.
package gc
