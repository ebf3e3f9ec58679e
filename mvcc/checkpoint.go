package mvcc

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/index"
)

// The checkpoint: applying the log to the data bucket.
//
// Commit groups append to the log (wal.go): sequential writes and one
// fdatasync per group, whatever keys the group wrote, which is what lets
// durable commits scale with group commit. Writing each group's keys into
// the data bucket instead would dirty a page per key written, scattered
// over the file, and take bbolt's one writer. So the data bucket is
// brought up to date in batches, by a goroutine of its own beside the
// commit pipeline (the checkpointer, as PostgreSQL's): a pass starts once
// the log holds checkpointRecords writes or Options.CheckpointBytes, when
// a vacuum asks for one (DB.Vacuum), once per
// Options.AutovacuumInterval while the log holds anything and autovacuum
// is on, and at Close. A pass applies the log as it stands when the pass
// starts. (While the log is empty, a very large group goes to the data
// bucket itself: commit.go.)
//
// No commit waits for a pass (unless the log runs far behind, below): a
// group appends to the log, and a step writes the bbolt file. A pass is cut into steps, each one bbolt
// transaction that takes the oldest transactions of the log (whole ones,
// up to stepKeys distinct keys or stepEntries writes), applies the
// newest write of each of those keys to the data bucket in key order,
// and moves "applied" (and "ts") to the last commit it took; the log's
// segments whose every transaction is applied then go.
//
// Steps are small all the same: a step's bbolt commit
// flushes about a page per random key to the same disk the log's
// fdatasyncs go to, and a group's fdatasync that meets a flush of
// thousands of pages waits for all of it (on the 2-core machine, steps
// of 4,096 keys gave commits a p99.9 of 19 ms, steps of 128 about 9 ms,
// at the same throughput; BenchmarkCommitTail). Small steps also bound
// what the pipeline's own bbolt transactions (a large group written to
// the data bucket, a spill of versions to disk) wait for. When commits
// outrun the checkpointer and the log grows past twice its threshold,
// steps grow with it, and past logBacklog times its thresholds commits
// wait for it (throttleLog), so memory stays bounded.
//
// Every step keeps the file's invariants, so a crash between or inside
// steps is a crash between two checkpoints: the data bucket holds every
// commit up to "applied", nothing newer, and the log every acknowledged
// commit after it (and possibly some at or before it, which Open skips).
// Open applies what a crash left in the log the same way, before
// anything else: the log is bounded, so Open is too.
//
// Until a version is applied the index holds it with its value, and vacuum
// lets it go only once it is (index.SetApplied; DB.Vacuum first asks for
// a pass, autovacuum.go). A reader may read an older view of the data
// bucket than the newest, though: each transaction records the applied
// mark when it begins (read committed: when each statement begins), and
// vacuum keeps every version after the oldest mark an open transaction
// holds (txn.Oracle.PruneHorizon). So a key the index does not hold has
// its newest version in every view such a reader can take, and reads stay
// simple (read.go): a reader that does not find a key in the index finds
// its newest committed version in the data bucket, and memory holds at
// most the log's worth of values beyond what open snapshots need.
const checkpointRecords = 16 << 10

// A checkpoint step applies at most stepKeys distinct keys and
// stepEntries logged writes, but always at least one whole transaction
// (more while the log runs behind, see checkpointPass).
const (
	stepKeys    = 128
	stepEntries = 4096
)

// pendingLog is the log's transactions not yet applied, in commit order:
// the pipeline adds a group's once they are durable, checkpoint steps drop
// them once applied. Their writes are the committers' own (never changed
// after Commit), which the index holds too.
type pendingLog struct {
	mu   sync.Mutex
	txns []loggedTxn
	// writes and bytes are what txns hold (their writes, and the bytes
	// they take in the log), for the thresholds, read without the lock.
	writes, bytes atomic.Int64
}

func (p *pendingLog) add(txns ...loggedTxn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.txns = append(p.txns, txns...)
	p.count(txns, 1)
}

// count adds (sign 1) or takes away (-1) txns from writes and bytes.
func (p *pendingLog) count(txns []loggedTxn, sign int64) {
	var w, b int64
	for _, t := range txns {
		w, b = w+int64(len(t.writes)), b+int64(t.size)
	}
	p.writes.Add(sign * w)
	p.bytes.Add(sign * b)
}

