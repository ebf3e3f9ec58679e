package mvcc

import (
	"errors"
	"fmt"
	"time"

	"github.com/mvkv/mvkv/txn"
)

// Errors returned by the engine. Compare with errors.Is: most are wrapped
// with context (the key, the conflicting timestamp, the file name).
var (
	// ErrNotFound: the key has no visible version (absent or deleted).
	ErrNotFound = errors.New("mvkv: key not found")
	// ErrConflict: the transaction cannot commit without breaking its
	// isolation level (a write-write conflict, a serialization failure, a
	// deadlock). The transaction is finished; retrying it may succeed.
	ErrConflict = errors.New("mvkv: transaction conflict")
	// ErrDeadlock: a lock wait (GetForUpdate, a commit's write locks, or
	// any call of a locking transaction) would close a cycle of waiters.
	// Errors carrying it also match ErrConflict. It is the lock table's
	// own error (txn.ErrDeadlock): one value, whichever package is asked.
	ErrDeadlock = txn.ErrDeadlock
	// ErrTxnDone: the transaction already committed, rolled back, or failed.
	ErrTxnDone = errors.New("mvkv: transaction already finished")
	// ErrReadOnly: a write in a read-only transaction, or Update or
	// Vacuum on a database opened with Options.ReadOnly.
	ErrReadOnly = errors.New("mvkv: transaction is read-only")
	// ErrClosed: the database is closed.
	ErrClosed = errors.New("mvkv: database closed")
	// ErrEmptyKey: a nil or empty key.
	ErrEmptyKey = errors.New("mvkv: empty key")
	// ErrKeyTooLarge: a key longer than MaxKeySize. The error returned
	// wraps it with the key's size and the limit.
	ErrKeyTooLarge = errors.New("mvkv: key too large")
	// ErrValueTooLarge: a value longer than MaxValueSize. The error
	// returned wraps it with the value's size and the limit.
	ErrValueTooLarge = errors.New("mvkv: value too large")
	// ErrInvalidLevel: an isolation level outside the three defined.
	ErrInvalidLevel = errors.New("mvkv: invalid isolation level")
	// ErrCorrupt: the file is not an mvkv database, or it is damaged.
	ErrCorrupt = errors.New("mvkv: not an mvkv database or corrupted")
	// ErrManagedTxn: Commit or Rollback called on the transaction that
	// DB.Update, DB.UpdateTx, DB.View or DB.ViewTx manages; the call
	// changes nothing. Return from
	// the function instead: nil commits (Update), an error rolls back.
	ErrManagedTxn = errors.New("mvkv: Commit and Rollback are not allowed on a transaction managed by Update, UpdateTx, View or ViewTx")
	// ErrSnapshotTooOld: the transaction's snapshot is older than
	// Options.MaxSnapshotAge; the transaction is finished (and matches
	// ErrTxnDone too). Begin a new one.
	ErrSnapshotTooOld = errors.New("mvkv: snapshot too old")
	// ErrHistoryGone: TxOptions.AsOf asks for a time before what
	// Options.HistoryRetention keeps (or before history was kept).
	ErrHistoryGone = errors.New("mvkv: history gone: the time asked for is past the retention")
	// ErrNilArgument: a nil function or writer where one is needed (the
	// function of Update, UpdateTx, View, ViewTx, ScanFunc and
	// ScanReverseFunc; Backup's writer). Nothing runs.
	ErrNilArgument = errors.New("mvkv: nil argument")
	// ErrLocked: another process (or DB in this process) holds the file
	// and did not release it within Options.LockTimeout.
	ErrLocked = errors.New("mvkv: database file is locked")
)

const (
	// MaxKeySize is the largest key accepted, in bytes.
	MaxKeySize = 32 << 10
	// MaxValueSize is the largest value accepted, in bytes.
	MaxValueSize = 64 << 20
)

// ConflictKind says which rule refused a transaction.
type ConflictKind int

const (
	// WriteConflict: another transaction committed a write of the same key
	// after this one's snapshot (first committer wins; Snapshot and
	// Serializable).
	WriteConflict ConflictKind = iota + 1
	// SerializationFailure: the transaction is the pivot or the reader of
	// a dangerous structure of read-write dependencies (Serializable). It
	// also matches txn.ErrSerialization.
	SerializationFailure
	// DeadlockFailure: waiting for a lock (GetForUpdate's, a commit's
	// write locks, a locking transaction's) would close a cycle of
	// waiters. It also matches ErrDeadlock.
	DeadlockFailure
)

func (k ConflictKind) String() string {
	switch k {
	case WriteConflict:
		return "write conflict"
	case SerializationFailure:
		return "serialization failure"
	case DeadlockFailure:
		return "deadlock"
	}
	return "conflict"
}

// ConflictError is the error behind every ErrConflict: errors.Is(err,
// ErrConflict) says a retry may succeed; errors.As(err, &ce) with a
// *ConflictError says why and on which key:
//
//	var ce *mvcc.ConflictError
//	if errors.As(err, &ce) {
//		log.Printf("%v on key %q", ce.Kind, ce.Key)
//	}
type ConflictError struct {
	Kind ConflictKind
	// Key is the key the conflict was found on: the key written first by
	// another transaction, the key whose lock wait would deadlock, or the
	// key whose read completed a dangerous structure. Nil when the
	// conflict concerns the transaction as a whole (a serialization
	// failure found at Commit or during a Scan). The caller's copy.
	Key []byte
	// TS is the commit timestamp of the conflicting version for a
	// WriteConflict, 0 otherwise.
	TS uint64

	msg string
}

func (e *ConflictError) Error() string { return "mvkv: transaction conflict: " + e.msg }

// Is reports whether target is ErrConflict or, for the matching kinds,
// ErrDeadlock or txn.ErrSerialization.
func (e *ConflictError) Is(target error) bool {
	switch target {
	case ErrConflict:
		return true
	case ErrDeadlock:
		return e.Kind == DeadlockFailure
	case txn.ErrSerialization:
		return e.Kind == SerializationFailure
	}
	return false
}

func checkKey(key []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	if len(key) > MaxKeySize {
		return fmt.Errorf("%w: %d bytes, the limit is %d (MaxKeySize)", ErrKeyTooLarge, len(key), MaxKeySize)
	}
	return nil
}

func checkValue(v []byte) error {
	if len(v) > MaxValueSize {
		return fmt.Errorf("%w: %d bytes, the limit is %d (MaxValueSize)", ErrValueTooLarge, len(v), MaxValueSize)
	}
	return nil
}

// endedError is what a call on a transaction that a conflict (or
// Options.MaxSnapshotAge) ended returns: it matches ErrTxnDone (the
// transaction is finished) and its cause (so a retry loop still sees
// ErrConflict, and an old snapshot ErrSnapshotTooOld).
type endedError struct{ cause error }

func (e *endedError) Error() string {
	return ErrTxnDone.Error() + ": " + e.cause.Error()
}

func (e *endedError) Is(target error) bool { return target == ErrTxnDone }

func (e *endedError) Unwrap() error { return e.cause }

// lockedError is Open's ErrLocked for path after waiting lockTimeout
// (negative: one try, no wait).
func lockedError(path string, lockTimeout time.Duration) error {
	if lockTimeout < 0 {
		return fmt.Errorf("%w: %s (LockTimeout is negative: tried once, did not wait)", ErrLocked, path)
	}
	return fmt.Errorf("%w: %s (waited %v)", ErrLocked, path, lockTimeout)
}
