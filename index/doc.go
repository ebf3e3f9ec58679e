// Package index is mvkv's in-memory version store: an ordered map from a
// key to its version chain, for the keys written since the oldest open
// snapshot began (less those spilled to disk whole). It answers one question, "which version of k does a
// reader at timestamp ts see?", for one key (Find, Lookup, LookupItem) and
// for a key range in order (Walk, WalkDesc), it lets go of the versions
// nobody needs from memory any more (Prune, driven by vacuum), and it
// keeps its heap bounded by handing its older versions to a store on disk
// (PlanSpill, CompleteSpill). It does no I/O.
//
// The data itself lives in a file below it (the mvcc package's business)
// that holds each live key's newest committed version. The index holds
// what concurrency needs on top of that: the versions written recently,
// the before-images that older snapshots still read, and the commit
// timestamps that conflict checks ask for. A key the index does not hold
// reads, at every snapshot in use, as whatever the file holds.
//
// # Timestamps and versions
//
// Every commit gets the next integer timestamp (TS). All versions written by
// one transaction carry its TS and a sequence number Seq inside it, so
// (TS, Seq) names a version uniquely. A reader holds a snapshot timestamp: a
// snapshot at ts sees, for each key, the newest version with TS <= ts. A
// delete is a version too, a tombstone: it hides the older versions from
// snapshots at or after it, while snapshots taken before it still read the
// value it deleted.
//
// A version marked InFile is a key's newest, whose value the index let go
// because the file holds it (a spill, below): the index keeps its
// timestamp, and a reader that sees it reads the value from the file.
// Bytes counts the heap the versions cost (memory.go).
//
// # A worked example
//
// The file holds a=apple@1 and b=berry@2; the index is empty, and a
// transaction R holds snapshot 2. Then these commits arrive; each one
// installs its versions, values included, with Writer.Install, giving the
// file's version of the key (read in the commit) as its before-image:
//
//	ts 3  put  a=avocado   a: [1 apple] [3 avocado]
//	ts 4  del  b           b: [2 berry] [4 T]                 (T : tombstone)
//	ts 5  put  c=cherry    c: [5 cherry]                      (new key: no before-image)
//	ts 6  put  b=banana    b: [2 berry] [4 T] [6 banana]
//	ts 7  put  a=apricot   a: [1 apple] [3 avocado] [7 apricot]
//
// What a reader sees depends only on its snapshot:
//
//	snapshot   a         b        c
//	2          apple     berry    -
//	4          avocado   T        -
//	5          avocado   T        cherry
//	6          avocado   banana   cherry
//	7          apricot   banana   cherry
//
// Find returns the visible version and whether the index holds the key at
// all: a key it holds is answered by its chain (nothing visible means
// absent, unless the chain was spilled, below), and a key it does not hold
// goes to the file.
//
// Walk visits the keys of a range in byte order with each key's visible
// version, the keys with none visible included, and can list each key's
// versions newer than the snapshot (Lookup does the same for one key): a
// serializable reader learns from them which later commits wrote what it
// read, phantoms included. At snapshot 2, Walk over everything meets a
// (visible, newer at 3 and 7), b (visible, newer at 4 and 6) and c (not
// visible, newer at 5).
//
// # Spilling
//
// Say the engine's memory limit is passed while R still holds snapshot 2,
// and the file now holds every commit up to 7 (SetApplied(7)). PlanSpill
// chooses, key by key, every version but the newest, each with Until, the
// timestamp of the version that superseded it, and the newest versions
// the file holds; the engine writes the former to its store on disk, and
// CompleteSpill then takes them all out of memory:
//
//	a: [1 apple] [3 avocado] [7 apricot]   ->  ⋯ [7 ·]   disk: apple@1 until 3, avocado@3 until 7
//	b: [2 berry] [4 T] [6 banana]          ->  ⋯ [6 ·]   disk: berry@2 until 4, T@4 until 6
//	c: [5 cherry]                          ->  [5 ·]     (· : InFile; ⋯ : older versions on disk)
//
// A chain in memory is always the newest part of its key's history, so a
// reader that finds a version visible in memory has the right one, and
// one that finds nothing visible either reads the key as absent (c at 2:
// it has no older versions) or, when the chain is marked (Item.Older),
// asks the disk for the newest version at or below its snapshot.
//
// a and b, down to an InFile version with everything older on disk, then
// leave memory whole: the file holds apricot@7 and banana@6. R, at 2,
// does not find a, finds the file's apricot@7 newer than its snapshot,
// and reads the disk: apple@1. A reader at 7 reads apricot from the file,
// as for any key the index does not hold. Such a key is the one exception
// to "the index holds every key written since the horizon": the engine
// reads its newest timestamp from the file where it needs it (first
// committer wins), and a commit that brings it back starts its chain from
// the file's version, marked as having older ones on disk.
//
// # Pruning
//
// The horizon h is the oldest snapshot any open transaction can still
// read at. For each key:
//
//   - when its newest version has TS <= h, the whole key leaves the index:
//     every snapshot in use sees that newest version, which the file holds
//     (for a tombstone, the file holds nothing, which reads the same);
//   - otherwise the versions older than the newest one with TS <= h go,
//     and that one too when it is a tombstone.
//
// With h = 5 (R has ended, a reader at 5 remains) in the example, before
// any spill:
//
//	a: [1 apple] [3 avocado] [7 apricot]  ->  [3 avocado] [7 apricot]  (1 goes)
//	b: [2 berry] [4 T] [6 banana]         ->  [6 banana]               (2 and the tombstone 4 go)
//	c: [5 cherry]                         ->  gone                     (the file has cherry@5)
//
// Check it against the table: every row from 5 on reads the same before
// and after. With h = 7 the index is empty. A prune clears a chain's spill
// mark: the versions on disk are then older than anything a snapshot at
// or above h reads, and the engine's vacuum removes them there by their
// Until.
//
// Prune(h, limit) applies the rule in bounded batches without walking the
// tree: every install records (key, ts) in the reclaim queue, in
// timestamp order (see prune.go), and Prune consumes the record up to h.
// Its cost is the versions removed, not the size of the index.
//
// # Invariants
//
//   - A chain is sorted by (TS, Seq), newest last, and is not empty.
//   - Only a chain's newest version may be InFile, and it is not a
//     tombstone: a commit that supersedes it turns it into a before-image
//     with its value, in the same Write.
//   - A chain marked spilled has its key's older versions on disk; a
//     prune that removes any version clears the mark (every snapshot it
//     serves then finds its version in memory, or none).
//   - Versions with TS <= a reader's snapshot never change while the
//     reader holds the snapshot (the caller keeps it above the horizon),
//     so a walk needs no lock across callbacks: Walk reads in chunks
//     under the read lock and calls back without it, which lets the
//     callback use the Index.
//   - Write runs a function under the write lock: a reader sees all of a
//     commit's versions or none of them. Remove takes named versions out
//     again (a commit that could not be persisted).
//   - Versions counts every version held, tombstones included; Garbage
//     counts the superseded and deleted ones among them, and Bytes their
//     cost, exactly.
//   - The tree holds one entry per key, by value: the key's first 16 bytes
//     inline, the key, a copy of the chain's newest version and the chain
//     (none for a key with one live version).
//
// Check verifies all of these; tests call it.
//
// One reader-writer lock guards the tree and every chain in it: a
// big-reader lock (rwlock.go) whose readers count themselves on cache
// lines of their own, so that reads on many cores do not all write one
// word. All use of
// github.com/google/btree is inside this package, so that moving to a
// maintained fork of it is a change here alone.
package index