// head returns the transactions pending now. Only the checkpointer drops
// them, so they stay as they are while it applies them.
func (p *pendingLog) head() []loggedTxn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.txns[:len(p.txns):len(p.txns)]
}

// drop lets the first n transactions go: applied.
func (p *pendingLog) drop(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.count(p.txns[:n], -1)
	clear(p.txns[:n])
	p.txns = p.txns[n:]
	if len(p.txns) == 0 {
		p.txns = nil
	}
}

func (p *pendingLog) empty() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.txns) == 0
}

// at returns the newest pending commit whose group was stamped at or
// before stamp (history.go), found false when none was.
func (p *pendingLog) at(stamp int64) (ts uint64, found bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, _ := slices.BinarySearchFunc(p.txns, stamp+1, func(t loggedTxn, s int64) int { return cmp.Compare(t.stamp, s) })
	if i == 0 {
		return 0, false
	}
	return p.txns[i-1].ts, true
}

// checkpointer is the background checkpoint's state.
type checkpointer struct {
	kick chan struct{}       // a pass is due (capacity 1: kicks coalesce)
	reqs chan *checkpointReq // a caller waits for a pass (unbuffered)
	done chan struct{}       // closed when the goroutine has exited
	pass sync.Mutex          // held for a whole pass: check waits for a quiet file
	// afterStep, when set (by tests, before the first commit), runs after
	// each step of a background pass, with no lock held.
	afterStep func()
	// throttled: the pipeline waits for the log to shrink (throttleLog);
	// stepped (capacity 1) wakes it after a step.
	throttled atomic.Bool
	stepped   chan struct{}
	stepKeys  int // distinct keys a step applies at most (tests lower it)
	// clearBucket: the next step also empties the log bucket, whose
	// writes Open took into the pending log (a file of format "mvkv/3"
	// that a crash left with a logged write).
	clearBucket bool
}

// checkpointReq asks for every commit published before it to be applied.
type checkpointReq struct {
	err  error
	done chan struct{}
}

// startCheckpointer starts the background checkpointer (none for a
// read-only DB); Close stops it.
func (db *DB) startCheckpointer() {
	db.ck.kick = make(chan struct{}, 1)
	db.ck.reqs = make(chan *checkpointReq)
	db.ck.done = make(chan struct{})
	db.ck.stepped = make(chan struct{}, 1)
	if db.ck.stepKeys == 0 {
		db.ck.stepKeys = stepKeys
	}
	if db.opts.ReadOnly {
		close(db.ck.done) // nothing to write
		return
	}
	go db.runCheckpointer()
}

func (db *DB) runCheckpointer() {
	defer close(db.ck.done)
	var tick <-chan time.Time
	if !db.opts.NoAutovacuum {
		t := time.NewTicker(db.vac.gc.Config().Interval)
		defer t.Stop()
		tick = t.C
	}
	var waiting []*checkpointReq
	for {
		select {
		case <-db.closing:
			return
		case <-db.ck.kick:
		case <-tick:
			if db.pending.writes.Load() == 0 {
				continue
			}
		case r := <-db.ck.reqs:
			waiting = append(waiting, r)
		}
	gather:
		for {
			select {
			case r := <-db.ck.reqs:
				waiting = append(waiting, r)
			default:
				break gather
			}
		}
		// Every commit published before a request is at or below the
		// target.
		err := db.checkpointPass(db.oracle.Visible(), false)
		if err != nil && !errors.Is(err, ErrClosed) {
			db.noteCheckpointError(err)
		}
		for _, r := range waiting {
			r.err = err
			close(r.done)
		}
		clear(waiting)
		waiting = waiting[:0]
		if db.vac.gc != nil && db.index.Versions() >= db.vac.kickAt {
			db.vac.gc.Kick()
		}
	}
}

// kickCheckpoint asks the checkpointer for a pass, without waiting.
func (db *DB) kickCheckpoint() {
	select {
	case db.ck.kick <- struct{}{}:
	default:
	}
}

