package pgserver

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mvkv/mvkv/mvcc"
)

// PostgreSQL's SQLSTATEs for a transaction that must be retried.
const (
	SerializationFailure = "40001" // a write-write conflict at repeatable read, or an SSI abort
	DeadlockDetected     = "40P01"
)

// MapError maps a PostgreSQL error onto mvcc's sentinels, keeping the
// server's error in the chain (for errors.As and AbortCause): a
// serialization failure matches mvcc.ErrConflict, a deadlock both
// mvcc.ErrDeadlock and mvcc.ErrConflict. Other errors come back unchanged.
func MapError(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case SerializationFailure:
		return fmt.Errorf("%w: postgres: %w", mvcc.ErrConflict, err)
	case DeadlockDetected:
		return fmt.Errorf("%w (%w): postgres: %w", mvcc.ErrDeadlock, mvcc.ErrConflict, err)
	}
	return err
}

// ssiSourceFile is the PostgreSQL source file that raises every failure
// of serializable snapshot isolation.
const ssiSourceFile = "predicate.c"

// AbortCause names why a transaction was aborted, as the benchmark counts
// it ("write-write", "serialization", "deadlock"), or "" for an error
// that is no abort.
func AbortCause(err error) string {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return ""
	}
	switch pe.Code {
	case DeadlockDetected:
		return "deadlock"
	case SerializationFailure:
		// One SQLSTATE for both: SSI's failures ("... due to read/write
		// dependencies among transactions") are all raised in the
		// server's predicate.c, first-updater-wins ("... due to
		// concurrent update", or delete) in the executor. The source
		// file is a field of the error, unlike the message not
		// translated by the server's lc_messages.
		if pe.File == ssiSourceFile {
			return "serialization"
		}
		return "write-write"
	}
	return ""
}
