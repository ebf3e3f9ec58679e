package mvcc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/mvkv/mvkv/index"
	"github.com/mvkv/mvkv/txn"
)

// boltLockRetry is how often bbolt retries the file lock (its
// flockRetryTimeout).
const boltLockRetry = 50 * time.Millisecond

// Open opens the database at path, creating it when no file is there (a
// missing or empty file becomes a new database: Open is how a database
// comes to be). opts may be nil.
//
// A file that is not an mvkv database, or is damaged, fails with
// ErrCorrupt and is left as it was; a file held by another DB fails with
// ErrLocked after opts.LockTimeout.
//
// Open's cost does not grow with the data: it checks bbolt's meta and
// freelist pages, the meta bucket's values (checksums, and against each
// other and the log) and the top of the data tree: about 300 KB of reads
// (BenchmarkOpen), plus the freelist, which bbolt reads anyway; then it
// applies what a crash left in the log (bounded by
// Options.CheckpointBytes). Reads check what they touch; DB.Check checks
// everything.
//
// Commits are durable in a log beside the file (files named path.wal.N)
// until the checkpointer applies them to it (see the package
// documentation); Close applies everything and removes them. After a
// crash they hold acknowledged commits: the database is the file and its
// log together, and Open applies the log. Copy a database with Backup,
// which writes one file; Open refuses to create a database where the log
// of another lies without it.
//
// With opts.ReadOnly, Open creates and writes nothing: a missing file
// fails with an error matching fs.ErrNotExist, an empty one with
// ErrCorrupt; the file is opened for reading only (so the process needs
// no write permission) under a shared lock, so several processes (and
// several read-only DBs in one) may read it at once, while a read-write
// holder and read-only ones exclude each other (ErrLocked after
// LockTimeout). See Options.ReadOnly.
func Open(path string, opts *Options) (*DB, error) {
	o := opts.withDefaults()
	if path == "" {
		return nil, fmt.Errorf("mvkv: open: empty path")
	}
	if o.ReadOnly {
		o.NoAutovacuum = true
	}
	timeout := o.LockTimeout
	if timeout < 0 {
		timeout = time.Nanosecond // try the lock once
	} else {
		// bbolt retries its lock every boltLockRetry and gives up once
		// less than that is left of its timeout, so up to boltLockRetry
		// early (at once for a timeout of boltLockRetry or less): the
		// extra retry makes it wait LockTimeout, as documented.
		timeout += boltLockRetry
	}
	walks, err := checkFile(path)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if !o.ReadOnly && (errors.Is(err, fs.ErrNotExist) || err == nil && fi.Size() == 0) {
		// A new database must not take the log of one that was here:
		// Open would apply its commits to the new one.
		if segs, serr := walSegments(path); serr == nil && len(segs) > 0 {
			return nil, fmt.Errorf("%w: %s: no database there, but the log of one lies beside it (%s): put the database back, or move its log away", ErrCorrupt, path, segName(path, segs[0]))
		}
	}
	switch {
	case o.ReadOnly && err != nil:
		return nil, fmt.Errorf("mvkv: open read-only: %w", err)
	case o.ReadOnly && fi.Size() == 0:
		return nil, fmt.Errorf("%w: %s: an empty file, not a database (a read-only open creates nothing)", ErrCorrupt, path)
	case errors.Is(err, fs.ErrNotExist):
		if err := createDB(path, o); err != nil {
			return nil, fmt.Errorf("mvkv: create %s: %w", path, err)
		}
	}
	wasEmpty := err == nil && fi.Size() == 0
	if walks && !o.ReadOnly { // a read-only bbolt open walks nothing
		if err := checkPages(path, timeout, o.LockTimeout); err != nil {
			return nil, err
		}
	}
	bdb, err := openBolt(path, &bolt.Options{
		Timeout:         timeout,
		NoSync:          o.NoSync,
		ReadOnly:        o.ReadOnly,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: o.InitialMmapSize,
	})
	if err != nil {
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, lockedError(path, o.LockTimeout)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch),
			errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrInvalidMapping):
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
		}
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Path == path {
			return nil, fmt.Errorf("mvkv: %w", err) // it names the path already
		}
		return nil, fmt.Errorf("mvkv: open %s: %w", path, err)
	}
	db := &DB{
		path:         path,
		opts:         o,
		bolt:         bdb,
		index:        index.New(),
		ssi:          txn.NewSSI(),
		locks:        txn.NewLockTable(),
		closing:      make(chan struct{}),
		commitCh:     make(chan *commitReq, o.MaxBatch),
		pipelineDone: make(chan struct{}),
	}
	var fs fileStore = boltStore{bdb}
	db.store.Store(&fs)
	if !o.ReadOnly {
		db.wal = &wal{path: path, noSync: o.NoSync, segBytes: max(int64(o.CheckpointBytes), 64<<10), next: 1}
	}
	lastTS, err := db.load(wasEmpty)
	if err != nil {
		// A replay's checkpoint installs a view: its read transaction
		// would make bbolt's Close wait forever.
		db.retireView()
		_ = bdb.Close()
		return nil, err
	}
	if err := db.startHistory(lastTS); err != nil {
		db.retireView()
		_ = bdb.Close()
		return nil, fmt.Errorf("mvkv: open %s: history: %w", path, err)
	}
	db.index.SetApplied(db.applied.Load())
	db.oracle = txn.NewOracle(lastTS)
	db.lastTS = lastTS
	db.oracle.SetApplied(db.applied.Load())
	db.renewView()
	if o.ReadOnly {
		close(db.pipelineDone) // nothing to commit: no pipeline
	} else {
		go db.runCommits()
	}
	db.startVacuum()
	db.startSnapAges()
	db.startContextSweep()
	db.startCheckpointer()
	return db, nil
}

