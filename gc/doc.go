// Package gc is vacuum: it gives back the memory held by versions no open
// transaction needs from memory any more, in small batches, and decides
// when to do it on its own (autovacuum).
//
// # Where versions live
//
// The file holds each key's newest committed version; the in-memory index
// holds the versions written since the oldest open snapshot: the
// before-images that older snapshots still read, and the commit
// timestamps of recent writes that conflict checks need. Vacuum trims the
// index as the horizon moves. The collector never writes the file: nothing
// a batch does can fail on a full disk, or be half done after a crash. (The
// engine's Config.Prepare may: mvcc's applies its commit log to the data,
// a checkpoint, before each pass, and vacuums what it keeps on disk
// besides, older versions spilled past its memory limit and history; a
// pass whose Prepare fails removes nothing.)
//
// # The rule
//
// The horizon is the oldest snapshot any active transaction holds,
// commits in flight included (a committing transaction keeps its snapshot
// until its commit has finished). For each key held in memory:
//
//   - when its newest version is at or below the horizon, the whole key
//     leaves memory: every snapshot sees that newest version, and the
//     file holds it (a tombstone: the file holds nothing, which reads the
//     same);
//
//   - otherwise vacuum keeps the newest version at or below the horizon
//     and every newer one; everything older goes, and the kept one goes
//     too when it is a tombstone.
//
// For example, a key k with four versions:
//
//	k:           old@1   a@3    del@8   c@12
//	horizon 9:   gone    gone   gone    kept   (del@8 is what a snapshot at
//	                                            9..11 sees: absent; so it goes)
//	horizon 12:  k leaves memory; the file holds c@12
//
// # Batches
//
// A pass takes the horizon once and then works in batches of
// Config.BatchSize versions, each one short hold of the index lock, with a
// pause before the next so that commits and readers get the lock in
// between: no lock is ever held for more than one batch. This is the
// lesson of etcd's compaction: one big delete stalls every writer for its
// whole length, and the pause must come after each batch has finished,
// not on a fixed tick.
//
// Finding the work costs O(work), not O(data): the index records, as
// commits install versions, when each key may next shed some (see
// index.Prune), and a pass consumes that record up to its horizon.
//
// # Autovacuum
//
// Like PostgreSQL's autovacuum, a background loop starts a pass when the
// versions it could remove reach Policy.Threshold + Policy.ScaleFactor *
// the versions it would keep; it checks every Config.Interval and whenever
// the engine kicks it (after commits that grew memory past the
// threshold), so that a bulk load does not fill memory between ticks.
//
// Example:
//
//	c := gc.New(ix, oracle, gc.Config{})
//	st, err := c.Vacuum(ctx) // st.VersionsRemoved, st.Horizon, ...
//	go c.Auto(ctx)           // until ctx ends
//
// gc never calls into the engine: the engine hands it an Index (the
// index.Index) and a Horizon (the transaction oracle), and gc calls
// nothing else.
package gc