// requestCheckpoint has the checkpointer apply every commit published so
// far to the data bucket, and waits for it.
func (db *DB) requestCheckpoint() error {
	r := &checkpointReq{done: make(chan struct{})}
	select {
	case db.ck.reqs <- r:
	case <-db.closing:
		return ErrClosed
	}
	select {
	case <-r.done:
		return r.err
	case <-db.ck.done:
		select {
		case <-r.done:
			return r.err
		default:
			return ErrClosed
		}
	}
}

// errLogApplied rolls back a step that found nothing to apply.
var errLogApplied = errors.New("mvkv: nothing to apply")

// checkpointPass applies the log up to commit target, step by step. whole
// applies it in one step (Open and Close, when no commit runs); otherwise
// the pass stops early, with ErrClosed, when Close begins.
func (db *DB) checkpointPass(target uint64, whole bool) error {
	db.ck.pass.Lock()
	defer db.ck.pass.Unlock()
	for {
		keys, entries := db.ck.stepKeys, stepEntries
		if whole {
			keys, entries = 1<<62, 1<<62
		} else {
			select {
			case <-db.closing:
				return ErrClosed
			default:
			}
			if db.stopped.Load() {
				return fmt.Errorf("%w: %w", ErrClosed, errCommitsStopped)
			}
			// Falling behind: larger steps, so that the log (and the
			// memory holding its versions) stays bounded.
			r, b, ckBytes := db.pending.writes.Load(), db.pending.bytes.Load(), int64(db.opts.CheckpointBytes)
			for ; r > 2*checkpointRecords || b > 2*ckBytes; r, b = r/2, b/2 {
				keys, entries = 2*keys, 2*entries
			}
		}
		if db.pending.empty() {
			// (A step that finds nothing rolls back, and bbolt's
			// rollback walks every page allocated since Open.)
			return nil
		}
		more, err := db.checkpointStep(target, keys, entries)
		if err != nil || !more {
			return err
		}
		if db.ck.afterStep != nil && !whole {
			db.ck.afterStep()
		}
		db.ck.noteStep()
	}
}

// noteStep wakes a pipeline waiting for the log to shrink (throttleLog).
func (ck *checkpointer) noteStep() {
	select {
	case ck.stepped <- struct{}{}:
	default:
	}
}

// logBacklog is how far the log may run ahead of the checkpointer, in
// multiples of its thresholds (checkpointRecords, Options.CheckpointBytes),
// before commits wait for it.
const logBacklog = 4

// logOver reports whether the log runs more than logBacklog times its
// thresholds ahead of the checkpointer.
func (db *DB) logOver() bool {
	return db.pending.writes.Load() > logBacklog*checkpointRecords ||
		db.pending.bytes.Load() > logBacklog*int64(db.opts.CheckpointBytes)
}

// throttleLog is the backpressure that keeps memory bounded when commits
// outrun the checkpointer: until a version is applied the index holds its
// value, so a log that grew without bound would take the heap with it.
// Steps grow as the log does (checkpointPass), which is enough unless the
// machine cannot apply as fast as it commits; past logBacklog times its
// thresholds the pipeline, between two groups, waits until a step brings
// the log back under. Commits then run at the checkpointer's pace. It
// gives up when Close begins or the checkpointer reports a failure (a full
// disk): commits fail on their own then, and waiting would only hang them.
// Called by the pipeline only.
func (db *DB) throttleLog() {
	if !db.logOver() {
		return
	}
	db.ck.throttled.Store(true)
	defer db.ck.throttled.Store(false)
	db.stats.throttled.Add(1)
	for db.logOver() {
		db.ckMu.Lock()
		failed := db.ckErr != nil && time.Since(db.ckErrAt) < time.Second
		db.ckMu.Unlock()
		if failed || db.stopped.Load() {
			return
		}
		db.kickCheckpoint()
		select {
		case <-db.ck.stepped:
		case <-db.closing:
			return
		case <-time.After(10 * time.Millisecond): // a pass between kicks
		}
	}
}

