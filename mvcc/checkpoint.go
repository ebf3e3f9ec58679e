package mvcc

import (
	"bytes"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/index"
)

// The checkpoint: applying the log to the data bucket.
//
// Commit groups append to the log (layout.go): a few sequential pages and
// one fsync per group, whatever keys the group wrote, which is what lets
// durable commits scale with group commit. Writing each group's keys into
// the data bucket instead would dirty a page per key written, scattered
// over the file: a group of 32 random keys costs bbolt about four times
// as long. So the data bucket is brought up to date in large batches: once
// the log holds checkpointRecords writes or Options.CheckpointBytes, the pipeline
// applies all of it in one bbolt transaction (in key order, the newest
// write of each key), deletes it, and moves "applied" to its last commit.
// Commits queue meanwhile and go in the next, larger group.
//
// Until a version is applied the index holds it with its value, and vacuum
// lets it go only once it is (index.SetApplied; a vacuum pass first has
// the pipeline apply the log, autovacuum.go). A reader may read an older
// view of the data bucket than the newest, though: each transaction
// records the applied mark when it begins (read committed: when each
// statement begins), and vacuum keeps every version after the oldest mark
// an open transaction holds (txn.Oracle.PruneHorizon). So a key the index
// does not hold has its newest version in every view such a reader can
// take, and reads stay simple (read.go). So a reader that does not find a key in the index finds
// its newest committed version in the data bucket, and memory holds at
// most the log's worth of values beyond what open snapshots need.
//
// Open applies what a crash left in the log the same way, before anything
// else: the log is bounded, so Open is too.
const checkpointRecords = 16 << 10

// logState is what the pipeline knows of the log; only the pipeline (and
// Open and Close, when it is not running) touches it.
type logState struct {
	records, bytes int64
}

// checkpoint applies the whole log to the data bucket in one bbolt
// transaction. Called by the pipeline between groups, and by Open and
// Close when the pipeline is not running.
func (db *DB) checkpoint() error {
	var (
		applied uint64
		hist    *vwriter // with HistoryRetention: the superseded versions go to the version store
	)
	err := db.guard(func() error {
		return db.files().update(func(btx *bolt.Tx) error {
			var err error
			if db.opts.HistoryRetention > 0 {
				if hist, err = newVWriter(btx); err != nil {
					return err
				}
			}
			applied, err = applyLog(btx, hist)
			if err == nil && hist != nil {
				err = hist.flush(&db.vs)
			}
			if err == nil {
				db.retireView()
			}
			return err
		})
	})
	db.renewView()
	if err != nil {
		return fmt.Errorf("mvkv: checkpoint %s: %w", db.path, err)
	}
	if hist != nil {
		hist.done(&db.vs)
	}
	if applied > 0 {
		// The new view, which holds the applied data, is in place: from
		// now on readers may rely on it.
		db.applied.Store(applied)
		db.index.SetApplied(applied)
		if db.oracle != nil {
			db.oracle.SetApplied(applied)
		}
	}
	db.logged = logState{}
	return nil
}

// logged is a write read back from the log.
type logged struct {
	key, value []byte
	ts         uint64
	tombstone  bool
}

// applyLog moves every logged write into the data bucket, empties the log
// and records what it applied. It returns the last commit applied (0 when
// the log was empty). With hist, every version the data bucket loses
// (the one it held, the log's writes it never holds) goes to the version
// store, and a delete leaves its tombstone there (history.go).
func applyLog(btx *bolt.Tx, hist *vwriter) (last uint64, err error) {
	meta, data, log := btx.Bucket(metaBucket), btx.Bucket(dataBucket), btx.Bucket(logBucket)
	// Keys arrive in key order: pack the pages they fill, leaving a little
	// room for the keys later checkpoints insert between.
	data.FillPercent = 0.9
	// The newest write of each key, with copies of keys and values: the
	// mapping they live in may move when this transaction grows the file.
	newest := make(map[string]int)
	var writes []logged
	older := make(map[string][]logged) // with hist: the writes a later one superseded, per key
	c := log.Cursor()
	for rev, b := c.First(); rev != nil; rev, b = c.Next() {
		ts, key, value, tomb, err := decodeLogged(rev, b)
		if err != nil {
			return 0, err
		}
		if ts < last {
			return 0, fmt.Errorf("%w: the log goes back from ts %d to %d", ErrCorrupt, last, ts)
		}
		last = ts
		w := logged{key: bytes.Clone(key), value: bytes.Clone(value), ts: ts, tombstone: tomb}
		if i, ok := newest[string(key)]; ok {
			if hist != nil {
				older[string(key)] = append(older[string(key)], writes[i])
			}
			writes[i] = w
			continue
		}
		newest[string(w.key)] = len(writes)
		writes = append(writes, w)
	}
	if len(writes) == 0 {
		return 0, nil
	}
	slices.SortFunc(writes, func(a, b logged) int { return bytes.Compare(a.key, b.key) })
	n, err := getMeta(meta, keysKey)
	if err != nil {
		return 0, err
	}
	keys := int64(n)
	size := 0
	for _, w := range writes {
		size += recordHeader + len(w.value)
	}
	buf := make([]byte, 0, size)
	for _, w := range writes {
		// getRecord, not Get: a key hidden by damage must not be counted
		// absent and written a second time.
		rec, err := getRecord(data, w.key, leafCheck{})
		if err != nil {
			return 0, err
		}
		present := rec != nil
		if hist != nil {
			if err := historyOf(hist, w.key, rec, older[string(w.key)], w.ts, w.tombstone); err != nil {
				return 0, err
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
			return 0, err
		}
	}
	// Dropping the bucket frees its pages in one step.
	if err := btx.DeleteBucket(logBucket); err != nil {
		return 0, err
	}
	if _, err := btx.CreateBucket(logBucket); err != nil {
		return 0, err
	}
	if err := putMeta(meta, appliedKey, last); err != nil {
		return 0, err
	}
	return last, putMeta(meta, keysKey, uint64(keys))
}

// historyOf writes to the version store what a checkpoint supersedes of
// key: the data bucket's record (rec, nil when absent), then the log's
// earlier writes, each until the next; and the newest write when it is a
// delete, so that a read as of a time after it finds the tombstone, not a
// version it deleted.
func historyOf(w *vwriter, key, rec []byte, older []logged, ts uint64, tombstone bool) error {
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
