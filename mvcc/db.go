package mvcc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/mvkv/mvkv/index"
	"github.com/mvkv/mvkv/txn"
)

// DB is an open mvkv database. It is safe for concurrent use by many
// goroutines; each transaction belongs to one goroutine at a time.
type DB struct {
	path   string
	opts   Options
	bolt   *bolt.DB
	index  *index.Index
	oracle *txn.Oracle
	ssi    *txn.SSI
	locks  *txn.LockTable
	txnIDs atomic.Uint64 // owner IDs for the lock table

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	closing   chan struct{} // closed when Close starts

	commitCh     chan *commitReq
	pipelineDone chan struct{} // closed when the commit pipeline has exited

	stats counters
}

// counters are the cumulative figures Stats reports.
type counters struct {
	commits   atomic.Uint64
	conflicts atomic.Uint64
	rollbacks atomic.Uint64
	batches   atomic.Uint64
}

// Stats is a snapshot of the engine's state and counters.
type Stats struct {
	// Versions held in memory (and on disk), tombstones included.
	Versions int64
	// Keys is the number of keys with at least one version.
	Keys int64
	// ActiveTxns is the number of open transactions.
	ActiveTxns int
	// OldestTxnAge is how long the oldest open transaction has been open:
	// it holds the vacuum horizon back. Zero when none is open.
	OldestTxnAge time.Duration
	// LastCommitTS is the newest commit timestamp.
	LastCommitTS uint64
	// Commits, Conflicts and Rollbacks count transactions since Open.
	// Commits include read-only ones.
	Commits, Conflicts, Rollbacks uint64
	// LocksHeld is the number of GetForUpdate locks held.
	LocksHeld int
	// SSIActive and SSIRetained count the serializable transactions SSI
	// tracks: active ones, and committed ones kept because an active one
	// overlaps them. Both return to 0 when no serializable transaction runs.
	SSIActive, SSIRetained int
	// CommitBatches counts group commits: bbolt write transactions, each
	// carrying one or more user commits (Commits/CommitBatches is the
	// average group size).
	CommitBatches uint64
}

// Open opens or creates the database at path. opts may be nil.
//
// A missing or empty file becomes a new database. A file that is not an
// mvkv database, or is damaged, fails with ErrCorrupt and is left as it
// was; a file held by another DB fails with ErrLocked after
// opts.LockTimeout.
func Open(path string, opts *Options) (*DB, error) {
	o := opts.withDefaults()
	timeout := o.LockTimeout
	if timeout < 0 {
		timeout = time.Nanosecond // try the lock once
	}
	if err := checkFile(path); err != nil {
		return nil, err
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         timeout,
		NoSync:          o.NoSync,
		NoFreelistSync:  true, // the freelist is rebuilt at open; commits write less
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: o.InitialMmapSize,
	})
	if err != nil {
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("%w: %s (waited %v)", ErrLocked, path, o.LockTimeout)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch),
			errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrInvalidMapping):
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
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
	lastTS, err := db.load()
	if err != nil {
		_ = bdb.Close()
		return nil, err
	}
	db.oracle = txn.NewOracle(lastTS)
	go db.runCommits()
	return db, nil
}

// load checks the file is an mvkv database (initializing a new one) and
// rebuilds the index from it. It turns a fault reading a damaged or
// truncated mapping into ErrCorrupt instead of a crash.
func (db *DB) load() (ts uint64, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrCorrupt, db.path, r)
		}
	}()
	fresh := false
	err = db.bolt.View(func(btx *bolt.Tx) error {
		meta := btx.Bucket(metaBucket)
		if meta == nil {
			empty := true
			_ = btx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if !empty {
				return fmt.Errorf("%w: %s: a bbolt file of another application", ErrCorrupt, db.path)
			}
			fresh = true
			return nil
		}
		if f := meta.Get(formatKey); string(f) != string(formatValue) {
			return fmt.Errorf("%w: %s: unknown format %q", ErrCorrupt, db.path, f)
		}
		var err error
		if ts, err = recoverIndex(btx, db.index); err != nil {
			return fmt.Errorf("mvkv: open %s: %w", db.path, err)
		}
		return nil
	})
	if err != nil || !fresh {
		return ts, err
	}
	err = db.bolt.Update(func(btx *bolt.Tx) error {
		meta, err := btx.CreateBucket(metaBucket)
		if err != nil {
			return err
		}
		if _, err := btx.CreateBucket(versionsBucket); err != nil {
			return err
		}
		if err := meta.Put(formatKey, formatValue); err != nil {
			return err
		}
		return meta.Put(tsKey, make([]byte, 8))
	})
	if err != nil {
		return 0, fmt.Errorf("mvkv: initialize %s: %w", db.path, err)
	}
	return 0, nil
}

// Close waits for the commit in progress, fails commits not yet started
// with ErrClosed, and closes the file. Transactions still open fail with
// ErrClosed from then on. Calling Close again returns the first result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.closed.Store(true)
		close(db.closing)
		<-db.pipelineDone
		db.closeErr = db.bolt.Close()
	})
	return db.closeErr
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Begin starts a read-write transaction at the given level.
func (db *DB) Begin(level Level) (*Txn, error) {
	return db.BeginTx(context.Background(), TxOptions{Isolation: level})
}

// BeginTx starts a transaction. ctx bounds the lock waits of GetForUpdate;
// a ctx already done fails at once.
func (db *DB) BeginTx(ctx context.Context, opts TxOptions) (*Txn, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	if !opts.Isolation.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrInvalidLevel, opts.Isolation)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tx := &Txn{
		db:       db,
		ctx:      ctx,
		level:    opts.Isolation,
		readOnly: opts.ReadOnly,
	}
	if opts.Isolation == Serializable {
		tx.ser = &tx.serRec
		db.ssi.Begin(tx.ser, opts.ReadOnly, func() uint64 {
			tx.slot = db.oracle.Begin()
			return tx.slot.TS()
		})
	} else {
		tx.slot = db.oracle.Begin()
	}
	tx.readTS = tx.slot.TS()
	return tx, nil
}

// Stats returns current figures. It is cheap enough to poll.
func (db *DB) Stats() Stats {
	n, oldest := db.oracle.Active()
	s := Stats{
		Versions:      db.index.Versions(),
		Keys:          int64(db.index.Len()),
		ActiveTxns:    n,
		LastCommitTS:  db.oracle.Visible(),
		Commits:       db.stats.commits.Load(),
		Conflicts:     db.stats.conflicts.Load(),
		Rollbacks:     db.stats.rollbacks.Load(),
		CommitBatches: db.stats.batches.Load(),
	}
	s.LocksHeld = db.locks.Held()
	s.SSIActive, s.SSIRetained = db.ssi.Tracked()
	if !oldest.IsZero() {
		s.OldestTxnAge = time.Since(oldest)
	}
	return s
}

// fileSize is used by tests and stats.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
