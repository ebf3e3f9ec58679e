package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mvkv/mvkv/bench/internal/pgserver"
	"github.com/mvkv/mvkv/mvcc"
)

// ErrNotFound is what Tx.Get returns for an absent key, whatever the engine.
var ErrNotFound = mvcc.ErrNotFound

// ErrUnknown is returned by Open for a name it does not know.
var ErrUnknown = errors.New("bench: unknown engine")

// ErrUnsupported marks a run an engine cannot express (a level it lacks).
var ErrUnsupported = errors.New("bench: engine cannot express this")

// Engine is the small interface every store under test implements: mvkv
// and its peers run the same workloads through it.
type Engine interface {
	// Name is the engine's name as the CLI spells it.
	Name() string
	// Levels are the isolation levels the engine can express. Runs at
	// other levels are skipped and reported with Note.
	Levels() []mvcc.Level
	// Note says how the engine's transactions map onto the levels.
	Note() string
	// Txn runs fn in one transaction attempt at level and commits it. It
	// does not retry: an abort comes back as an error for which Abort
	// gives a cause. readOnly transactions need not commit anything.
	Txn(level mvcc.Level, readOnly bool, fn func(Tx) error) error
	// Abort returns the cause of an aborted transaction ("write-write",
	// "serialization", "deadlock", ...) or "" when err is not an abort.
	Abort(err error) string
	// Close releases the engine; the directory is the caller's.
	Close() error
}

// Tx is what a workload sees of a transaction.
type Tx interface {
	// Get returns key's value or ErrNotFound. The slice is the caller's.
	Get(key []byte) ([]byte, error)
	Put(key, value []byte) error
	Delete(key []byte) error
	// Scan calls fn for the keys in [start, end) in order (nil: unbounded)
	// until fn returns false or limit keys were seen (limit <= 0: no limit).
	// The key and value are valid only until fn returns: each engine lends
	// them the way it can (bbolt's cursor, Badger's Item.Value, mvkv's
	// ScanFunc), and a workload copies what it keeps.
	Scan(start, end []byte, limit int, fn func(key, value []byte) bool) error
}

// Versioner is implemented by engines that can say how many versions they
// hold (mvkv); the runner samples it during a run.
type Versioner interface {
	Versions() int64
}

// Vacuumer is implemented by engines that can collect old versions on
// demand; the runner calls it after a run and reports what it removed.
type Vacuumer interface {
	Vacuum() (removed int64, err error)
}

// Options are the settings every engine maps onto its own.
type Options struct {
	// Durable makes every commit wait for fsync (mvkv: !NoSync; bbolt:
	// !NoSync; Badger: SyncWrites). Without it no engine fsyncs per
	// commit.
	Durable bool
	// MmapSize is the initial memory map of the engines that map their
	// file (mvkv: Options.InitialMmapSize; bbolt: 256 MiB unless set):
	// a large dataset maps at once instead of remapping as it grows.
	MmapSize int
}

// Names lists the engine names Open accepts, mvkv first.
func Names() []string {
	return []string{"mvkv", "mvkv-locking", "bbolt", "bbolt-batch", "badger", "postgres", "etcd", "noop"}
}

// Defaults are the engines a run uses when it names none: the embedded
// ones. postgres and etcd start servers and run when named; noop, the
// harness's ceiling, runs when named and in every core sweep (-cpu).
func Defaults() []string {
	return []string{"mvkv", "mvkv-locking", "bbolt", "bbolt-batch", "badger"}
}

// Open opens engine name with its files under dir (which must exist
// and should be empty).
func Open(name, dir string, opts Options) (Engine, error) {
	switch strings.ToLower(name) {
	case "mvkv":
		return openMVKV(dir, opts, false)
	case "mvkv-locking":
		return openMVKV(dir, opts, true)
	case "bbolt":
		return openBolt(dir, opts, false)
	case "bbolt-batch":
		return openBolt(dir, opts, true)
	case "badger":
		return openBadger(dir, opts)
	case "postgres":
		return openPostgres(opts)
	case "etcd":
		return openEtcd(dir, opts)
	case "noop":
		return noopEngine{}, nil
	}
	return nil, fmt.Errorf("%w: %q (known: %s)", ErrUnknown, name, strings.Join(Names(), ", "))
}

// engineInfo is what is known of an engine before opening it.
var engineInfo = map[string]struct {
	levels []mvcc.Level
	note   string
}{
	"noop": {
		[]mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable},
		"no engine: reads find one fixed record, writes vanish; the harness's ceiling, which every real row must stay far below (run at the first level asked for only: no level changes what it does)",
	},
	"mvkv": {
		[]mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable},
		"all three levels; group commit (one fsync per group of concurrent commits)",
	},
	"mvkv-locking": {
		[]mvcc.Level{mvcc.Serializable},
		"mvkv's fourth row: serializable by strict two-phase locking with key-range locks (TxOptions.Locking) instead of SSI; reads take shared locks, scans range locks, writes exclusive locks, all held to the end, so conflicts are waits and deadlocks",
	},
	"bbolt": {
		[]mvcc.Level{mvcc.Serializable},
		"one writer at a time, so histories are serial: serializable only, read committed and snapshot cannot be expressed; one Update per transaction",
	},
	"bbolt-batch": {
		[]mvcc.Level{mvcc.Serializable},
		"one writer at a time, so histories are serial: serializable only, read committed and snapshot cannot be expressed; DB.Batch runs concurrent writers in one transaction (one fsync)",
	},
	"badger": {
		[]mvcc.Level{mvcc.Serializable},
		"optimistic transactions checking read keys against later commits (serializable for point reads; range reads untracked, so phantoms are possible); no read committed or snapshot mode",
	},
	"postgres": {
		[]mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable},
		"PostgreSQL server started for the run, over a Unix socket: read committed, repeatable read (snapshot), serializable (SSI); one server, no replica; -durable: WAL fsync at each commit",
	},
	"etcd": {
		[]mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable},
		"three-member etcd cluster in this process on loopback, Raft-replicated: a commit is acknowledged once two members have it in their WAL (fsynced with -durable); client on one member; STM levels ReadCommitted, RepeatableReads as snapshot, SerializableSnapshot as serializable; scans list keys outside the STM",
	},
}

// LevelsOf returns the levels engine can express and a note on how
// its transactions map onto them.
func LevelsOf(engine string) ([]mvcc.Level, string, error) {
	info, ok := engineInfo[strings.ToLower(engine)]
	if !ok {
		return nil, "", fmt.Errorf("%w: %q (known: %s)", ErrUnknown, engine, strings.Join(Names(), ", "))
	}
	if strings.EqualFold(engine, "postgres") {
		if _, err := pgserver.Bin(); err != nil {
			// No server: every level is reported skipped, with why.
			return nil, err.Error(), nil
		}
	}
	return info.levels, info.note, nil
}

// Supports reports whether e can run at level.
func Supports(e Engine, level mvcc.Level) bool { return slices.Contains(e.Levels(), level) }
