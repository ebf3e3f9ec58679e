package mvcc

import "errors"

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
	// Errors carrying it also match ErrConflict.
	ErrDeadlock = errors.New("mvkv: deadlock")
	// ErrTxnDone: the transaction already committed, rolled back, or failed.
	ErrTxnDone = errors.New("mvkv: transaction already finished")
	// ErrReadOnly: a write in a read-only transaction.
	ErrReadOnly = errors.New("mvkv: transaction is read-only")
	// ErrClosed: the database is closed.
	ErrClosed = errors.New("mvkv: database closed")
	// ErrEmptyKey: a nil or empty key.
	ErrEmptyKey = errors.New("mvkv: empty key")
	// ErrKeyTooLarge: a key longer than MaxKeySize.
	ErrKeyTooLarge = errors.New("mvkv: key too large")
	// ErrValueTooLarge: a value longer than MaxValueSize.
	ErrValueTooLarge = errors.New("mvkv: value too large")
	// ErrInvalidLevel: an isolation level outside the three defined.
	ErrInvalidLevel = errors.New("mvkv: invalid isolation level")
	// ErrCorrupt: the file is not an mvkv database, or it is damaged.
	ErrCorrupt = errors.New("mvkv: not an mvkv database or corrupted")
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

// conflictError is a conflict with a cause; it matches ErrConflict and, for
// lock cycles, ErrDeadlock.
type conflictError struct {
	msg      string
	deadlock bool
}

func (e *conflictError) Error() string { return "mvkv: transaction conflict: " + e.msg }

func (e *conflictError) Is(target error) bool {
	return target == ErrConflict || (e.deadlock && target == ErrDeadlock)
}

func checkKey(key []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	if len(key) > MaxKeySize {
		return ErrKeyTooLarge
	}
	return nil
}

func checkValue(v []byte) error {
	if len(v) > MaxValueSize {
		return ErrValueTooLarge
	}
	return nil
}

// endedError is what a call on a transaction that a conflict ended
// returns: it matches ErrTxnDone (the transaction is finished) and the
// conflict (so a retry loop still sees ErrConflict).
type endedError struct{ cause error }

func (e *endedError) Error() string {
	return ErrTxnDone.Error() + " by a conflict: " + e.cause.Error()
}

func (e *endedError) Is(target error) bool { return target == ErrTxnDone }

func (e *endedError) Unwrap() error { return e.cause }