// checkpointStep applies one step of the log (see above) in one bbolt
// transaction, and reports whether the log holds more up to target.
func (db *DB) checkpointStep(target uint64, keys, entries int) (more bool, err error) {
	txns := db.pending.head()
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	var (
		st   stepResult
		hist *vwriter // with HistoryRetention: the superseded versions go to the version store
	)
	err = db.guard(func() error {
		return db.files().update(func(btx *bolt.Tx) error {
			var err error
			if db.opts.HistoryRetention > 0 {
				if hist, err = newVWriter(btx, &db.vs); err != nil {
					return err
				}
			}
			st, err = applyLog(btx, txns, target, keys, entries, hist)
			if err == nil && hist != nil {
				err = hist.flush(&db.vs)
			}
			if err == nil && db.ck.clearBucket {
				if err = btx.DeleteBucket(logBucket); err == nil {
					_, err = btx.CreateBucket(logBucket)
				}
			}
			if err == nil {
				db.retireView()
			}
			return err
		})
	})
	if errors.Is(err, errLogApplied) {
		return false, nil
	}
	db.renewView()
	if err != nil {
		return false, fmt.Errorf("mvkv: checkpoint %s: %w", db.path, err)
	}
	if hist != nil {
		hist.done(&db.vs)
	}
	db.ck.clearBucket = false
	// The new view, which holds the applied data, is in place: from now
	// on readers may rely on it.
	db.applied.Store(st.applied)
	db.index.SetApplied(st.applied)
	if db.oracle != nil {
		db.oracle.SetApplied(st.applied)
	}
	// After the view: a reader of the history's clock that finds a
	// transaction no longer pending finds it in the view (commitAt).
	db.pending.drop(st.txns)
	if db.wal != nil {
		db.wal.retire(st.applied)
	}
	return st.more, nil
}

// stepResult is what one step applied.
type stepResult struct {
	applied uint64 // the last commit applied
	txns    int    // transactions applied: the first of the pending log
	entries int64  // their writes
	more    bool   // the log holds more writes up to the target
}

// dataWrite is a write on its way to the data bucket.
type dataWrite struct {
	key, value []byte
	ts         uint64
	tombstone  bool
}

// applyLog applies the oldest transactions of txns, up to commit target
// and at most maxKeys distinct keys or maxEntries writes (whole
// transactions, at least one), to the data bucket, and records what it
// applied. It returns errLogApplied when txns hold nothing up to target.
// With hist, every version the data bucket loses (the one it held, the
// log's writes it never holds) goes to the version store, a delete leaves
// its tombstone there, and each transaction's stamp goes to the clock
// (history.go).
func applyLog(btx *bolt.Tx, txns []loggedTxn, target uint64, maxKeys, maxEntries int, hist *vwriter) (st stepResult, err error) {
	newest := make(map[string]int)
	var writes []dataWrite
	older := make(map[string][]dataWrite) // with hist: the writes a later one superseded, per key
	var last uint64
	for _, t := range txns {
		if t.ts > target {
			break
		}
		if st.txns > 0 && (len(writes) >= maxKeys || int(st.entries) >= maxEntries) {
			st.more = true // a whole transaction at a time
			break
		}
		last = t.ts
		st.txns++
		st.entries += int64(len(t.writes))
		for _, lw := range t.writes {
			w := dataWrite{key: lw.key, value: lw.value, ts: t.ts, tombstone: lw.tombstone}
			if i, ok := newest[string(w.key)]; ok {
				if hist != nil {
					older[string(w.key)] = append(older[string(w.key)], writes[i])
				}
				writes[i] = w
				continue
			}
			newest[string(w.key)] = len(writes)
			writes = append(writes, w)
		}
		if hist != nil && t.stamp != 0 {
			if err := writeStamp(btx, t.stamp, t.ts); err != nil {
				return st, err
			}
		}
	}
	if st.txns == 0 {
		return st, errLogApplied
	}
	slices.SortFunc(writes, func(a, b dataWrite) int { return bytes.Compare(a.key, b.key) })
	if err := writeData(btx, writes, last, hist, older); err != nil {
		return st, err
	}
	st.applied = last
	return st, nil
}

