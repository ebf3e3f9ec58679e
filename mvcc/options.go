package mvcc

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/mvkv/mvkv/txn"
)

// Level is a transaction isolation level: ReadCommitted, Snapshot or
// Serializable. See the package documentation for what each guarantees.
//
// The zero Level is ReadCommitted, the weakest: Update(ctx, 0, fn) and the
// zero TxOptions run at it, where two transactions that read and then
// write the same key both commit and one write is lost. Name the level
// you need.
type Level = txn.Level

// The three isolation levels.
const (
	ReadCommitted = txn.ReadCommitted
	Snapshot      = txn.Snapshot
	Serializable  = txn.Serializable
)

// ParseLevel returns the level a name stands for. It accepts the names
// String gives ("read-committed", "snapshot", "serializable"), the
// synonyms "repeatable-read" (PostgreSQL's name for Snapshot's guarantee)
// and the abbreviations "rc", "si", "rr" and "ssi", in any case, with '_'
// or ' ' in place of '-' and surrounding spaces ignored. Any other name
// fails with ErrInvalidLevel.
func ParseLevel(s string) (Level, error) {
	l, err := txn.ParseLevel(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidLevel, err)
	}
	return l, nil
}

// Options configure a DB. The zero value (or nil) is production-safe:
// every commit is fsynced before Commit returns.
type Options struct {
	// NoSync skips fsync on commit. A crash may then lose recent commits
	// (never part of one). For tests and benchmarks. Default false.
	NoSync bool

	// LockTimeout is how long Open waits for another holder of the file
	// (another process, or another DB in this one) before failing with
	// ErrLocked. Default 1s; negative means do not wait at all.
	LockTimeout time.Duration

	// MaxUpdateRetries bounds how many times DB.Update reruns its function
	// after a conflict. Default 64; negative means no retries.
	MaxUpdateRetries int

	// InitialMmapSize is the size bbolt maps the file with at start, so that
	// growth rarely forces a remap. Default 256 MiB (address space only).
	InitialMmapSize int

	// MaxBatch bounds how many transactions one group commit writes in a
	// single bbolt transaction. Default 1024.
	MaxBatch int

	// NoAutovacuum turns off the background vacuum; DB.Vacuum still works.
	// Default false: autovacuum runs.
	NoAutovacuum bool

	// AutovacuumThreshold and AutovacuumScaleFactor decide when the
	// background vacuum starts a pass: when the dead versions it could
	// remove reach Threshold + ScaleFactor * live versions (PostgreSQL's
	// rule). Defaults 1000 and 0.2; negative means 0. Lower values keep
	// memory and the file tighter at the cost of more, smaller passes.
	AutovacuumThreshold   int64
	AutovacuumScaleFactor float64

	// AutovacuumInterval is how often the background vacuum checks whether
	// a pass is due, and, while autovacuum runs, how often the checkpointer
	// applies whatever the log holds. Default 1s. A check is cheap: O(log dead versions)
	// and one scan of the open transactions.
	AutovacuumInterval time.Duration

	// VacuumBatchSize is how many versions a vacuum removes per batch: one
	// short hold of the index lock. A batch frees memory only and never
	// writes the file (a pass writes it once, first: the checkpoint it
	// asks for; see DB.Vacuum). Default 1000. Commits and reads arriving
	// during a batch wait for it, so larger batches vacuum faster but add
	// latency.
	VacuumBatchSize int

	// CheckpointBytes is how much the commit log may hold before the
	// background checkpointer starts applying it to the data (see the
	// package documentation): larger means fewer checkpoints, more memory
	// (the log's versions are held in memory until applied) and a longer
	// Open after a crash. Default 8 MiB, and at most 16,384 writes. When
	// commits outrun the checkpointer, the log grows to four times these
	// thresholds and no further: commits then wait for it (backpressure),
	// so the memory holding unapplied versions stays bounded. It is also
	// the size of the log's segment files (at least 64 KiB), each removed
	// once applied.
	CheckpointBytes int

	// VacuumPause is how long a vacuum sleeps between batches, leaving the
	// index lock to commits and readers. Default (zero) adaptive: as long
	// as the batch took, at most 10ms, so vacuum holds that lock at most
	// about half of the time. Negative means no pause.
	VacuumPause time.Duration

	// VersionMemoryLimit bounds the heap the version store keeps, in
	// bytes: the versions written since the oldest open snapshot began,
	// values included. Past it, the older versions that snapshots still
	// need go to disk, to a version bucket in the same file, and the
	// snapshots that need them read them there; vacuum removes them once
	// no snapshot (and no HistoryRetention) needs them. Default (zero)
	// 64 MiB. What memory keeps beyond it: the commits not yet applied to
	// the data (up to four times CheckpointBytes), a few hundred bytes
	// per key whose newest version is one of those or a tombstone, and
	// past some hundred times the limit spilled to disk, about 1% of what
	// spills: bbolt's freelist records which transaction took each page it
	// reuses (20 MiB for 2 GB measured), and the version store counts
	// that share against the limit only up to half of it. Lower values
	// bound memory tighter; reads by old snapshots then go to disk more
	// often. Negative means the default.
	VersionMemoryLimit int64

	// MaxSnapshotAge ends a transaction whose snapshot is older than this:
	// its next call fails with ErrSnapshotTooOld, and from then on it no
	// longer holds versions back from vacuum (a read committed
	// transaction's snapshot is its last statement's). Default (zero): no
	// limit, and a forgotten transaction keeps what it can see (on disk,
	// past VersionMemoryLimit) until it ends. Negative means no limit.
	MaxSnapshotAge time.Duration

	// HistoryRetention keeps every version for at least this long after
	// a newer one replaced it, on disk, so that a transaction begun with
	// TxOptions.AsOf reads the database as it was at any time within it,
	// after a reopen too. Each commit group records its wall-clock time.
	// History begins when a DB with a retention opens the file; opening
	// it for writing without one drops the history kept (its times then
	// fail with ErrHistoryGone). Default (zero): no history; AsOf then
	// reads only the present (any time since the last commit). The
	// cost: the versions of that long stay in the file, and each
	// checkpoint writes the versions it replaces. Negative means zero.
	HistoryRetention time.Duration

	// ReadOnly opens the database for reading only, with bbolt's
	// read-only mode: the file is opened read-only (the process needs no
	// permission to write it) under a shared lock, so several processes
	// may read one file at once; a read-write DB and read-only ones
	// exclude each other. Nothing is created or written: transactions
	// begin as read-only ones (their writes fail with ErrReadOnly),
	// Update and Vacuum fail with ErrReadOnly, no autovacuum runs, and
	// what a crash left in the commit log is loaded into memory instead
	// of applied. Backup works, unless that log holds commits (it cannot
	// copy them). A file of an older format is read as it is, not
	// upgraded. Default false.
	ReadOnly bool

	// Logger, when set, is told of failures that no caller sees or that
	// an operator should: a vacuum pass that failed (autovacuum's
	// included; Stats.LastVacuumError keeps the last one) and a group
	// commit the file refused (a full disk, an I/O error). Default nil:
	// silent.
	Logger *slog.Logger
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.LockTimeout == 0 {
		r.LockTimeout = time.Second
	}
	if r.MaxUpdateRetries == 0 {
		r.MaxUpdateRetries = 64
	}
	if r.InitialMmapSize <= 0 {
		r.InitialMmapSize = 256 << 20
	}
	if r.MaxBatch <= 0 {
		r.MaxBatch = 1024
	}
	if r.CheckpointBytes <= 0 {
		r.CheckpointBytes = 8 << 20
	}
	return r
}

