package mvcc

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

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

	store atomic.Pointer[fileStore] // the pipeline's access to the file
	view  atomic.Pointer[view]      // the shared read transaction, see view.go
	keys  atomic.Int64              // live keys, as committed; written by the pipeline
	// lastTS is the last commit timestamp assigned; only the commit
	// pipeline uses it (after Open). A group that failed leaves a gap: its
	// timestamps are never handed out again, so nothing that may have
	// reached the file shares one.
	lastTS uint64

	applied atomic.Uint64 // every commit up to it is in the data bucket
	// A group that writes the data bucket itself leaves the keys it
	// creates out of memory (install, in commit.go). skipTS is the commit
	// timestamp of the newest such group, set before its bbolt commit: a
	// record newer than a snapshot that memory does not hold is one of
	// those keys, created after the snapshot, only when its timestamp is
	// at or below skipTS (read.go). skipGen counts those groups, moved
	// after the new view holds one: a committer whose before-images were
	// read at an older count reads those of keys memory does not hold
	// again (freshBefores).
	skipTS  atomic.Uint64
	skipGen atomic.Uint64
	// testHookBefores, when set (by tests, before the first commit), runs
	// in each committer's goroutine after it read its before-images.
	testHookBefores func()
	wal             *wal         // the log commit groups append to (nil: read-only), see wal.go
	pending         pendingLog   // the log's transactions after "applied"
	ck              checkpointer // the background checkpoint, see checkpoint.go
	// writeMu is held by whoever writes the bbolt file, from the start of
	// its write transaction until the view is renewed: a checkpoint step,
	// and the pipeline for a group that writes the data bucket itself or a
	// spill of versions (a group that goes to the log takes none).
	writeMu  sync.Mutex
	stopped  atomic.Bool // the pipeline stopped after a failure of unknown outcome
	pipeBusy atomic.Bool // the pipeline is committing a group

	// leadMu is held by whoever commits a group: the pipeline goroutine,
	// or a lone committer that leads its own commit (tryLead). Under it:
	leadMu  sync.Mutex
	stopErr error         // set for good by a storage failure of unknown outcome
	lone    [1]*commitReq // a leader's group
	queued  atomic.Int64  // commits handed to the pipeline goroutine so far
	// groupBuf holds the records of the last group written to the data
	// bucket, and walBuf the last group's log records, for the next one
	// to reuse (commit.go).
	groupBuf, walBuf []byte

	ckMu    sync.Mutex // guards ckErr and ckErrAt
	ckErr   error      // the last checkpoint failure
	ckErrAt time.Time

	stats counters
	vac   vacuumer // vacuum and autovacuum, see autovacuum.go
	vs    vstore   // the version bucket's counters, see versionstore.go
	hist  history  // commit times and readers as of a past time, see history.go
	ages  snapAges // transactions MaxSnapshotAge may end, see snapage.go
	// sweepDone is closed when the sweep of ended contexts stops
	// (txnctx.go).
	sweepDone chan struct{}
}

// counters are the cumulative figures Stats reports.
type counters struct {
	commits   counter // bumped by every transaction's end: striped
	conflicts counter
	rollbacks counter
	batches   atomic.Uint64 // bumped by the commit pipeline alone
	throttled atomic.Uint64 // groups after which the pipeline waited for the checkpointer
}

