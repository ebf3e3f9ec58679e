package mvcc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"runtime/debug"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/index"
)

// The commit pipeline.
//
// One goroutine (runCommits) owns commit timestamps and the log, and does
// only what must be done in commit order. A committer does the rest of
// its commit in its own goroutine, before it queues (prepareCommit): it
// sorts its writes, encodes its log record's body with its checksum
// (only the record's 28-byte header needs the commit timestamp), and
// reads its before-images from the shared view. Then it sends a
// commitReq and waits. The pipeline takes the first request that arrives
// and, without waiting, everything else already queued (up to
// Options.MaxBatch): that is the group. For each member in arrival order
// it runs first-committer-wins against the index as the members before
// it left it, takes the next timestamp, installs the versions, runs SSI's
// edge search, and adds its record; then it appends the group's records
// to the log with one fdatasync (wal.go), publishes the new snapshot, and
// wakes every committer.
//
// There is no timer: a lone committer is written at once, and under load
// the group grows by itself with the requests that queue while the
// previous group is being synced. Group commit is what lets durable
// commits scale past the few thousand fsyncs per second the disk allows.
//
// A committer that finds nothing queued and nobody committing leads its
// own group of one in its own goroutine (tryLead, as the first arrival
// leads in a leader/follower group commit): a lone writer then pays no
// handoff to the pipeline goroutine and back. leadMu makes the leader and
// the pipeline goroutine take turns; what queues while a leader commits
// waits for the pipeline goroutine's next group.
//
// While the log is empty (every commit applied), a group of directBytes
// of records or more writes the data bucket itself, in one bbolt
// transaction, instead of the log, moving "applied" with it: written
// once, not twice (log, then checkpoint), so a bulk load costs the pages
// bbolt's own Update costs.
//
// The pipeline never applies the log to the data: the checkpointer does,
// beside it (checkpoint.go), in bbolt transactions of its own, which no
// group appending to the log waits for.

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

	// Prepared by the committer (prepareCommit):
	befores []*index.Version // the data's version of each key (nil: absent)
	gen     uint64           // DB.skipGen before the before-images' view was taken
	skipped bool             // the pipeline left its new keys out of memory
	size    int              // the most the log record's body takes
	logged  []byte           // the log record's body (nil: not yet encoded)
	sum     uint32           // its checksum

	ts   uint64 // commit timestamp, set by the pipeline on success
	err  error
	done chan struct{}
}

// prepareCommit does, in the committer's goroutine, the part of a commit
// that needs no commit order: the log record's body and the before-images.
//
// The before-images are read from the shared view, not inside the group's
// bbolt transaction, and that is as good. A before-image matters only for
// a key the index does not hold when the pipeline installs the commit.
// Such a key was let go, if ever, at a horizon at or below the applied
// mark of every transaction open then, this one's included (it stays
// registered until its commit ends): its newest version is at or below
// this transaction's applied mark, and every view taken since the
// transaction began (or began its last statement) holds the data as of
// that mark or later. A commit of the key after the view was read is in
// the index when the pipeline installs: it could be let go only at a
// horizon at or below this transaction's, older than that commit. The one
// exception is a key created by a group that wrote the data bucket itself
// and left it out of memory (install): such a group moves DB.skipGen once
// the shared view holds it, and the pipeline reads again the
// before-images of a committer that saw an older count (freshBefores).
func (db *DB) prepareCommit(r *commitReq) error {
	r.size = 0
	for _, w := range r.writes {
		r.size += 1 + 2*binary.MaxVarintLen32 + len(w.key) + len(w.value)
	}
	if r.size < directBytes {
		// A transaction this large most likely goes to the data bucket
		// (directBytes): the pipeline encodes it if it must log it.
		r.encode()
	}
	var err error
	r.gen = db.skipGen.Load()
	r.befores, err = db.readBefores(r.writes)
	if db.testHookBefores != nil {
		db.testHookBefores()
	}
	return err
}

// encode fills r.logged and r.sum with r's log record's body.
func (r *commitReq) encode() {
	r.logged = make([]byte, 0, r.size)
	for _, w := range r.writes {
		r.logged = appendBody(r.logged, w)
	}
	r.sum = crc32.Checksum(r.logged, castagnoli)
}

