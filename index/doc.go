// Package index is mvkv's in-memory ordered map from a key to its version
// chain: every committed version of the key that some transaction may
// still read. It answers one question, "which version of k does a reader
// at timestamp ts see?", for one key (Get) and for a key range in order
// (Ascend), and it drops the versions nobody can see any more (pruning,
// driven by vacuum). It does no I/O; the bbolt file below it is the mvcc
// package's business, and the index is rebuilt from it at Open.
//
// # Timestamps and versions
//
// Every commit gets the next integer timestamp (TS). All versions written by
// one transaction carry its TS and a sequence number Seq inside it, so
// (TS, Seq) names a version uniquely (it is also its key on disk). A reader
// holds a snapshot timestamp: a snapshot at ts sees, for each key, the
// newest version with TS <= ts. A delete is a version too, a tombstone: it
// hides the older versions from snapshots at or after it, while snapshots
// taken before it still read the value it deleted.
//
// # A worked example
//
// Take this history of commits:
//
//	ts 1  put  a=apple
//	ts 2  put  b=berry
//	ts 3  put  a=avocado
//	ts 4  del  b
//	ts 5  put  c=cherry
//	ts 6  put  b=banana
//	ts 7  del  a
//
// The index then holds three chains, oldest version first (T marks a
// tombstone):
//
//	a: [1 apple] [3 avocado] [7 T]
//	b: [2 berry] [4 T] [6 banana]
//	c: [5 cherry]
//
// What a reader sees depends only on its snapshot. Get(k, ts) walks the
// chain from the newest end to the first version with TS <= ts, so the
// common case (a recent snapshot) stops at the first step:
//
//	snapshot   a        b        c
//	0          -        -        -
//	2          apple    berry    -
//	4          avocado  T        -
//	5          avocado  T        cherry
//	6          avocado  banana   cherry
//	7          T        banana   cherry
//
// A tombstone is returned to the caller (Get reports it, Ascend yields it)
// because only the caller knows what it means for it: the mvcc package
// turns it into "not found", and the conflict check needs to know that the
// key was written at ts 7 even though it reads as absent.
//
// Ascend(start, end, ts) walks the keys of [start, end) in byte order with
// each key's version at ts, skipping keys that have none at ts. At ts 4 the
// walk over everything yields a=avocado, b=T; at ts 7 it yields a=T,
// b=banana, c=cherry.
//
// Walk is Ascend that also meets the keys with no version visible at ts,
// and can list each key's versions newer than ts (Lookup does the same for
// one key). A serializable reader learns from them which later commits
// wrote what it read, phantoms included: keys created after its snapshot.
// At ts 2, Walk over everything meets a (visible, newer at 3 and 7),
// b (visible, newer at 4 and 6) and c (not visible, newer at 5).
//
// # Pruning
//
// The vacuum horizon h is the oldest snapshot any open transaction can
// still read at (the txn package computes it). For each chain, the newest
// version with TS <= h is what every such reader sees when it does not see
// a newer one; everything older is invisible to all of them and may go.
// That newest version itself may go too when it is a tombstone: a reader
// at or after h finds either a newer version or nothing, and nothing reads
// as absent exactly like the tombstone did.
//
// With h = 5 in the example:
//
//	a: [1 apple] [3 avocado] [7 T]   ->  [3 avocado] [7 T]   (1 goes)
//	b: [2 berry] [4 T] [6 banana]    ->  [6 banana]          (2 and the tombstone 4 go)
//	c: [5 cherry]                    ->  [5 cherry]          (the only visible version stays)
//
// Check it against the table above: every row from 5 on reads the same
// before and after. With h = 7, a's chain empties completely and the key
// may leave the index: no snapshot at or after 7 can see any version of it.
//
// Prune(h, limit) applies the rule in bounded batches without walking the
// tree: every commit that supersedes or deletes a version records when that
// garbage becomes removable, in timestamp order (the reclaim queue, see
// prune.go), and Prune consumes the record up to h. Its cost is the
// garbage removed, not the size of the index.
//
// # Invariants
//
//   - A chain is sorted by (TS, Seq), newest last; adding a version that
//     already exists (same TS and Seq) replaces it, so replaying a commit
//     is idempotent.
//   - Versions with TS <= a reader's snapshot never change while the
//     reader holds the snapshot (the caller keeps it above the horizon),
//     so a walk needs no lock across callbacks: Ascend reads in chunks
//     under the read lock and calls back without it, which lets the
//     callback use the Index.
//   - Apply adds a batch under one write lock, and Write runs a function
//     under it: a reader sees all of a commit's versions or none of them.
//     Remove takes named versions out again (a commit that could not be
//     persisted).
//   - Versions counts every version held, tombstones included; Garbage
//     counts the superseded and deleted ones among them, exactly.
//   - The tree holds one entry per key, by value: the key's first 16 bytes
//     inline, the key, a copy of the chain's newest version and the chain.
//     The copy always equals the chain's newest version (every change to a
//     chain ends with refresh), so a read at a snapshot that sees the
//     newest version, the common case, never leaves the tree's node
//     arrays, and a range walk streams through them.
//
// One RWMutex guards the tree and every chain in it. All use of
// github.com/google/btree is inside this package, so that moving to a
// maintained fork of it is a change here alone.
package index