// TxOptions choose a transaction's isolation level, whether it may write,
// and how Serializable is enforced.
//
// The zero TxOptions is a read-write transaction at ReadCommitted (the
// zero Level), as in database/sql, where lost updates are possible: name
// the level you need. BeginTx starts one; UpdateTx and ViewTx run one with
// Update's retries. As in database/sql, the context given to BeginTx is
// the transaction's until it ends: its end rolls the transaction back.
//
// TxOptions{Isolation: Serializable, ReadOnly: true} is the serializable
// read-only transaction (ViewTx with Isolation Serializable runs one):
// unlike View (Snapshot), it never observes the
// read-only anomaly.
type TxOptions struct {
	// Isolation is the level; the zero value is ReadCommitted (lost
	// updates possible).
	Isolation Level
	// ReadOnly transactions reject writes with ErrReadOnly. Under
	// Serializable they may still fail with ErrConflict (rarely).
	ReadOnly bool
	// Locking makes a Serializable transaction serializable by strict
	// two-phase locking instead of SSI: Get takes a shared lock on the
	// key, Scan a shared lock on the range it covers (so an insert into
	// it waits), GetForUpdate, Put and Delete an exclusive lock, all held
	// until the transaction ends. Each read returns the newest committed
	// data under its lock. Conflicts then show up as waits and deadlocks
	// (ErrDeadlock, also ErrConflict), not as serialization failures.
	// Default false (SSI). With any other level BeginTx fails with
	// ErrInvalidLevel. The cost: readers block writers and writers
	// readers; see the package documentation, "Locks".
	Locking bool
	// AsOf, when set, makes a read-only transaction read the database as
	// it was at that time: at the newest commit at or before it (see
	// Options.HistoryRetention). Its reads all see that one snapshot, at
	// ReadCommitted (the zero Isolation) and at Snapshot alike. It needs
	// ReadOnly (else ErrReadOnly; a DB opened with Options.ReadOnly
	// implies it) and is refused with Serializable or
	// Locking (ErrInvalidLevel): SSI decides the serial order of
	// transactions as they run, and a past snapshot may show a state no
	// serial order had (the read-only anomaly). A time before the history
	// kept fails with ErrHistoryGone.
	AsOf time.Time
}
