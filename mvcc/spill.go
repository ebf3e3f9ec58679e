package mvcc

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/index"
)

// Spilling and vacuuming the version store (versionstore.go).
//
// After each commit group, when the index's heap (index.Bytes, plus
// bbolt's share for the versions on disk, see versionHeap) passes
// Options.VersionMemoryLimit, the pipeline spills until it is back under
// three quarters of it, in bbolt transactions of at most spillChunk
// bytes (and a quarter of the limit): index.PlanSpill chooses the versions, the transaction writes
// them, the new view is installed, and only then index.CompleteSpill
// takes them out of memory, so a reader that misses them in memory finds
// them in the view it takes next. Spilled records serve snapshots of this
// process only, so their bbolt transaction is no more durable than any
// other: a crash loses nothing anyone can read after a restart.
//
// A key spilled down to its newest version, which the data holds, leaves
// memory whole (index.CompleteSpill): memory does not grow with the keys
// written since the oldest snapshot either. What memory cannot give back:
// the versions not yet applied to the data bucket (at most
// Options.CheckpointBytes, the log's), and the entries of keys whose
// newest version is unapplied or a tombstone (a few hundred bytes each
// with the key; see index/memory.go).
const (
	spillChunk   = 4 << 20
	spillMaxKeys = 4096
)

// bboltPageShare divides the version bucket's bytes into the heap bbolt's
// freelist spends on them: for every page it hands out again while the
// page is in use it records the transaction that took it (for rollbacks),
// about 30 bytes per reused 4 KiB page of records; measured, 20 MiB for
// 2 GB spilled. maybeSpill counts that share against the limit, up to
// half of it, so the heap stays near Options.VersionMemoryLimit until
// some hundred times the limit has spilled; past that, bbolt's share
// grows by about 1% of what spills.
const bboltPageShare = 100

// versionHeap is the heap the version store accounts for: memory's
// versions (index.Bytes) and bbolt's share for those on disk, capped at
// half the limit so that memory always keeps room for a quarter of it.
func (db *DB) versionHeap(limit int64) int64 {
	return db.index.Bytes() + min(db.vs.bytes.Load()/bboltPageShare, limit/2)
}

// memoryLimit is the heap the version store may use.
func (o *Options) memoryLimit() int64 {
	if o.VersionMemoryLimit <= 0 {
		return 64 << 20
	}
	return o.VersionMemoryLimit
}

// maybeSpill spills while the index holds more than the limit. Called by
// the pipeline between groups. A failure leaves the versions in memory
// (nothing is lost, the heap stays over the limit) and is logged.
func (db *DB) maybeSpill() {
	limit := db.opts.memoryLimit()
	if db.versionHeap(limit) <= limit {
		return
	}
	low := limit * 3 / 4
	// A full round over the keys ends the pass even when what memory
	// holds cannot be spilled (versions not yet applied).
	rounds := db.index.Len()/spillMaxKeys + 2
	for range rounds {
		excess := db.versionHeap(limit) - low
		if excess <= 0 {
			return
		}
		// A chunk's bbolt transaction holds its records until it commits:
		// a fraction of the limit, so the heap stays near it.
		p := db.index.PlanSpill(min(excess, spillChunk, max(limit/4, 64<<10)), spillMaxKeys)
		// A key leaves memory whole only once every view a reader may
		// still read it in holds its newest version (a scan in flight
		// reads its chunk in a view taken before it asks memory).
		p.EvictUpTo = db.oracle.ViewHorizon()
		if len(p.Versions) == 0 {
			db.index.CompleteSpill(p) // only values the file holds: nothing to write
			continue
		}
		err := db.updateVersions(func(_ *bolt.Tx, w *vwriter) error {
			for _, sv := range p.Versions {
				if err := w.put(sv.Key, sv.Version, sv.Until); err != nil {
					return err
				}
			}
			return nil
		}, func() { db.index.CompleteSpill(p) })
		if err != nil {
			if db.opts.Logger != nil {
				db.opts.Logger.Error("mvkv: spilling versions to disk failed", "path", db.path, "err", err)
			}
			return
		}
	}
}

// updateVersions runs fn in a bbolt write transaction of its own, with a
// writer of the version store, taking turns with the commit groups
// (writeMu). Once it committed, the store's counters take its changes and
// after (when not nil) runs, still under writeMu.
func (db *DB) updateVersions(fn func(btx *bolt.Tx, w *vwriter) error, after func()) error {
	var w *vwriter
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	err := db.guard(func() error {
		return db.files().update(func(btx *bolt.Tx) error {
			var err error
			if w, err = newVWriter(btx, &db.vs); err != nil {
				return err
			}
			if err := fn(btx, w); err != nil {
				return err
			}
			if err := w.flush(&db.vs); err != nil {
				return err
			}
			db.retireView()
			return nil
		})
	})
	db.renewView()
	if err == nil {
		w.done(&db.vs)
		if after != nil {
			after()
		}
	}
	return err
}