// metaValues are the meta bucket's numbers (layout.go).
type metaValues struct {
	ts, applied, keys uint64
}

// load checks the file is an mvkv database (initializing a new one) and
// reads the last commit timestamp and the key count: no snapshot survives a
// restart, so there is nothing else to rebuild, and Open costs the same
// whatever the size of the data. A file of format "mvkv/2" or "mvkv/3" is upgraded
// (read-only: read as it is). What a crash left in the log is applied
// (read-only: loaded into memory).
//
// wasEmpty says the file was empty (zero bytes) before Open: bbolt has
// just initialized it, and mvkv's buckets are to be created.
func (db *DB) load(wasEmpty bool) (ts uint64, err error) {
	fresh, replay, old, v3 := false, false, false, false
	var mv metaValues
	err = db.guard(func() error {
		return db.bolt.View(func(btx *bolt.Tx) error {
			meta := btx.Bucket(metaBucket)
			if meta == nil {
				empty := true
				_ = btx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
				switch {
				case !empty:
					return fmt.Errorf("%w: %s: a bbolt file of another application", ErrCorrupt, db.path)
				case !wasEmpty:
					// A new database is created complete (publish.go) or
					// in an empty file: an empty bbolt database that was
					// there before is someone else's, or a creation in an
					// empty file that a crash cut short. Either way not
					// ours to fill.
					return fmt.Errorf("%w: %s: an empty bbolt database, not an mvkv one (remove it to create a new database there)", ErrCorrupt, db.path)
				}
				fresh = true
				return nil
			}
			switch f := meta.Get(formatKey); {
			case string(f) == "mvkv/1":
				return fmt.Errorf("%w: %s: format %q (versions logged by commit timestamp) is not readable by this version, which reads %q: open it with the release that wrote it and copy the data over", ErrCorrupt, db.path, f, formatValue)
			case string(f) == string(format2):
				old = true
			case string(f) == string(format3):
				v3 = true
			case string(f) != string(formatValue):
				return fmt.Errorf("%w: %s: unknown format %q", ErrCorrupt, db.path, f)
			}
			data, log := btx.Bucket(dataBucket), btx.Bucket(logBucket)
			if data == nil || log == nil {
				return fmt.Errorf("%w: %s: damaged meta bucket", ErrCorrupt, db.path)
			}
			var err error
			if mv, err = readMetaValues(meta, old); err == nil {
				err = checkMeta(mv, log, fileSize(db.path))
			}
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrCorrupt, db.path, err)
			}
			// The version store's trees, where there is one, each within
			// its own budget: a file with history or spilled versions
			// reads up to three times as much more at Open.
			trees := [][]uint64{{uint64(log.Root()), uint64(data.Root())}}
			for _, name := range [][]byte{versionsBucket, vqueueBucket, clockBucket} {
				if b := btx.Bucket(name); b != nil {
					trees = append(trees, []uint64{uint64(b.Root())})
				}
			}
			if err := checkTrees(db.path, trees...); err != nil {
				return fmt.Errorf("%w: %s: %v", ErrCorrupt, db.path, err)
			}
			// Before a replay's checkpoint adds to them.
			if err := db.vs.load(meta); err != nil {
				return fmt.Errorf("%w: %s: %w", ErrCorrupt, db.path, err)
			}
			if n := db.vs.count.Load(); n > 0 && btx.Bucket(versionsBucket) == nil {
				// A damaged bucket directory can hide a bucket: reads
				// would answer "no older version" for every key.
				return fmt.Errorf("%w: %s: the meta values count %d versions on disk, and there is no version bucket", ErrCorrupt, db.path, n)
			}
			db.applied.Store(mv.applied)
			db.hist.last = lastStamp(btx)
			k, _ := log.Cursor().First()
			replay = k != nil
			return nil
		})
	})
	switch {
	case err != nil:
		return 0, err
	case fresh && db.opts.ReadOnly:
		return 0, fmt.Errorf("%w: %s: an empty bbolt database, not an mvkv one (a read-only open creates nothing)", ErrCorrupt, db.path)
	case fresh:
		if err := db.bolt.Update(initLayout); err != nil {
			return 0, fmt.Errorf("mvkv: initialize %s: %w", db.path, err)
		}
		return 0, nil
	}
	if (old || v3) && !db.opts.ReadOnly {
		if err := db.upgrade(mv, old); err != nil {
			return 0, err
		}
	}
	db.keys.Store(int64(mv.keys))
	// What the logs hold after "applied": the log bucket's writes (a file
	// of format "mvkv/3" that a crash left so), then the log's.
	var txns []loggedTxn
	if replay {
		if txns, err = db.readLogBucket(); err != nil {
			return 0, err
		}
	}
	wc, err := readWAL(db.path, mv.applied)
	if err != nil {
		return 0, err
	}
	if len(txns) > 0 && len(wc.txns) > 0 && wc.txns[0].ts <= txns[len(txns)-1].ts {
		return 0, fmt.Errorf("%w: %s: the log's commit %d is not after the log bucket's %d", ErrCorrupt, db.path, wc.txns[0].ts, txns[len(txns)-1].ts)
	}
	txns = append(txns, wc.txns...)
	db.hist.last = max(db.hist.last, wc.stamp)
	switch {
	case len(txns) > 0 && db.opts.ReadOnly:
		// Nothing may be written: the log's commits go to memory, as
		// commits not yet applied do.
		if err := db.installLogged(txns); err != nil {
			return 0, err
		}
		db.pending.add(txns...) // never applied: for the clock and checks
	case len(txns) > 0:
		// A crash left commits in the log: apply them before anything else.
		db.pending.add(txns...)
		db.ck.clearBucket = replay
		if err := db.checkpointPass(^uint64(0), true); err != nil {
			return 0, err
		}
		err = db.guard(func() error {
			return db.bolt.View(func(btx *bolt.Tx) error {
				keys, err := getMeta(btx.Bucket(metaBucket), keysKey)
				db.keys.Store(int64(keys))
				return err
			})
		})
		if err != nil {
			return 0, err
		}
	}
	if !db.opts.ReadOnly && len(wc.seqs) > 0 {
		// Every commit in the log is applied now, synced: its segments go.
		for _, seq := range wc.seqs {
			db.wal.segs = append(db.wal.segs, walSeg{seq: seq})
		}
		if err := db.wal.removeSegments(); err != nil {
			return 0, fmt.Errorf("mvkv: open %s: remove the applied log: %w", db.path, err)
		}
		db.wal.next = wc.seqs[len(wc.seqs)-1] + 1
	}
	if !db.opts.ReadOnly {
		// A spare segment a crash left holds nothing (walspare.go).
		if err := removeSpare(db.path); err != nil {
			return 0, fmt.Errorf("mvkv: open %s: remove the spare log segment: %w", db.path, err)
		}
		// The first segment too is made ahead of need.
		db.wal.mu.Lock()
		db.wal.prepareSpare(true)
		db.wal.mu.Unlock()
	}
	return max(mv.ts, wc.last), nil
}

