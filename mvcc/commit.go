package mvcc

import (
	"errors"
	"fmt"
	"slices"

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
	// checkpoint asks the pipeline to apply the log (DB.Vacuum); such a
	// request carries no transaction. vacuumDisk also has it vacuum the
	// version store (spill.go) after.
	checkpoint bool
	vacuumDisk bool
	tx         *Txn
	writes     []write  // sorted by key
	keys       [][]byte // the writes' keys, for SSI
	ts         uint64   // commit timestamp, set by the pipeline on success
	err        error
	done       chan struct{}
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
		commits := batch[:0:0]
		var checkpoints []*commitReq
		for _, r := range batch {
			if r.checkpoint {
				checkpoints = append(checkpoints, r)
			} else {
				commits = append(commits, r)
			}
		}
		if len(commits) > 0 {
			stopped = db.commitBatch(commits)
			if stopped == nil {
				db.maybeSpill()
			}
		}
		if len(checkpoints) > 0 {
			var err error
			if stopped == nil {
				err = db.checkpoint()
				if err == nil && slices.ContainsFunc(checkpoints, func(r *commitReq) bool { return r.vacuumDisk }) {
					err = db.vacuumDisk()
				}
			} else {
				err = fmt.Errorf("%w: %w (%w)", ErrClosed, errCommitsStopped, stopped)
			}
			for _, r := range checkpoints {
				r.err = err
				close(r.done)
			}
		}
	}
}

