package mvcc

import (
	"context"
	"fmt"
)

// The BeginTx context, as database/sql uses it: the transaction's until it
// ends. Its end rolls the transaction back. A transaction that holds
// locks is rolled back at once, by a callback on the context (registered
// only once it takes a lock: a callback on every Begin would take the
// context's own mutex, which every transaction begun with one context
// shares); one that holds none is rolled back by its next call (usable,
// Rollback, View's end), which finds the context ended. Either way every
// later call reports the same error, matching ErrTxnDone and the
// context's error.

// watchContext makes the end of the transaction's context roll it back at
// once (contextEnded), so that the locks it is about to take are not kept
// past that end. Called with tx.mu held, before a lock is taken.
func (tx *Txn) watchContext() {
	if tx.ctxCanEnd && tx.stopCtx == nil {
		tx.stopCtx = context.AfterFunc(tx.ctx, tx.contextEnded)
	}
}

// contextEnded rolls the transaction back when its BeginTx context ends,
// as database/sql does: its locks go at once, and its next call, Commit
// included, fails with an error matching ErrTxnDone and the context's
// error. A Commit already past its lock waits is not stopped: once the
// commit is handed to the pipeline it is durable and reported so.
func (tx *Txn) contextEnded() {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if !tx.done.Load() || tx.committing {
		tx.endByContext(tx.ctx.Err()) //nolint:errcheck // the next call reports it
	}
}

// contextErr returns the error that a BeginTx context's end gave the
// transaction, ending it now if no call noticed the end yet; nil if the
// context has not ended.
func (tx *Txn) contextErr() error {
	if !tx.ctxCanEnd { // set at Begin: no lock needed
		return nil
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.cancelled != nil {
		return tx.cancelled
	}
	if !tx.done.Load() {
		if err := tx.ctx.Err(); err != nil {
			return tx.endByContext(err)
		}
	}
	return nil
}

// endByContext ends the transaction after its context ended with cause
// and returns the error its calls report from then on. Called with tx.mu
// held, on a transaction not yet done (or a Commit waiting for locks).
func (tx *Txn) endByContext(cause error) error {
	tx.cancelled = fmt.Errorf("%w: rolled back because its context ended: %w", ErrTxnDone, cause)
	tx.finish()
	tx.db.stats.rollbacks.Add(1)
	return tx.cancelled
}