// readMetaValues reads the meta bucket's numbers; old: format "mvkv/2",
// whose values carry no checksum.
func readMetaValues(meta *bolt.Bucket, old bool) (mv metaValues, err error) {
	if old {
		b, a, k := meta.Get(tsKey), meta.Get(appliedKey), meta.Get(keysKey)
		if len(b) != 8 || len(a) != 8 || len(k) != 8 {
			return mv, fmt.Errorf("damaged meta bucket")
		}
		return metaValues{ts: binary.BigEndian.Uint64(b), applied: binary.BigEndian.Uint64(a), keys: binary.BigEndian.Uint64(k)}, nil
	}
	if mv.ts, err = getMeta(meta, tsKey); err != nil {
		return mv, err
	}
	if mv.applied, err = getMeta(meta, appliedKey); err != nil {
		return mv, err
	}
	mv.keys, err = getMeta(meta, keysKey)
	return mv, err
}

// minKeyBytes is the least a key takes in a data leaf page: a leaf
// element, a key of one byte and a record with an empty value.
const minKeyBytes = 16 + 1 + recordHeader

// checkMeta checks the meta values against each other and against what
// the file holds, at a cost that does not depend on the data: every
// commit up to "applied" is in the data bucket and every later one in
// the log, so the log, when not empty, holds exactly the commits after
// "applied" up to "ts", and when empty, "applied" is "ts"; "keys" fits in
// the file.
func checkMeta(mv metaValues, log *bolt.Bucket, size int64) error {
	if mv.applied > mv.ts {
		return fmt.Errorf("applied mark %d after the last commit %d", mv.applied, mv.ts)
	}
	c := log.Cursor()
	first, _ := c.First()
	last, _ := c.Last()
	switch {
	case first == nil && mv.applied != mv.ts:
		return fmt.Errorf("empty log, but applied mark %d before the last commit %d", mv.applied, mv.ts)
	case first == nil:
	case len(first) != revSize || len(last) != revSize:
		return fmt.Errorf("a logged write named %x", first)
	case binary.BigEndian.Uint64(first) <= mv.applied:
		return fmt.Errorf("the log holds commit %d, at or before the applied mark %d", binary.BigEndian.Uint64(first), mv.applied)
	case binary.BigEndian.Uint64(last) > mv.ts:
		return fmt.Errorf("the log holds commit %d, after the last commit %d", binary.BigEndian.Uint64(last), mv.ts)
	}
	if mv.keys > uint64(size)/minKeyBytes {
		return fmt.Errorf("%d keys do not fit in a file of %d bytes", mv.keys, size)
	}
	return nil
}