// Stats is a snapshot of the engine's state and counters.
type Stats struct {
	// Versions counts the versions held: each live key's newest version
	// (in the file) and the older versions and tombstones kept for open
	// snapshots and the history, in memory or on disk (DeadVersions).
	Versions int64
	// Keys is the number of live keys.
	Keys int64
	// MemVersions counts the versions the in-memory index holds (see
	// package index): versions written since the oldest open snapshot and
	// the before-images they replaced. Vacuum gives them back as the
	// horizon moves; it does not grow with the data.
	MemVersions int64
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
	// LocksHeld is the number of locks held in the lock table, key and
	// range locks together, each holder of a key counted: GetForUpdate
	// locks, a locking transaction's read, write and scan (range) locks,
	// and the write locks of plain commits that wait for or meet another
	// lock (while no GetForUpdate or locking transaction holds a lock,
	// plain commits take none).
	LocksHeld int
	// LockWaiters is the number of lock waits in progress now: the
	// transactions waiting for a lock (in GetForUpdate, a locking
	// transaction's call, or Commit), each counted once unless several of
	// its goroutines wait at the same time.
	LockWaiters int
	// Deadlocks counts the deadlocks found since Open: each broke a cycle
	// of lock waiters by failing one of them with ErrDeadlock.
	Deadlocks uint64
	// SSIActive and SSIRetained count the serializable transactions SSI
	// tracks: active ones, and committed ones kept because an active one
	// overlaps them. Both return to 0 when no serializable transaction runs.
	SSIActive, SSIRetained int
	// CommitBatches counts group commits: appends to the log (or bbolt
	// write transactions, for a large group that finds the log empty),
	// each with one fsync, carrying one or more user commits
	// (Commits/CommitBatches is the average group size).
	CommitBatches uint64
	// LogWrites and LogBytes are what the log holds that the checkpointer
	// has not yet applied to the file: writes, and the bytes they take in
	// the log. Memory holds their values until then.
	LogWrites, LogBytes int64

	// DeadVersions counts the versions held that are superseded or
	// deleted (tombstones included), in memory and on disk (DiskVersions):
	// vacuum removes them once no open transaction (and no
	// HistoryRetention) needs them. Included in Versions. A version the
	// checkpoint kept as history while memory still holds it counts
	// twice until vacuum lets one go.
	DeadVersions int64
	// Horizon is the oldest snapshot an open transaction holds: versions
	// it can see are kept.
	Horizon uint64
	// HorizonAge is the age of the snapshot that holds the horizon (the
	// oldest one an open transaction reads at); zero when none is open. A
	// large value with many DeadVersions is the usual cause of bloat.
	HorizonAge time.Duration

	// OldestSnapshotAge is the age of the oldest snapshot an open
	// transaction holds (the one holding the horizon, as HorizonAge;
	// Options.MaxSnapshotAge bounds it; a read committed transaction,
	// whose statements each take a newer snapshot, counts from its last
	// statement that moved to a newer one), and what it holds: MemVersions
	// versions taking MemVersionBytes of heap (values and overhead, the figure
	// Options.VersionMemoryLimit bounds), and DiskVersions versions taking
	// DiskVersionBytes in the file's version store (spilled from memory,
	// and with Options.HistoryRetention the history kept).
	OldestSnapshotAge time.Duration
	MemVersionBytes   int64
	DiskVersions      int64
	DiskVersionBytes  int64
	// Vacuums counts finished vacuum passes, AutoVacuums those the
	// background vacuum started; VersionsVacuumed the versions they
	// removed.
	Vacuums, AutoVacuums uint64
	VersionsVacuumed     int64
	// LastVacuumError is the error of the last vacuum pass that failed,
	// autovacuum's included (nil if none has), and LastVacuumErrorTime
	// when it failed. A pass stopped by its context or by Close has not
	// failed. Options.Logger is told of each failure as it happens.
	LastVacuumError     error
	LastVacuumErrorTime time.Time

	// LastCheckpointError is the last failure to apply the commit log to
	// the data (see Options and the package documentation), and
	// LastCheckpointErrorAt when it happened; nil while none failed. No
	// commit is lost by one: the log keeps them, and the next checkpoint,
	// or the next Open, applies them.
	LastCheckpointError   error
	LastCheckpointErrorAt time.Time
}

// noteCheckpointError records a checkpoint failure for Stats.
func (db *DB) noteCheckpointError(err error) {
	db.ckMu.Lock()
	db.ckErr, db.ckErrAt = err, time.Now()
	db.ckMu.Unlock()
}

// Close waits for the commit in progress, fails commits not yet started
// with ErrClosed, and closes the file. Transactions still open fail with
// ErrClosed from then on. Calling Close again returns the first result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.closed.Store(true)
		close(db.closing)
		db.stopVacuum()
		db.stopSnapAges()
		if db.sweepDone != nil {
			<-db.sweepDone
		}
		<-db.pipelineDone
		// A leader that began before Close finishes its group; later
		// ones see closing and commit nothing.
		db.leadMu.Lock()
		db.leadMu.Unlock() //nolint:staticcheck // a barrier: waits for the group in progress
		<-db.ck.done
		if db.wal != nil && db.pending.writes.Load() > 0 {
			// Apply the log now, so that the next Open has nothing to
			// replay. A failure costs nothing: the log stays, and the next
			// Open applies it.
			_ = db.checkpointPass(^uint64(0), true)
		}
		if db.wal != nil {
			// Everything applied: the log's segments go. Not after a
			// failure of unknown outcome: the log may hold that group,
			// and the next Open applies what it holds.
			db.wal.close(db.pending.empty() && !db.stopped.Load())
		}
		db.retireView()
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