// vacuumBatch bounds the records one bbolt transaction of the disk vacuum
// removes.
const vacuumDiskBatch = 10000

// vacuumDisk removes the version records no snapshot, no retention and no
// reader as of a past time needs: those the queue says were superseded at
// or below the horizon. Called by a vacuum pass (Prepare), its bbolt
// transactions taking turns with the commit groups (writeMu).
func (db *DB) vacuumDisk() error {
	if db.stopped.Load() {
		return nil // the pipeline stopped: nothing more is written
	}
	h := min(pruneHorizon{db.oracle}.Horizon(), db.historyHorizon(db.wallNow()))
	defer db.noteNextUntil()
	if due, err := db.vacuumDiskDue(h); !due || err != nil {
		return err
	}
	for {
		more := false
		err := db.updateVersions(func(btx *bolt.Tx, w *vwriter) error {
			c := w.queue.Cursor()
			n := 0
			var dead [][]byte
			for qk, qv := c.First(); qk != nil; qk, qv = c.Next() {
				if err := checkQueueEntry(qk, qv); err != nil {
					return err
				}
				if binary.BigEndian.Uint64(qk) > h {
					break
				}
				if n == vacuumDiskBatch {
					more = true
					break
				}
				n++
				dead = append(dead, qk)
			}
			for _, qk := range dead {
				vk := qk[8:]
				rec := w.versions.Get(vk)
				if until, marker, err := markerUntil(vk, rec); err != nil {
					return err
				} else if marker && until != binary.BigEndian.Uint64(qk) {
					rec = nil // a newer marker of the key: its own entry removes it
				}
				if rec != nil {
					w.count--
					w.bytes -= int64(len(vk) + len(rec))
					if err := w.versions.Delete(vk); err != nil {
						return err
					}
				}
				if err := w.queue.Delete(qk); err != nil {
					return err
				}
			}
			return db.trimClock(btx, h)
		}, nil)
		if err != nil {
			return fmt.Errorf("mvkv: vacuum of the version store %s: %w", db.path, err)
		}
		if !more {
			return nil
		}
	}
}

// vacuumDiskDue reports whether vacuumDisk has anything to do at h, so
// that a pass with nothing to remove writes nothing (a bbolt write
// transaction costs an fsync even when empty).
func (db *DB) vacuumDiskDue(h uint64) (due bool, err error) {
	v, err := db.acquireView()
	if err != nil {
		return false, err
	}
	defer v.release()
	err = db.guard(func() error {
		if q := v.tx.Bucket(vqueueBucket); q != nil {
			if k, _ := q.Cursor().First(); len(k) >= 8 && binary.BigEndian.Uint64(k) <= h {
				due = true
				return nil
			}
		}
		clock := v.tx.Bucket(clockBucket)
		if db.opts.HistoryRetention <= 0 {
			due = clock != nil || v.tx.Bucket(metaBucket).Get(historyKey) != nil
			return nil
		}
		if clock != nil {
			// Two entries at or below h: the older one can go.
			c := clock.Cursor()
			if _, v1 := c.First(); len(v1) >= 8 && binary.BigEndian.Uint64(v1) <= h {
				_, v2 := c.Next()
				due = len(v2) >= 8 && binary.BigEndian.Uint64(v2) <= h
			}
		}
		return nil
	})
	return due, err
}

// freshBefores reads again, in the group's data bucket, the before-image
// of each write whose key a spill may have changed since the committer
// read its view: a key memory holds with its newest version InFile (the
// view may predate the checkpoint that applied it), and, while the
// version store holds anything, a key memory does not hold (it may have
// been spilled out whole, its newest applied after the view). stale says
// a group that wrote the data bucket itself may have created keys after
// the view and left them out of memory (install): then every key memory
// does not hold is read again too. Called by install under the index's
// write lock.
func (db *DB) freshBefores(w index.Writer, data *bolt.Bucket, writes []write, befores []*index.Version, stale bool) error {
	spilled := db.vs.count.Load() > 0
	for i, wr := range writes {
		top, held := w.Newest(wr.key)
		switch {
		case held && top.InFile && (befores[i] == nil || befores[i].TS != top.TS):
		case !held && (spilled || stale):
		default:
			continue
		}
		rec, err := getRecord(data, wr.key, leafCheck{})
		if err != nil {
			return err
		}
		if befores[i], err = beforeImage(wr.key, rec); err != nil {
			return err
		}
	}
	return nil
}

// noteNextUntil sets the version store's nextUntil from the queue's first
// entry (see vstore).
func (db *DB) noteNextUntil() {
	v, err := db.acquireView()
	if err != nil {
		return
	}
	defer v.release()
	_ = db.guard(func() error {
		var next uint64
		if q := v.tx.Bucket(vqueueBucket); q != nil {
			if k, _ := q.Cursor().First(); len(k) >= 8 {
				next = binary.BigEndian.Uint64(k)
			}
		}
		db.writeMu.Lock()
		db.vs.nextUntil.Store(next)
		db.writeMu.Unlock()
		return nil
	})
}