// upgrade marks a file of format "mvkv/3" (the same layout, but no
// write-ahead log: an older release that opened a file of this one would
// not apply its log) or "mvkv/2" (whose meta values get their checksums)
// as "mvkv/4", in one bbolt transaction (a crash leaves one format or the
// other, whole).
func (db *DB) upgrade(mv metaValues, old bool) error {
	from := format3
	if old {
		from = format2
	}
	err := db.guard(func() error {
		return db.bolt.Update(func(btx *bolt.Tx) error {
			meta := btx.Bucket(metaBucket)
			for _, v := range []struct {
				name []byte
				v    uint64
			}{{tsKey, mv.ts}, {appliedKey, mv.applied}, {keysKey, mv.keys}} {
				if err := putMeta(meta, v.name, v.v); err != nil {
					return err
				}
			}
			return meta.Put(formatKey, formatValue)
		})
	})
	if err != nil {
		return fmt.Errorf("mvkv: upgrade %s from format %q: %w", db.path, from, err)
	}
	return nil
}

// readLogBucket reads the log bucket's writes, by transaction, with copies
// of their keys and values.
func (db *DB) readLogBucket() (txns []loggedTxn, err error) {
	err = db.guard(func() error {
		return db.bolt.View(func(btx *bolt.Tx) error {
			c := btx.Bucket(logBucket).Cursor()
			for rev, b := c.First(); rev != nil; rev, b = c.Next() {
				ts, key, value, tomb, err := decodeLogged(rev, b)
				if err != nil {
					return err
				}
				n := len(txns)
				switch {
				case n > 0 && ts < txns[n-1].ts:
					return fmt.Errorf("%w: the log goes back from ts %d to %d", ErrCorrupt, txns[n-1].ts, ts)
				case n == 0 || ts > txns[n-1].ts:
					txns = append(txns, loggedTxn{ts: ts})
					n++
				}
				t := &txns[n-1]
				t.writes = append(t.writes, write{key: bytes.Clone(key), value: bytes.Clone(value), tombstone: tomb})
				t.size += len(rev) + len(b)
			}
			return nil
		})
	})
	return txns, err
}

// installLogged installs the log's transactions in the index, as the
// commit pipeline installs a commit's, for a read-only DB, which cannot
// apply them to the data bucket. The log is bounded, so is this.
func (db *DB) installLogged(txns []loggedTxn) error {
	var keys int64
	err := db.guard(func() error {
		return db.bolt.View(func(btx *bolt.Tx) error {
			data := btx.Bucket(dataBucket)
			lc := newLeafCheck(db.bolt, data) // a read transaction: its pages are the mapping's
			for _, t := range txns {
				for i, lw := range t.writes {
					key, tomb := lw.key, lw.tombstone
					var held bool
					db.index.Write(func(w index.Writer) { _, held = w.Newest(key) })
					var before *index.Version
					if !held {
						rec, err := getRecord(data, key, lc)
						if err != nil {
							return err
						}
						if before, err = beforeImage(key, rec); err != nil {
							return err
						}
					}
					v := index.Version{TS: t.ts, Seq: uint32(i), Tombstone: tomb, Value: lw.value}
					var err error
					db.index.Write(func(w index.Writer) {
						existed := before != nil
						if top, held := w.Newest(key); held {
							existed = !top.Tombstone
						}
						switch {
						case existed && tomb:
							keys--
						case !existed && !tomb:
							keys++
						}
						err = w.Install(key, before, v)
					})
					if err != nil {
						return fmt.Errorf("%w: %s: %w", ErrCorrupt, db.path, err)
					}
				}
			}
			return nil
		})
	})
	db.keys.Add(keys)
	return err
}
