package mvcc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Storage failures in the commit pipeline.
//
// A group commit is one bbolt write transaction. When it fails, what
// matters is whether the group may have reached the file:
//
//   - Nothing reached it: an error inside the transaction (bbolt rolls
//     back), or bbolt failing before it wrote its meta page (growing the
//     file on a full disk, writing or syncing the data pages). The file
//     still ends at the previous group. The group's committers get an
//     error, the DB stays usable, and the group's timestamps are reused.
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
// through a hook (faultAfterCommit) after a commit that succeeded: the
// worst case, a group that is durable although its commit failed.

// faultPoint names a point of a group commit where tests inject failures.
type faultPoint int

const (
	// faultBeforeWrite: inside the bbolt transaction, before any record of
	// the group is written.
	faultBeforeWrite faultPoint = iota
	// faultAfterWrite: inside the bbolt transaction, after every record is
	// written, before bbolt commits (as a failing data write or fsync).
	faultAfterWrite
	// faultAfterCommit: bbolt committed; the commit is reported as failed
	// anyway (as an fsync error on a meta page that reached the disk).
	faultAfterCommit
)

// faults maps a *DB to its injection hook (tests only). faultsArmed keeps
// the lookup off the commit path when no test uses it.
var (
	faults      sync.Map // *DB -> func(faultPoint) error
	faultsArmed atomic.Bool
)

// fault returns the error a test injects at p, if any.
func (db *DB) fault(p faultPoint) error {
	if !faultsArmed.Load() {
		return nil
	}
	if fn, ok := faults.Load(db); ok {
		return fn.(func(faultPoint) error)(p)
	}
	return nil
}

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
		if b := meta.Get(tsKey); len(b) == 8 {
			stored = binary.BigEndian.Uint64(b)
		}
		return nil
	})
	return err != nil || stored >= last
}
