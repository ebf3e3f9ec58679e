// Package index is mvkv's in-memory version store: an ordered map from a
// key to its version chain, for the keys written since the oldest open
// snapshot began. It answers one question, "which version of k does a
// reader at timestamp ts see?", for one key (Find, Lookup) and for a key
// range in order (Walk, Ascend), and it lets go of the versions nobody
// needs from memory any more (Prune, driven by vacuum). It does no I/O.
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
// value it deleted. A version marked InFile is a key's newest: the index
// keeps its timestamp but not its value, which the file holds.
//
// # A worked example
//
// The file holds a=apple@1 and b=berry@2; the index is empty, and a
// transaction R holds snapshot 2. Then these commits arrive (each one
// installs its versions with Writer.Install, giving the file's version of
// the key as its before-image):
//
//	ts 3  put  a=avocado   a: [1 apple] [3 ·]          (· : InFile)
//	ts 4  del  b           b: [2 berry] [4 T]          (T : tombstone)
//	ts 5  put  c=cherry    c: [5 ·]                    (new key: no before-image)
//	ts 6  put  b=banana    b: [2 berry] [4 T] [6 ·]
//	ts 7  put  a=apricot   a: [1 apple] [3 avocado] [7 ·]
//
// When ts 7 arrived, a's newest version 3 was InFile: Install took its
// value from the before-image the committer read from the file, so that a
// snapshot at 3..6 keeps reading avocado from memory once the file holds
// apricot. What a reader sees depends only on its snapshot:
//
//	snapshot   a         b        c
//	2          apple     berry    -
//	4          avocado   T        -
//	5          avocado   T        cherry
//	6          avocado   banana   cherry
//	7          apricot   banana   cherry
//
// (banana, cherry and apricot are InFile: their values are the file's.)
// Find returns the visible version and whether the index holds the key at
// all: a key it holds is answered by its chain (nothing visible means
// absent), and a key it does not hold goes to the file.
//
// Walk visits the keys of a range in byte order with each key's visible
// version, the keys with none visible included, and can list each key's
// versions newer than the snapshot (Lookup does the same for one key): a
// serializable reader learns from them which later commits wrote what it
// read, phantoms included. At snapshot 2, Walk over everything meets a
// (visible, newer at 3 and 7), b (visible, newer at 4 and 6) and c (not
// visible, newer at 5).
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
// With h = 5 (R has ended, a reader at 5 remains) in the example:
//
//	a: [1 apple] [3 avocado] [7 ·]     ->  [3 avocado] [7 ·]   (1 goes)
//	b: [2 berry] [4 T] [6 ·]           ->  [6 ·]               (2 and the tombstone 4 go)
//	c: [5 ·]                           ->  gone                (the file has cherry@5)
//
// Check it against the table: every row from 5 on reads the same before
// and after. With h = 7 the index is empty.
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
//   - Versions with TS <= a reader's snapshot never change while the
//     reader holds the snapshot (the caller keeps it above the horizon),
//     so a walk needs no lock across callbacks: Walk reads in chunks
//     under the read lock and calls back without it, which lets the
//     callback use the Index.
//   - Write runs a function under the write lock: a reader sees all of a
//     commit's versions or none of them. Remove takes named versions out
//     again (a commit that could not be persisted).
//   - Versions counts every version held, tombstones included; Garbage
//     counts the superseded and deleted ones among them, exactly.
//   - The tree holds one entry per key, by value: the key's first 16 bytes
//     inline, the key, a copy of the chain's newest version and the chain
//     (none for a key with one live version).
//
// Check verifies all of these; tests call it.
//
// One RWMutex guards the tree and every chain in it. All use of
// github.com/google/btree is inside this package, so that moving to a
// maintained fork of it is a change here alone.
package index
