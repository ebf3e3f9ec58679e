package mvcc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// History: reads as of a past time.
//
// With Options.HistoryRetention, every commit group is stamped with its
// wall-clock time, which the log keeps with its transactions (wal.go) and
// a checkpoint writes to the "clock" bucket with the data it applies (so
// the record is exactly as durable as the commits; until then commitAt
// finds it among the pending transactions), and every checkpoint
// writes to the version bucket each version it supersedes in the data
// bucket, tombstones included (checkpoint.go, versionstore.go). So, for a
// time t within the retention, the newest commit at or before t is found
// in the clock, and every version visible at it is in memory, in the data
// bucket or in the version bucket, where the reads of an AsOf transaction
// look (read.go, asof.go).
//
//	bucket "clock"  time (Unix ns, 8 bytes BE) -> commit ts (8 bytes BE), CRC-32C (4 bytes BE) of key and ts
//	bucket "mvkv"   histts, histtime -> history is kept from this commit on, stamped then (meta values)
//
// Times only grow: a group is stamped max(now, the last stamp + 1 ns), so
// the clock is sorted by time and by timestamp at once. Vacuum keeps the
// versions superseded after the newest commit at or before now minus the
// retention (historyHorizon) and trims the clock to the same point.
var (
	clockBucket    = []byte("clock")
	historyKey     = []byte("histts")
	historyTimeKey = []byte("histtime")
)

// history is the DB's record of commit times and of the transactions
// reading as of a past time.
type history struct {
	last       int64                     // the last stamp written; the pipeline's
	lastCommit atomic.Pointer[clockMark] // the newest published commit group

	mu      sync.Mutex
	readers map[*Txn]uint64 // AsOf transactions and their snapshots; guarded by mu

	// now is the wall clock of commit stamps and of the retention; nil
	// means time.Now. Tests set it before the first commit (SetClock).
	now func() time.Time
}

// wallNow is the time history stamps commits with and measures the
// retention against.
func (db *DB) wallNow() time.Time {
	if now := db.hist.now; now != nil {
		return now()
	}
	return time.Now()
}

// clockMark is a commit group's last timestamp and wall-clock time.
type clockMark struct {
	stamp int64
	ts    uint64
}

// stampGroup returns a commit group's wall-clock stamp: with a history
// kept, later than every stamp before it. Called by the pipeline.
func (db *DB) stampGroup() int64 {
	stamp := db.wallNow().UnixNano()
	if db.opts.HistoryRetention <= 0 {
		return stamp
	}
	stamp = max(stamp, db.hist.last+1)
	db.hist.last = stamp
	return stamp
}

// writeStamp records in the clock that commit ts was stamped stamp (a
// group's transactions share its stamp: the clock keeps the last). Called
// by a checkpoint step inside its bbolt transaction, for the transactions
// it applies: the clock is as durable as the data.
func writeStamp(btx *bolt.Tx, stamp int64, ts uint64) error {
	clock, err := btx.CreateBucketIfNotExists(clockBucket)
	if err != nil {
		return err
	}
	meta := btx.Bucket(metaBucket)
	if meta.Get(historyKey) == nil {
		if err := putMeta(meta, historyKey, ts-1); err != nil {
			return err
		}
		if err := putMeta(meta, historyTimeKey, uint64(stamp-1)); err != nil {
			return err
		}
	}
	k := binary.BigEndian.AppendUint64(nil, uint64(stamp))
	v := binary.BigEndian.AppendUint64(nil, ts)
	v = binary.BigEndian.AppendUint32(v, crc32.Update(crc32.Checksum(k, castagnoli), castagnoli, v))
	return clock.Put(k, v)
}

// lastStamp returns the clock's last stamp (0: none), for the stamps that
// follow.
func lastStamp(btx *bolt.Tx) int64 {
	if clock := btx.Bucket(clockBucket); clock != nil {
		if k, _ := clock.Cursor().Last(); len(k) == 8 {
			return int64(binary.BigEndian.Uint64(k))
		}
	}
	return 0
}

