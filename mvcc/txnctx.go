package mvcc

import (
	"context"
	"fmt"
	"time"

	"github.com/mvkv/mvkv/txn"
)

// The BeginTx context, as database/sql uses it: the transaction's until it
// ends. Its end rolls the transaction back. A transaction that holds
// locks is rolled back at once, by a callback on the context (registered
// only once it takes a lock: a callback on every Begin would take the
// context's own mutex, which every transaction begun with one context
// shares); one that holds none is rolled back by its next call (usable,
// Rollback, View's end), which finds the context ended, or by the sweep
// below, whichever comes first. Either way every later call reports the
// same error, matching ErrTxnDone and the context's error.
//
// The sweep is what makes a transaction that its caller abandons on the
// context's end (as database/sql allows: `defer cancel()`, no Rollback)
// let go of its snapshot: without it, the snapshot would hold the vacuum
// horizon, and the versions it protects, for as long as the process
// lives. Every ctxSweepEvery it walks the horizon registry (no lock: the
// same walk Stats makes) for transactions whose context can end, and ends
// those whose context has, unless they are inside a call or a Scan loop
// (ending the snapshot under a read would let vacuum take what it reads:
// the call's own check, or the next sweep, ends them).

// ctxSweepEvery is how often the sweep runs: the longest an abandoned
// transaction holds its snapshot after its context ends.
const ctxSweepEvery = 100 * time.Millisecond

func (db *DB) startContextSweep() {
	db.sweepDone = make(chan struct{})
	go func() {
		defer close(db.sweepDone)
		t := time.NewTicker(ctxSweepEvery)
		defer t.Stop()
		for {
			select {
			case <-db.closing:
				return
			case <-t.C:
				db.sweepEndedContexts()
			}
		}
	}()
}

// sweepEndedContexts rolls back the idle transactions whose BeginTx
// context has ended.
func (db *DB) sweepEndedContexts() {
	db.oracle.Holders(func(s *txn.Slot) {
		tx, ok := s.Owner.(*Txn)
		if !ok || tx.done.Load() || tx.ctx.Err() == nil {
			return
		}
		if !tx.mu.TryLock() {
			return // inside a call, which notices the end itself
		}
		if !tx.done.Load() && tx.scans.Load() == 0 {
			if err := tx.ctx.Err(); err != nil {
				tx.endByContext(err) //nolint:errcheck // the next call reports it
			}
		}
		tx.mu.Unlock()
	})
}

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