// requestCheckpoint has the pipeline apply the commit log to the data bucket now,
// and waits for it.
func (db *DB) requestCheckpoint() error {
	return db.submit(&commitReq{checkpoint: true, done: make(chan struct{})})
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

// commitBatch commits one group in one bbolt write transaction. It
// returns a non-nil stop when the pipeline must accept no more commits
// (see faults.go).
//
// Inside the bbolt transaction, each member in turn:
//
//  1. reads the file's version of every key it writes (the before-images:
//     what snapshots older than the commit read once the index holds the
//     key, for a key it does not hold yet);
//  2. under the index's write lock, passes first-committer-wins against
//     the index as it stands after the members before it, takes its
//     commit timestamp, and installs its versions, values included, with
//     the before-images (package index);
//  3. passes SSI's edge search, outside that lock (txn.SSI says why no
//     edge is lost that way), or has its versions taken out again;
//  4. appends its writes to the log bucket.
//
// Then the group's last timestamp goes to the meta bucket, the shared view
// is retired, and bbolt commits (one fsync). The versions stay invisible
// until Publish: their timestamps are above every snapshot handed out so
// far. The data bucket is not written: the checkpoint applies the log to
// it later, in large batches (checkpoint.go), and until then the index
// holds the new versions with their values.
func (db *DB) commitBatch(batch []*commitReq) (stop error) {
	var (
		ok      []*commitReq
		entries []index.Entry // versions installed, to take out if the group fails
		keys    int64         // change in the number of live keys
		logged  int64         // bytes appended to the log
		stamp   int64         // the group's wall-clock time (history.go)
	)
	err := db.guard(func() error {
		return db.files().update(func(btx *bolt.Tx) error {
			data, log := btx.Bucket(dataBucket), btx.Bucket(logBucket)
			log.FillPercent = 1.0 // appends only: pack pages full
			size := 0
			for _, r := range batch {
				for _, w := range r.writes {
					size += revSize + 6 + len(w.key) + len(w.value)
				}
			}
			buf := make([]byte, 0, size) // bbolt keeps the slices given to Put until the commit
			for _, r := range batch {
				befores, err := readBefores(data, r.writes)
				if err != nil {
					r.err = err
					continue
				}
				ts, delta, err := db.install(r, befores, &entries)
				if err != nil {
					r.err = err
					continue
				}
				mine := len(entries) - len(r.writes)
				if err := db.ssi.CheckCommit(r.tx.ser, r.tx.readTS, ts, r.keys); err != nil {
					db.index.Remove(entries[mine:])
					entries = entries[:mine]
					r.err = &ConflictError{Kind: SerializationFailure, msg: "serialization failure: committing would complete a dangerous structure of read-write dependencies among concurrent serializable transactions"}
					continue
				}
				for i, w := range r.writes {
					s := len(buf)
					buf = appendRev(buf, ts, uint32(i))
					m := len(buf)
					buf = appendLogged(buf, w.key, w.value, w.tombstone)
					if err := log.Put(buf[s:m:m], buf[m:len(buf):len(buf)]); err != nil {
						return err
					}
				}
				keys += delta
				r.ts = ts
				ok = append(ok, r)
			}
			if len(ok) == 0 {
				return errNothingToCommit
			}
			logged = int64(len(buf))
			var err error
			if stamp, err = db.recordClock(btx, ok[0].ts, ok[len(ok)-1].ts); err != nil {
				return err
			}
			if err := putMeta(btx.Bucket(metaBucket), tsKey, ok[len(ok)-1].ts); err != nil {
				return err
			}
			// bbolt's commit may remap the file, which waits for every read
			// transaction: the shared one must not be among them.
			db.retireView()
			return nil
		})
	})
	db.renewView()
	switch {
	case err == nil:
		db.keys.Add(keys)
		db.logged.records += int64(len(entries))
		db.logged.bytes += logged
		db.hist.lastCommit.Store(&clockMark{stamp: stamp, ts: ok[len(ok)-1].ts})
		db.oracle.Publish(ok[len(ok)-1].ts)
		db.stats.batches.Add(1)
		if db.logged.records >= checkpointRecords || db.logged.bytes >= int64(db.opts.CheckpointBytes) {
			if err := db.checkpoint(); err != nil {
				// The log keeps the writes; the next checkpoint, or the
				// next Open, applies them.
				db.noteCheckpointError(err)
			}
		}
		if db.index.Versions() >= db.vac.kickAt {
			db.vac.gc.Kick()
		}
	case errors.Is(err, errNothingToCommit):
	default:
		if db.opts.Logger != nil {
			db.opts.Logger.Error("mvkv: group commit failed", "path", db.path, "transactions", len(batch), "err", err)
		}
		for _, r := range ok {
			if r.tx.ser != nil {
				db.ssi.Forget(r.tx.ser, r.ts)
			}
		}
		// See faults.go: a group that may have reached the file stops
		// the pipeline; one that certainly did not only fails. Either
		// way its timestamps are never used again, and never published.
		if len(ok) > 0 && db.groupReachedFile(ok[len(ok)-1].ts) {
			// Its versions stay in the index, unpublished: the file may
			// hold them, and a reopen may apply them; until Close no
			// snapshot sees them.
			stop = err
			for _, r := range ok {
				r.err = fmt.Errorf("mvkv: commit outcome unknown (the transaction is either entirely durable or entirely absent after a reopen); %w: %w", errCommitsStopped, err)
			}
		} else {
			db.index.Remove(entries)
			for _, r := range batch {
				if r.err == nil {
					r.err = fmt.Errorf("mvkv: commit not persisted (nothing was written): %w", err)
				}
			}
		}
	}
	for _, r := range batch {
		close(r.done)
	}
	return stop
}

// errNothingToCommit rolls back a group whose members all failed.
var errNothingToCommit = errors.New("mvkv: no transaction of the group passed its checks")

// readBefores returns the data bucket's version of each key written, with
// a copy of its value (nil where it does not hold the key). For a key the
// index does not hold, that is the key's newest committed version: the
// index lets a key go only once the checkpoint applied its newest version.
func readBefores(data *bolt.Bucket, writes []write) ([]*index.Version, error) {
	befores := make([]*index.Version, len(writes))
	for i, w := range writes {
		rec, err := getRecord(data, w.key, leafCheck{})
		if err != nil {
			return nil, err
		}
		if rec == nil {
			continue
		}
		ts, val, err := decodeRecord(w.key, rec)
		if err != nil {
			return nil, err
		}
		befores[i] = &index.Version{TS: ts, Value: cloneValue(val)}
	}
	return befores, nil
}

// install runs first-committer-wins and installs r's versions under the
// index's write lock, appending them to entries; it returns r's commit
// timestamp and the change it makes to the number of live keys. On
// failure nothing of r stays in the index.
func (db *DB) install(r *commitReq, befores []*index.Version, entries *[]index.Entry) (ts uint64, keys int64, err error) {
	mine := len(*entries)
	db.index.Write(func(w index.Writer) {
		if err = db.validate(w, r, befores); err != nil {
			return
		}
		db.lastTS++
		ts = db.lastTS
		for i, wr := range r.writes {
			top, held := w.Newest(wr.key)
			existed := befores[i] != nil
			if held {
				existed = !top.Tombstone
			}
			switch {
			case existed && wr.tombstone:
				keys--
			case !existed && !wr.tombstone:
				keys++
			}
			v := index.Version{TS: ts, Seq: uint32(i), Tombstone: wr.tombstone, Value: wr.value}
			if err = w.Install(wr.key, befores[i], v); err != nil {
				err = fmt.Errorf("%w: %s: %w", ErrCorrupt, db.path, err)
				return
			}
			*entries = append(*entries, index.Entry{Key: wr.key, Version: v})
		}
	})
	if err != nil && len(*entries) > mine {
		db.index.Remove((*entries)[mine:])
		*entries = (*entries)[:mine]
	}
	return ts, keys, err
}

// validate applies first-committer-wins (Snapshot, Serializable): a key
// written by a transaction that committed after our snapshot means a
// concurrent writer got there first. The index holds the newest version of
// every key written after the horizon, and every snapshot is at or above
// it, so a key it does not hold has nothing newer than the snapshot. Read
// committed lets the last committer win. Called under the index's write
// lock.
//
// A key spilled out of memory whole (index.CompleteSpill) has its newest
// version in the data bucket: befores, read in the same bbolt transaction,
// give its timestamp.
func (db *DB) validate(w index.Writer, r *commitReq, befores []*index.Version) error {
	if r.tx.level == ReadCommitted || r.tx.locking {
		return nil // a locking transaction held its keys' locks since before it read them
	}
	for i, wr := range r.writes {
		latest := w.LatestTS(wr.key)
		if latest == 0 && befores[i] != nil {
			latest = befores[i].TS
		}
		if latest > r.tx.readTS {
			return r.tx.conflict(wr.key, latest)
		}
	}
	return nil
}