// BeginTx starts a transaction. ctx is used until the transaction ends,
// as in database/sql: it bounds every lock wait (GetForUpdate's, a locking
// transaction's reads and scans, and Commit's wait for the write locks of
// its keys), and when it ends before the transaction does, the transaction
// is rolled back: its locks are released at once (a transaction that
// holds none, a read-only one say, is rolled back at its next call, or
// within 100 ms by a background sweep if it is left without one, so that
// one abandoned on the context's end holds no snapshot), its writes are
// discarded, and its next call, Commit and Rollback included,
// fails with an error matching ErrTxnDone and ctx's error
// (context.Canceled or context.DeadlineExceeded). A ctx already done
// fails at once. A Commit that has handed its writes to the group commit
// is not stopped by ctx: it returns nil once they are durable.
func (db *DB) BeginTx(ctx context.Context, opts TxOptions) (*Txn, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	if !opts.Isolation.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrInvalidLevel, opts.Isolation)
	}
	if opts.Locking && opts.Isolation != Serializable {
		return nil, fmt.Errorf("%w: Locking is two-phase locking for Serializable, not %s", ErrInvalidLevel, opts.Isolation)
	}
	if db.opts.ReadOnly {
		opts.ReadOnly = true // every transaction of a read-only DB is one
	}
	if err := checkAsOf(opts); err != nil {
		return nil, err
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
		readOnly: opts.ReadOnly || db.opts.ReadOnly,
		locking:  opts.Locking,
	}
	tx.slot = &tx.slotRec
	// A context that can end is watched by a callback only once the
	// transaction holds locks (watchContext): registering one on every
	// Begin would take the context's own mutex, which all transactions
	// begun with one context share. Until then the end is noticed at the
	// next call, with one atomic load, or by the sweep (txnctx.go), which
	// finds the transaction through its slot.
	if ctx.Done() != nil {
		tx.ctxCanEnd = true
		tx.slotRec.Owner = tx
	}
	if opts.Isolation == Serializable {
		tx.ser = &tx.serRec
		// A locking transaction is never on a safe snapshot: it reads
		// the newest data, and SSI must see its reads (txn.SSI).
		db.ssi.Begin(tx.ser, tx.readOnly && !opts.Locking, func() uint64 {
			db.oracle.BeginSlot(tx.slot)
			return tx.slot.TS()
		}, db.oracle.Visible)
	} else {
		db.oracle.BeginSlot(tx.slot)
	}
	tx.readTS = tx.slot.TS()
	if db.opts.MaxSnapshotAge > 0 {
		tx.snapAt.Store(tx.slot.Start.UnixNano())
		db.ages.add(tx)
	}
	if !opts.AsOf.IsZero() {
		ts, err := db.asOfSnapshot(tx, opts.AsOf)
		if err != nil {
			tx.finish()
			return nil, err
		}
		tx.readTS, tx.asOf = ts, true
	}
	return tx, nil
}

// Stats returns current figures. It is cheap enough to poll.
func (db *DB) Stats() Stats {
	n, oldest := db.oracle.Active()
	garbage := db.index.Garbage()
	s := Stats{
		Keys:          db.keys.Load(),
		MemVersions:   db.index.Versions(),
		ActiveTxns:    n,
		LastCommitTS:  db.oracle.Visible(),
		Commits:       db.stats.commits.Load(),
		Conflicts:     db.stats.conflicts.Load(),
		Rollbacks:     db.stats.rollbacks.Load(),
		CommitBatches: db.stats.batches.Load(),
		LogWrites:     db.pending.writes.Load(),
		LogBytes:      db.pending.bytes.Load(),
	}
	s.LocksHeld = db.locks.Held()
	s.LockWaiters = db.locks.Waiting()
	s.Deadlocks = db.locks.Deadlocks()
	s.SSIActive, s.SSIRetained = db.ssi.Tracked()
	if !oldest.IsZero() {
		s.OldestTxnAge = time.Since(oldest)
	}
	var since time.Time
	s.Horizon, since = db.oracle.HorizonHolder()
	if !since.IsZero() {
		s.HorizonAge = time.Since(since)
		s.OldestSnapshotAge = s.HorizonAge
	}
	s.MemVersionBytes = db.index.Bytes()
	s.DiskVersions, s.DiskVersionBytes = db.vs.count.Load(), db.vs.bytes.Load()
	s.DeadVersions = garbage + s.DiskVersions
	s.Versions = s.Keys + s.DeadVersions
	db.ckMu.Lock()
	s.LastCheckpointError, s.LastCheckpointErrorAt = db.ckErr, db.ckErrAt
	db.ckMu.Unlock()
	t := db.vac.gc.Totals()
	s.Vacuums, s.AutoVacuums, s.VersionsVacuumed = t.Passes, t.AutoPasses, t.VersionsRemoved
	s.LastVacuumError, s.LastVacuumErrorTime = t.LastErr, t.LastErrTime
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
