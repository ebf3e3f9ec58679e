package mvcc

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Storage failures in the commit pipeline.
//
// A group commit is one append to the log (wal.go). When it fails, what
// matters is whether the group may have reached the disk. A write that
// fails is cut off again (the log ends where it did), and the group's
// committers get an error while the DB stays usable; a failed fdatasync,
// or a write that cannot be cut off, leaves the disk's state unknown (the
// kernel may drop the pages it failed to write, or write them later), and
// the DB stops accepting commits, as below.
//
// A group written to the data bucket (commit.go) is one bbolt write
// transaction. When it fails:
//
//   - Nothing reached it: an error inside the transaction (bbolt rolls
//     back), or bbolt failing before it wrote its meta page (growing the
//     file on a full disk, writing or syncing the data pages). The file
//     still ends at the previous group. The group's committers get an
//     error, and the DB stays usable.
//   - Unknown: bbolt wrote the meta page but its fsync failed. The page
//     may sit in the page cache and reach the disk later, and bbolt's own
//     view (its meta pages are read through the mmap) already includes
//     the group. Going on would build later commits on a state the file
//     may contradict after a restart (the group reappearing under reused
//     timestamps, or behind later writes that assumed it absent). So the
//     DB stops accepting commits: the group's committers get an error
//     saying the outcome is unknown, later commits fail with ErrClosed,
//     reads keep serving the acknowledged state until Close. After a
//     reopen the group is there entirely or not at all (one bbolt
//     transaction), and nothing else is missing.
//
// The pipeline tells the two apart by reading back the commit timestamp
// bbolt holds: it is the group's last timestamp exactly when bbolt's view
// includes the group. A failure bbolt reports after its commit took
// effect cannot be produced from outside bbolt, so the tests inject one
// through a substitute fileStore after a commit that succeeded: the worst
// case, a group that is durable although its commit failed.

// fileStore is the commit pipeline's access to the files: an append to
// the log per group, a bbolt write transaction per group written to the
// data bucket and per checkpoint step. Production uses boltStore; the
// fault tests substitute one that fails at chosen points of a group
// commit (before any record is written, after all are, after they
// reached the disk).
type fileStore interface {
	// update runs fn in a write transaction and commits it, as
	// bbolt.DB.Update does.
	update(fn func(*bolt.Tx) error) error
	// appendLog appends a group's records to the log (wal.append).
	appendLog(l *wal, b []byte, last uint64) error
}

type boltStore struct{ db *bolt.DB }

func (s boltStore) update(fn func(*bolt.Tx) error) error { return s.db.Update(fn) }

func (s boltStore) appendLog(l *wal, b []byte, last uint64) error { return l.append(b, last) }

// files returns the fileStore in use.
func (db *DB) files() fileStore { return *db.store.Load() }

// errCommitsStopped is the cause carried by every commit refused after a
// failure whose outcome is unknown.
var errCommitsStopped = errors.New("the database stopped accepting commits after a storage failure whose outcome is unknown; close and reopen it")

// groupReachedFile reports whether bbolt's view includes the group whose
// last commit timestamp is last. When even that cannot be read, the
// answer is yes: the safe assumption.
func (db *DB) groupReachedFile(last uint64) bool {
	var stored uint64
	err := db.bolt.View(func(btx *bolt.Tx) error {
		meta := btx.Bucket(metaBucket)
		if meta == nil {
			return fmt.Errorf("%w: missing meta bucket", ErrCorrupt)
		}
		var err error
		stored, err = getMeta(meta, tsKey)
		return err
	})
	return err != nil || stored >= last
}