// startHistory fixes where the history this Open serves begins, lastTS
// being the newest commit in the file. The state as of the Open is
// lastTS's: nothing can commit between the file's last commit and now, so
// a transaction as of any time since reads it, a time before the first
// commit of a new database included (the lastCommit mark, in memory).
// With a retention and no history in the file, the history starts here
// (its start in the meta values, as the first stamp would write it), so
// that this holds after a reopen too. Without a retention the file's
// clock and history start go at once, as a disk vacuum would remove them:
// the commits of this session write neither stamps nor history, and a
// later Open with a retention must not read across that hole (a time of
// this session would find the clock's last entry, before it, and keys
// overwritten since would read as absent). A read-only Open writes
// nothing: it commits nothing either. A failure to write (a full disk)
// does not fail the Open: the first checkpoint then starts the history,
// and a disk vacuum drops it, as they would without this.
func (db *DB) startHistory(lastTS uint64) error {
	now := db.wallNow().UnixNano()
	db.hist.lastCommit.Store(&clockMark{stamp: max(now, db.hist.last), ts: lastTS})
	if db.opts.ReadOnly {
		return nil
	}
	return db.guard(func() error {
		var write func(btx *bolt.Tx) error
		err := db.bolt.View(func(btx *bolt.Tx) error {
			kept := btx.Bucket(metaBucket).Get(historyKey) != nil
			switch {
			case db.opts.HistoryRetention > 0 && !kept:
				write = func(btx *bolt.Tx) error {
					meta := btx.Bucket(metaBucket)
					if err := putMeta(meta, historyKey, lastTS); err != nil {
						return err
					}
					return putMeta(meta, historyTimeKey, uint64(now))
				}
			case db.opts.HistoryRetention <= 0 && (kept || btx.Bucket(clockBucket) != nil):
				write = func(btx *bolt.Tx) error { return db.trimClock(btx, 0) }
			}
			return nil
		})
		if err != nil || write == nil {
			return err
		}
		if err := db.bolt.Update(write); err != nil && db.opts.Logger != nil {
			db.opts.Logger.Warn("mvkv: open: could not record where the history begins", "path", db.path, "err", err)
		}
		return nil
	})
}

// commitAt returns the newest commit at or before t by the clock, found
// false when the clock does not reach back to t.
func (db *DB) commitAt(t time.Time) (ts uint64, found bool, err error) {
	// The log's transactions not yet applied first: the clock holds their
	// stamps only once a checkpoint applied them, and they are newer than
	// all it holds. A transaction no longer pending is in the view taken
	// after this look (checkpointStep drops it after renewing the view).
	if ts, found := db.pending.at(t.UnixNano()); found {
		return ts, true, nil
	}
	v, err := db.acquireView()
	if err != nil {
		return 0, false, err
	}
	defer v.release()
	err = db.guard(func() error {
		tn := t.UnixNano()
		if clock := v.tx.Bucket(clockBucket); clock != nil {
			k, val, _, err := seekBelow(clock.Cursor(), newLeafCheck(db.bolt, clock), binary.BigEndian.AppendUint64(nil, uint64(tn)+1), checkClock)
			if err != nil {
				return err
			}
			if k != nil {
				ts, found = binary.BigEndian.Uint64(val), true
				return nil
			}
		}
		// Before the first stamp kept: the state history began with.
		meta := v.tx.Bucket(metaBucket)
		if meta.Get(historyKey) == nil {
			return nil
		}
		hts, err := getMeta(meta, historyKey)
		if err != nil {
			return err
		}
		htime, err := getMeta(meta, historyTimeKey)
		if err != nil {
			return err
		}
		if int64(htime) <= tn {
			ts, found = hts, true
		}
		return nil
	})
	return ts, found, err
}

// historyHorizon is the oldest snapshot history still serves at now: the
// newest commit at or before now minus the retention, and every AsOf
// transaction's. Versions superseded at or below it are nobody's.
func (db *DB) historyHorizon(now time.Time) uint64 {
	h := ^uint64(0)
	db.hist.mu.Lock()
	for _, ts := range db.hist.readers {
		h = min(h, ts)
	}
	db.hist.mu.Unlock()
	if r := db.opts.HistoryRetention; r > 0 {
		ts, found, err := db.commitAt(now.Add(-r))
		if err != nil || !found {
			ts = 0 // the clock does not reach back so far: keep everything
		}
		h = min(h, ts)
	}
	return h
}