func (db *DB) runCommits() {
	defer close(db.pipelineDone)
	batch := make([]*commitReq, 0, db.opts.MaxBatch)
	for {
		batch = batch[:0]
		select {
		case r := <-db.commitCh:
			batch = append(batch, r)
		case <-db.closing:
			db.failQueued()
			return
		}
		// A leader may be committing: what queues meanwhile joins the
		// group gathered once it is done.
		db.leadMu.Lock()
	gather:
		for len(batch) < db.opts.MaxBatch {
			select {
			case r := <-db.commitCh:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		db.commitGroup(batch)
		stopped := db.stopErr != nil
		db.leadMu.Unlock()
		clear(batch) // let the committed transactions go
		if !stopped {
			db.throttleLog()
		}
	}
}

// tryLead commits r in the calling goroutine when nobody else commits and
// nothing is queued: a lone committer then pays no handoff to the
// pipeline goroutine and back (two goroutine wakeups), which is most of
// what a commit costs beyond bbolt's own transaction when no fsync
// hides it. It reports false, having done nothing, when r must queue.
// Commits that arrive while a leader commits queue as usual and go
// together in the next group, so group commit stays as it was.
func (db *DB) tryLead(r *commitReq) bool {
	// While the log runs too far ahead of the checkpointer, commits go
	// through the pipeline, which waits for it (throttleLog).
	if db.opts.ReadOnly || len(db.commitCh) > 0 || db.ck.throttled.Load() || db.logOver() || !db.leadMu.TryLock() {
		return false
	}
	defer db.leadMu.Unlock()
	defer leaderPanic()
	select {
	case <-db.closing:
		return false // the queue's way reports ErrClosed
	default:
	}
	if len(db.commitCh) > 0 {
		return false // queued meanwhile: join them, in arrival order
	}
	db.lone[0] = r
	db.commitGroup(db.lone[:])
	db.lone[0] = nil
	return true
}

// leaderPanic ends the process on a panic in a leader's commit, as one in
// the pipeline goroutine would: the caller must not recover it (net/http
// recovers its handlers' panics) and go on with a group half-committed
// and its locks held. Damage of the file never gets here: guard turns it
// into ErrCorrupt.
func leaderPanic() {
	if p := recover(); p != nil {
		stack := debug.Stack()
		go panic(fmt.Sprintf("mvkv: panic in a commit: %v\n\n%s", p, stack))
		select {} // the panic ends the process
	}
}

// commitGroup commits batch (the pipeline's group, or a leader's own
// commit) and wakes its committers. Called with leadMu held: one group at
// a time.
func (db *DB) commitGroup(batch []*commitReq) {
	if db.stopErr != nil {
		for _, r := range batch {
			r.err = fmt.Errorf("%w: %w (%w)", ErrClosed, errCommitsStopped, db.stopErr)
			close(r.done)
		}
		return
	}
	db.pipeBusy.Store(true)
	if db.stopErr = db.commitBatch(batch); db.stopErr != nil {
		db.stopped.Store(true)
	} else {
		db.maybeSpill()
	}
	db.pipeBusy.Store(false)
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

// groupResult is what committing a group did, for finishGroup.
type groupResult struct {
	ok      []*commitReq  // the members that committed (or whose outcome is unknown)
	entries []index.Entry // versions installed, to take out if the group fails
	keys    int64         // change in the number of live keys
	stamp   int64         // the group's wall-clock time (history.go)
	direct  bool          // written to the data bucket, not the log
	reached bool          // on failure: the group may have reached the disk
}

// commitBatch commits one group, to the log or (large, with the log
// empty) to the data bucket. It returns a non-nil stop when the pipeline
// must accept no more commits (see faults.go).
//
// Each member in turn:
//
//  1. under the index's write lock, passes first-committer-wins against
//     the index as it stands after the members before it, takes its
//     commit timestamp, and installs its versions, values included, with
//     the before-images it read (package index);
//  2. passes SSI's edge search, outside that lock (txn.SSI says why no
//     edge is lost that way), or has its versions taken out again;
//  3. gets its log record.
//
// Then the group's records go to the log in one append and one fdatasync
// (commitLogged), and the group is published. The versions stay
// invisible until Publish: their timestamps are above every snapshot
// handed out so far. The data bucket is not written: the checkpointer
// applies the log to it later (checkpoint.go), and until then the index
// holds the new versions with their values.
func (db *DB) commitBatch(batch []*commitReq) (stop error) {
	size := 0
	for _, r := range batch {
		size += r.size
	}
	// With history kept, every version the data bucket loses goes to the
	// version store at a checkpoint: no group bypasses it. The log stays
	// empty meanwhile: only the pipeline adds to it.
	var g groupResult
	var err error
	if size >= directBytes && db.opts.HistoryRetention <= 0 && db.pending.empty() {
		g.direct = true
		err = db.commitDirect(batch, &g)
	} else {
		err = db.commitLogged(batch, &g)
	}
	return db.finishGroup(batch, &g, err)
}

// commitLogged runs the members' checks and installs, and appends the
// records of those that pass to the log.
func (db *DB) commitLogged(batch []*commitReq, g *groupResult) error {
	g.stamp = db.stampGroup()
	buf := db.walBuf[:0]
	// A before-image read from an older view is read again where a spill
	// may have made it stale (spill.go): spills run in this goroutine, and
	// the view renewed after each is the one taken here.
	v, err := db.acquireView()
	if err != nil {
		return err
	}
	err = db.guard(func() error {
		for _, r := range batch {
			ts, ok := db.commitMember(r, v.data, g, false)
			if !ok {
				continue
			}
			if r.logged == nil {
				r.encode()
			}
			buf = appendRecordHeader(buf, len(r.logged), r.sum, ts, g.stamp)
			buf = append(buf, r.logged...)
		}
		return nil
	})
	v.release()
	if err == nil && len(g.ok) == 0 {
		err = errNothingToCommit
	}
	if err == nil {
		err = db.files().appendLog(db.wal, buf, g.ok[len(g.ok)-1].ts)
		g.reached = errors.Is(err, errWALUnknown)
	}
	if cap(buf) <= maxGroupBuf {
		db.walBuf = buf
	} else {
		db.walBuf = nil
	}
	if err != nil {
		return err
	}
	txns := make([]loggedTxn, len(g.ok))
	for i, r := range g.ok {
		txns[i] = loggedTxn{ts: r.ts, stamp: g.stamp, writes: r.writes, size: walRecord + len(r.logged)}
	}
	db.pending.add(txns...)
	return nil
}

// commitMember runs r's checks and installs its versions (steps 1 and 2
// above), adding it to g.ok when it passes; otherwise r.err says why.
func (db *DB) commitMember(r *commitReq, data *bolt.Bucket, g *groupResult, leaveNew bool) (uint64, bool) {
	mine := len(g.entries) // r's entries follow (not one per write: see install)
	ts, delta, err := db.install(r, data, &g.entries, leaveNew)
	if err != nil {
		r.err = err
		return 0, false
	}
	if err := db.ssi.CheckCommit(r.tx.ser, r.tx.readTS, ts, r.keys); err != nil {
		db.index.Remove(g.entries[mine:])
		g.entries = g.entries[:mine]
		r.err = &ConflictError{Kind: SerializationFailure, msg: "serialization failure: committing would complete a dangerous structure of read-write dependencies among concurrent serializable transactions"}
		return 0, false
	}
	g.keys += delta
	r.ts = ts
	g.ok = append(g.ok, r)
	return ts, true
}

// commitDirect commits a group in one bbolt write transaction that writes
// the data bucket itself: the log is empty, so the data bucket holds every
// commit before the group, and "applied" moves with it. Then bbolt
// commits (two fsyncs).
func (db *DB) commitDirect(batch []*commitReq, g *groupResult) error {
	g.stamp = db.stampGroup()
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	err := db.guard(func() error {
		return db.files().update(func(btx *bolt.Tx) error {
			data := btx.Bucket(dataBucket)
			for _, r := range batch {
				db.commitMember(r, data, g, len(batch) == 1)
			}
			if len(g.ok) == 0 {
				return errNothingToCommit
			}
			// The data bucket holds every commit before the group, so its
			// key count is memory's.
			last := g.ok[len(g.ok)-1].ts
			var err error
			db.groupBuf, err = writeGroup(btx, groupWrites(g.ok), last, db.keys.Load()+g.keys, db.groupBuf)
			if err != nil {
				return err
			}
			if err := putMeta(btx.Bucket(metaBucket), tsKey, last); err != nil {
				return err
			}
			// bbolt's commit may remap the file, which waits for every read
			// transaction: the shared one must not be among them.
			db.retireView()
			return nil
		})
	})
	db.renewView()
	for _, r := range g.ok {
		if r.skipped {
			// The view holds the group (or its failure): before-images
			// read before now are read again (see install).
			db.skipGen.Add(1)
			break
		}
	}
	if cap(db.groupBuf) > maxGroupBuf {
		db.groupBuf = nil // a bulk load's: not kept for the lone commits after it
	}
	if err != nil && len(g.ok) > 0 && !errors.Is(err, errNothingToCommit) {
		g.reached = db.groupReachedFile(g.ok[len(g.ok)-1].ts)
	}
	if err == nil {
		last := g.ok[len(g.ok)-1].ts
		db.applied.Store(last)
		db.index.SetApplied(last)
		db.oracle.SetApplied(last)
	}
	return err
}

// finishGroup publishes a group that committed, or undoes what it can of
// one that failed, and wakes its committers.
func (db *DB) finishGroup(batch []*commitReq, g *groupResult, err error) (stop error) {
	due := false // the log is large enough for a checkpoint
	if err == nil {
		last := g.ok[len(g.ok)-1].ts
		db.keys.Add(g.keys)
		db.hist.lastCommit.Store(&clockMark{stamp: g.stamp, ts: last})
		db.oracle.Publish(last)
		if !g.direct {
			r, b := db.pending.writes.Load(), db.pending.bytes.Load()
			due = r >= checkpointRecords || b >= int64(db.opts.CheckpointBytes)
		}
	}
	switch {
	case err == nil:
		db.stats.batches.Add(1)
		if due {
			db.kickCheckpoint()
		}
		if db.index.Versions() >= db.vac.kickAt {
			db.vac.gc.Kick()
		}
	case errors.Is(err, errNothingToCommit):
	default:
		if db.opts.Logger != nil {
			db.opts.Logger.Error("mvkv: group commit failed", "path", db.path, "transactions", len(batch), "err", err)
		}
		for _, r := range g.ok {
			if r.tx.ser != nil {
				db.ssi.Forget(r.tx.ser, r.ts)
			}
		}
		// See faults.go: a group that may have reached the file stops
		// the pipeline; one that certainly did not only fails. Either
		// way its timestamps are never used again, and never published.
		if g.reached {
			// Its versions stay in the index, unpublished: the file may
			// hold them, and a reopen may apply them; until Close no
			// snapshot sees them.
			stop = err
			for _, r := range g.ok {
				r.err = fmt.Errorf("mvkv: commit outcome unknown (the transaction is either entirely durable or entirely absent after a reopen); %w: %w", errCommitsStopped, err)
			}
		} else {
			db.index.Remove(g.entries)
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

// directBytes is the size of a group's log records from which, when the
// log is empty, the group writes the data bucket itself instead of the
// log: a group that large costs the log about as many pages as it would
// cost the data, and writing it once instead of twice (log, then
// checkpoint) is what makes a bulk load as fast as bbolt's. With the log
// empty, every commit up to the group's is then in the data bucket, and
// "applied" moves to it in the same bbolt transaction: the invariants of
// checkpoint.go hold as after a checkpoint.
const directBytes = 256 << 10

// maxGroupBuf is the largest record buffer kept between direct groups
// (DB.groupBuf): a bulk load's 1,000-key transactions of 1 KB reuse one.
const maxGroupBuf = 4 << 20

// groupWrites returns the newest write of each key the members of a group
// wrote, in key order, for writeData.
func groupWrites(ok []*commitReq) []dataWrite {
	if len(ok) == 1 { // sorted, one write per key
		r := ok[0]
		ws := make([]dataWrite, len(r.writes))
		for i, w := range r.writes {
			ws[i] = dataWrite{key: w.key, value: w.value, ts: r.ts, tombstone: w.tombstone}
		}
		return ws
	}
	newest := make(map[string]int)
	var ws []dataWrite
	for _, r := range ok {
		for _, w := range r.writes {
			d := dataWrite{key: w.key, value: w.value, ts: r.ts, tombstone: w.tombstone}
			if i, ok := newest[string(w.key)]; ok {
				ws[i] = d
				continue
			}
			newest[string(w.key)] = len(ws)
			ws = append(ws, d)
		}
	}
	slices.SortFunc(ws, func(a, b dataWrite) int { return bytes.Compare(a.key, b.key) })
	return ws
}

// errNothingToCommit rolls back a group whose members all failed.
var errNothingToCommit = errors.New("mvkv: no transaction of the group passed its checks")

// readBefores returns the data bucket's version of each key written, with
// a copy of its value (nil where it does not hold the key), as the shared
// view shows it (prepareCommit says why that view will do).
func (db *DB) readBefores(writes []write) ([]*index.Version, error) {
	v, err := db.acquireView()
	if err != nil {
		return nil, err
	}
	defer v.release()
	befores := make([]*index.Version, len(writes))
	err = db.guard(func() error {
		c := v.data.Cursor()
		// A key found past the data's last record: every larger one is
		// too (the writes are in key order), which a bulk load's keys,
		// appended in order, mostly are.
		var end []byte
		for i, w := range writes {
			if end != nil && bytes.Compare(w.key, end) > 0 {
				continue
			}
			rec, pastEnd, err := getRecordEnd(c, w.key, v.leaf)
			if err != nil {
				return err
			}
			if pastEnd {
				end = w.key
			}
			if befores[i], err = beforeImage(w.key, rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return befores, nil
}

// beforeImage is key's record rec in the data bucket as a before-image,
// its value copied (nil when rec is nil: the key is absent).
func beforeImage(key, rec []byte) (*index.Version, error) {
	if rec == nil {
		return nil, nil
	}
	ts, val, err := decodeRecord(key, rec)
	if err != nil {
		return nil, err
	}
	return &index.Version{TS: ts, Value: cloneValue(val)}, nil
}

// install runs first-committer-wins and installs r's versions under the
// index's write lock, appending them to entries; it returns r's commit
// timestamp and the change it makes to the number of live keys. On
// failure nothing of r stays in the index.
//
// data is the group's data bucket: a before-image read from an older view
// is read again there where a spill may have made it stale (spill.go).
//
// leaveNew says the group writes its versions to the data bucket itself
// and no other member of it writes r's keys. A new key's version (neither
// memory nor the file held the key) then does not go into memory at all:
// the data bucket holds it, with its timestamp, as the key's only version
// from the group's commit on, and a snapshot below that timestamp that
// finds it in the data bucket and not in memory knows it absent (read.go,
// DB.skipTS, set here before the group's bbolt commit). So a bulk load
// costs memory nothing, neither to install nor for vacuum to let go. A
// later commit of the key reads it as its before-image, as it reads any
// key memory let go; one whose before-images were read before the group
// reached the view reads them again (DB.skipGen, freshBefores).
func (db *DB) install(r *commitReq, data *bolt.Bucket, entries *[]index.Entry, leaveNew bool) (ts uint64, keys int64, err error) {
	befores := r.befores
	mine := len(*entries)
	db.index.Write(func(w index.Writer) {
		stale := db.skipGen.Load() != r.gen
		if err = db.freshBefores(w, data, r.writes, befores, stale); err != nil {
			return
		}
		var fresh []bool // fresh[i]: write i's key is new
		if leaveNew {
			fresh = make([]bool, len(r.writes))
		}
		if keys, err = db.validate(w, r, befores, fresh); err != nil {
			return
		}
		db.lastTS++
		ts = db.lastTS
		for i, wr := range r.writes {
			if leaveNew && fresh[i] && !wr.tombstone {
				r.skipped = true
				continue
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
	if err == nil && r.skipped {
		db.skipTS.Store(ts)
	}
	return ts, keys, err
}

// validate applies first-committer-wins (Snapshot, Serializable): a key
// written by a transaction that committed after our snapshot means a
// concurrent writer got there first. The index holds the newest version of
// every key written after the horizon, and every snapshot is at or above
// it, so a key it does not hold has nothing newer than the snapshot. Read
// committed lets the last committer win. Called under the index's write
// lock. It also returns the change r makes to the number of live keys,
// from the same look at each key, and marks in fresh (when not nil) the
// keys neither memory nor the file holds.
//
// A key spilled out of memory whole (index.CompleteSpill) has its newest
// version in the data bucket: befores (fresh, see freshBefores) give its
// timestamp.
func (db *DB) validate(w index.Writer, r *commitReq, befores []*index.Version, fresh []bool) (keys int64, err error) {
	// A locking transaction held its keys' locks since before it read them.
	check := r.tx.level != ReadCommitted && !r.tx.locking
	for i, wr := range r.writes {
		top, held := w.Newest(wr.key)
		if fresh != nil {
			fresh[i] = !held && befores[i] == nil
		}
		existed := befores[i] != nil
		latest := uint64(0)
		if held {
			existed, latest = !top.Tombstone, top.TS
		}
		if check {
			if latest == 0 && befores[i] != nil {
				latest = befores[i].TS
			}
			if latest > r.tx.readTS {
				return 0, r.tx.conflict(wr.key, latest)
			}
		}
		switch {
		case existed && wr.tombstone:
			keys--
		case !existed && !wr.tombstone:
			keys++
		}
	}
	return keys, nil
}
