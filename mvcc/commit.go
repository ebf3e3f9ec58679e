package mvcc

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/index"
)

// The commit pipeline.
//
// One goroutine (runCommits) owns commit timestamps and the bbolt write
// transaction. A committer sends a commitReq and waits. The pipeline takes
// the first request that arrives and, without waiting, everything else
// already queued (up to Options.MaxBatch): that is the group. It validates
// the group's transactions in arrival order (a transaction is checked
// against the index and against those before it in the group), writes all
// that pass in one bbolt transaction with one fsync, applies them to the
// index, publishes the new snapshot, and wakes every committer.
//
// There is no timer: a lone committer is written at once, and under load
// the group grows by itself with the requests that queue while the
// previous group is being fsynced. Group commit is what lets durable
// commits scale past the few thousand fsyncs per second the disk allows.

// write is one buffered write of a transaction.
type write struct {
	key       []byte
	value     []byte
	tombstone bool
}

type commitReq struct {
	tx     *Txn
	writes []write  // sorted by key
	keys   [][]byte // the writes' keys, for SSI
	ts     uint64   // commit timestamp, set by the pipeline on success
	err    error
	done   chan struct{}
}

func (db *DB) runCommits() {
	defer close(db.pipelineDone)
	batch := make([]*commitReq, 0, db.opts.MaxBatch)
	var stopped error // set for good by a storage failure of unknown outcome
	for {
		batch = batch[:0]
		select {
		case r := <-db.commitCh:
			batch = append(batch, r)
		case <-db.closing:
			db.failQueued()
			return
		}
	gather:
		for len(batch) < db.opts.MaxBatch {
			select {
			case r := <-db.commitCh:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		if stopped != nil {
			for _, r := range batch {
				r.err = fmt.Errorf("%w: %w (%w)", ErrClosed, errCommitsStopped, stopped)
				close(r.done)
			}
			continue
		}
		stopped = db.commitBatch(batch)
	}
}

// failQueued fails every request still queued at Close.
func (db *DB) failQueued() {
	for {
		select {
		case r := <-db.commitCh:
			r.err = ErrClosed
			close(r.done)
		default:
			return
		}
	}
}

// commitBatch commits one group. It returns a non-nil stop when the
// pipeline must accept no more commits (see faults.go).
func (db *DB) commitBatch(batch []*commitReq) (stop error) {
	// Each transaction in turn: first-committer-wins and the addition of
	// its versions happen under the index's write lock, so that it is
	// checked against the index as it stands after the group members
	// before it were added; SSI's edge search follows, outside that lock,
	// so that readers are not held up by it. The versions are invisible
	// until Publish: their timestamps are above every snapshot handed out
	// so far. A serializable reader may meet them as newer versions before
	// the edge search has run; txn.SSI explains why no edge is lost that
	// way. A transaction the search refuses has its versions taken out
	// again.
	var ok []*commitReq
	var entries []index.Entry
	for _, r := range batch {
		var ts uint64
		mine := len(entries)
		db.index.Write(func(w index.Writer) {
			if r.err = db.validate(w, r); r.err != nil {
				return
			}
			ts = db.oracle.Next()
			for i, wr := range r.writes {
				e := index.Entry{Key: wr.key, Version: index.Version{TS: ts, Seq: uint32(i), Tombstone: wr.tombstone, Value: wr.value}}
				w.Add(e.Key, e.Version)
				entries = append(entries, e)
			}
		})
		if r.err != nil {
			continue
		}
		if err := db.ssi.CheckCommit(r.tx.ser, r.tx.readTS, ts, r.keys); err != nil {
			db.index.Remove(entries[mine:])
			entries = entries[:mine]
			r.err = &conflictError{msg: "serialization failure: committing would complete a dangerous structure of read-write dependencies among concurrent serializable transactions"}
			continue
		}
		r.ts = ts
		ok = append(ok, r)
	}
	if len(ok) > 0 {
		if err := db.persist(ok); err != nil {
			db.index.Remove(entries)
			for _, r := range ok {
				if r.tx.ser != nil {
					db.ssi.Forget(r.tx.ser, r.ts)
				}
			}
			// See faults.go: a group that may have reached the file stops
			// the pipeline; one that certainly did not only fails.
			if db.groupReachedFile(ok[len(ok)-1].ts) {
				stop = err
				for _, r := range ok {
					r.err = fmt.Errorf("mvkv: commit outcome unknown (the transaction is either entirely durable or entirely absent after a reopen); %w: %w", errCommitsStopped, err)
				}
			} else {
				db.oracle.Abandon()
				for _, r := range ok {
					r.err = fmt.Errorf("mvkv: commit not persisted (nothing was written): %w", err)
				}
			}
		} else {
			db.oracle.Publish(ok[len(ok)-1].ts)
			db.stats.batches.Add(1)
		}
	}
	for _, r := range batch {
		close(r.done)
	}
	return stop
}

// validate applies first-committer-wins (Snapshot, Serializable): a key
// written by a transaction that committed after our snapshot means a
// concurrent writer got there first. Read committed lets the last
// committer win. Called under the index's write lock.
func (db *DB) validate(w index.Writer, r *commitReq) error {
	if r.tx.level == ReadCommitted {
		return nil
	}
	for _, wr := range r.writes {
		if latest := w.LatestTS(wr.key); latest > r.tx.readTS {
			return r.tx.conflict(wr.key, latest)
		}
	}
	return nil
}

// persist writes the group's versions in one bbolt transaction (one fsync
// unless NoSync). Either all of them are durable or none is.
func (db *DB) persist(ok []*commitReq) error {
	err := db.bolt.Update(func(btx *bolt.Tx) error {
		if err := db.fault(faultBeforeWrite); err != nil {
			return err
		}
		b := btx.Bucket(versionsBucket)
		b.FillPercent = 1.0 // appends only: pack pages full
		// bbolt keeps the slices given to Put until the commit, so every
		// key and record of the group goes into one buffer sized up front.
		size := 0
		for _, r := range ok {
			for _, w := range r.writes {
				size += revSize + 1 + binary.MaxVarintLen32 + len(w.key) + len(w.value)
			}
		}
		buf := make([]byte, 0, size)
		for _, r := range ok {
			for i, w := range r.writes {
				start := len(buf)
				buf = encodeRev(buf, r.ts, uint32(i))
				mid := len(buf)
				buf = encodeRecord(buf, w.key, w.value, w.tombstone)
				if err := b.Put(buf[start:mid:mid], buf[mid:]); err != nil {
					return err
				}
			}
		}
		var ts [8]byte
		binary.BigEndian.PutUint64(ts[:], ok[len(ok)-1].ts)
		if err := btx.Bucket(metaBucket).Put(tsKey, ts[:]); err != nil {
			return err
		}
		return db.fault(faultAfterWrite)
	})
	if err == nil {
		err = db.fault(faultAfterCommit)
	}
	return err
}