// writeGroup writes a group's writes (one per key, in key order) into the
// data bucket, as writeData does, for a group that goes there directly:
// keys is the key count after it, as memory knows it, and no record is
// read first (the committers read every key's record, with its
// neighbours' checks, for their before-images, so damage around one was
// already reported).
//
// buf is reused for the records (bbolt keeps the slices given to Put until
// the commit, so the caller may reuse it only after that): the grown
// buffer is returned.
func writeGroup(btx *bolt.Tx, writes []dataWrite, last uint64, keys int64, buf []byte) ([]byte, error) {
	meta, data := btx.Bucket(metaBucket), btx.Bucket(dataBucket)
	data.FillPercent = 0.9
	size := 0
	for _, w := range writes {
		size += recordHeader + len(w.value)
	}
	if cap(buf) < size {
		buf = make([]byte, 0, size)
	}
	buf = buf[:0]
	for _, w := range writes {
		var err error
		if w.tombstone {
			err = data.Delete(w.key) // nothing to do for a key absent
		} else {
			s := len(buf)
			buf = appendRecord(buf, w.key, w.value, w.ts)
			err = data.Put(w.key, buf[s:len(buf):len(buf)])
		}
		if err != nil {
			return buf, err
		}
	}
	if err := putMeta(meta, appliedKey, last); err != nil {
		return buf, err
	}
	return buf, putMeta(meta, keysKey, uint64(keys))
}

// writeData writes writes (one per key, in key order) into the data
// bucket, updates the key count, and moves "applied" to last: the caller
// vouches that every commit up to last is then in the data bucket.
func writeData(btx *bolt.Tx, writes []dataWrite, last uint64, hist *vwriter, older map[string][]dataWrite) error {
	meta, data := btx.Bucket(metaBucket), btx.Bucket(dataBucket)
	// Keys arrive in key order: pack the pages they fill, leaving a little
	// room for the keys later checkpoints insert between.
	data.FillPercent = 0.9
	n, err := getMeta(meta, keysKey)
	if err != nil {
		return err
	}
	keys := int64(n)
	size := 0
	for _, w := range writes {
		size += recordHeader + len(w.value)
	}
	buf := make([]byte, 0, size) // bbolt keeps the slices given to Put until the commit
	for _, w := range writes {
		// getRecord, not Get: a key hidden by damage must not be counted
		// absent and written a second time.
		rec, err := getRecord(data, w.key, leafCheck{})
		if err != nil {
			return err
		}
		present := rec != nil
		if hist != nil {
			if err := historyOf(hist, w.key, rec, older[string(w.key)], w.ts, w.tombstone); err != nil {
				return err
			}
		}
		switch {
		case w.tombstone && present:
			err = data.Delete(w.key)
			keys--
		case w.tombstone:
		default:
			s := len(buf)
			buf = appendRecord(buf, w.key, w.value, w.ts)
			err = data.Put(w.key, buf[s:len(buf):len(buf)])
			if !present {
				keys++
			}
		}
		if err != nil {
			return err
		}
	}
	if err := putMeta(meta, appliedKey, last); err != nil {
		return err
	}
	if err := putMeta(meta, tsKey, last); err != nil {
		return err
	}
	return putMeta(meta, keysKey, uint64(keys))
}

// historyOf writes to the version store what a checkpoint supersedes of
// key: the data bucket's record (rec, nil when absent), then the log's
// earlier writes, each until the next; and the newest write when it is a
// delete, so that a read as of a time after it finds the tombstone, not a
// version it deleted.
func historyOf(w *vwriter, key, rec []byte, older []dataWrite, ts uint64, tombstone bool) error {
	var chain []index.Version
	if rec != nil {
		rts, val, err := decodeRecord(key, rec)
		if err != nil {
			return err
		}
		chain = append(chain, index.Version{TS: rts, Value: val})
	}
	for _, o := range older {
		chain = append(chain, index.Version{TS: o.ts, Value: o.value, Tombstone: o.tombstone})
	}
	chain = append(chain, index.Version{TS: ts, Tombstone: tombstone})
	for i, v := range chain[:len(chain)-1] {
		if err := w.put(key, v, chain[i+1].TS); err != nil {
			return err
		}
	}
	if tombstone {
		return w.put(key, chain[len(chain)-1], ts)
	}
	return nil
}