// trimClock removes the clock entries no AsOf read can use any more: those
// before the last one at or below h. Without retention it drops the clock
// and the start of history: history kept before a period without it has
// a hole. Called by the disk vacuum inside its bbolt transaction.
func (db *DB) trimClock(btx *bolt.Tx, h uint64) error {
	if db.opts.HistoryRetention <= 0 {
		if btx.Bucket(clockBucket) != nil {
			if err := btx.DeleteBucket(clockBucket); err != nil {
				return err
			}
		}
		if err := btx.Bucket(metaBucket).Delete(historyKey); err != nil {
			return err
		}
		return btx.Bucket(metaBucket).Delete(historyTimeKey)
	}
	clock := btx.Bucket(clockBucket)
	if clock == nil {
		return nil
	}
	c := clock.Cursor()
	var (
		dead [][]byte
		prev []byte
	)
	for k, v := c.First(); k != nil && len(dead) < vacuumDiskBatch; k, v = c.Next() {
		if len(v) < 8 || binary.BigEndian.Uint64(v) > h {
			break
		}
		if prev != nil {
			dead = append(dead, prev) // a newer entry at or below h serves its times
		}
		prev = bytes.Clone(k)
	}
	for _, k := range dead {
		if err := clock.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// asOfSnapshot returns the snapshot an AsOf transaction reads at t, and
// registers tx with it so that vacuum keeps what it reads. See BeginTx.
func (db *DB) asOfSnapshot(tx *Txn, t time.Time) (uint64, error) {
	at := clampStampTime(t) // t, for the clock; t itself for messages
	visible := db.oracle.Visible()
	if last := db.hist.lastCommit.Load(); last != nil && at.UnixNano() >= last.stamp {
		// Nothing published was committed after t. (A group being
		// published now is taken as committed after the Begin.)
		return min(last.ts, visible), nil
	}
	r := db.opts.HistoryRetention
	if r <= 0 {
		if !t.Before(db.wallNow()) {
			return visible, nil
		}
		return 0, fmt.Errorf("%w: %s is in the past and Options.HistoryRetention is zero", ErrHistoryGone, t.Format(time.RFC3339Nano))
	}
	// Register before looking: a vacuum that computes its horizon from
	// now on keeps everything (snapshot 0); one that computed it before
	// used a cutoff earlier than the check below.
	db.hist.mu.Lock()
	if db.hist.readers == nil {
		db.hist.readers = make(map[*Txn]uint64)
	}
	db.hist.readers[tx] = 0
	db.hist.mu.Unlock()
	ts, found, err := db.commitAt(at)
	if err == nil && (!found || t.Before(db.wallNow().Add(-r))) {
		err = fmt.Errorf("%w: %s is before the history kept (retention %v)", ErrHistoryGone, t.Format(time.RFC3339Nano), r)
	}
	if err != nil {
		db.endAsOf(tx)
		return 0, err
	}
	ts = min(ts, visible)
	db.hist.mu.Lock()
	db.hist.readers[tx] = ts
	db.hist.mu.Unlock()
	return ts, nil
}

// clampStampTime brings t within the times a stamp (Unix nanoseconds in
// an int64) can name, 1970 to 2262, so that UnixNano is defined for it
// (it is not past those ends, and wraps). The answer is the same: no
// commit is stamped before 1970, and every commit is before 2262.
func clampStampTime(t time.Time) time.Time {
	if lo := time.Unix(0, 0); t.Before(lo) {
		return lo
	}
	if hi := time.Unix(0, math.MaxInt64); t.After(hi) {
		return hi
	}
	return t
}

// endAsOf unregisters an AsOf transaction.
func (db *DB) endAsOf(tx *Txn) {
	db.hist.mu.Lock()
	delete(db.hist.readers, tx)
	db.hist.mu.Unlock()
}

// checkAsOf refuses the TxOptions with which AsOf makes no sense.
func checkAsOf(opts TxOptions) error {
	switch {
	case opts.AsOf.IsZero():
		return nil
	case !opts.ReadOnly:
		return fmt.Errorf("%w: a transaction as of a past time (TxOptions.AsOf) reads only: set ReadOnly", ErrReadOnly)
	case opts.Locking || opts.Isolation == Serializable:
		return fmt.Errorf("%w: a transaction as of a past time (TxOptions.AsOf) reads at ReadCommitted or Snapshot: a past snapshot may show a state no serial order had (the read-only anomaly)", ErrInvalidLevel)
	}
	return nil
}

// checkClock checks a clock entry's checksum.
func checkClock(k, v []byte) error {
	if len(k) != 8 || len(v) != 12 || crc32.Update(crc32.Checksum(k, castagnoli), castagnoli, v[:8]) != binary.BigEndian.Uint32(v[8:]) {
		return fmt.Errorf("%w: clock entry %x: checksum mismatch", ErrCorrupt, k)
	}
	return nil
}
