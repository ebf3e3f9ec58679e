package mvcc

import (
	"fmt"
	"time"

	"github.com/mvkv/mvkv/txn"
)

// Level is a transaction isolation level: ReadCommitted, Snapshot or
// Serializable. See the package documentation for what each guarantees.
type Level = txn.Level

// The three isolation levels.
const (
	ReadCommitted = txn.ReadCommitted
	Snapshot      = txn.Snapshot
	Serializable  = txn.Serializable
)

// ParseLevel accepts "read-committed", "snapshot" (or "repeatable-read") and
// "serializable".
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
	return r
}

// TxOptions choose a transaction's isolation level and whether it may write.
type TxOptions struct {
	Isolation Level
	// ReadOnly transactions reject writes with ErrReadOnly. Under
	// Serializable they may still fail with ErrConflict (rarely).
	ReadOnly bool
}
