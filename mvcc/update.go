package mvcc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Backoff between Update retries: exponential from minBackoff, capped,
// with full jitter so that transactions that collided do not collide again.
const (
	minBackoff = 50 * time.Microsecond
	maxBackoff = 20 * time.Millisecond
)

// Update runs fn in a read-write transaction at level and commits it. When
// fn or the commit fails with ErrConflict it runs fn again in a new
// transaction, after a backoff, until it commits, ctx ends, or
// Options.MaxUpdateRetries retries are spent (then the last conflict is
// returned). Any other error from fn rolls back and is returned as is. fn
// may run several times, so it must not have effects outside tx.
//
// fn must not call tx.Commit or tx.Rollback (they return ErrManagedTxn and
// change nothing): returning nil commits, returning an error rolls back.
// Once the commit is durable Update returns nil, whatever happens after.
// A nil fn fails with ErrNilArgument.
//
// The zero Level is ReadCommitted, as the zero TxOptions is: there, two
// Updates that read and write the same key both commit, and one of the
// writes is lost. Name Snapshot or Serializable where that matters. For
// the other kinds of transaction (locking, read-only) use UpdateTx. On a
// database opened with Options.ReadOnly it fails with ErrReadOnly
// without running fn.
func (db *DB) Update(ctx context.Context, level Level, fn func(tx *Txn) error) error {
	return db.UpdateTx(ctx, TxOptions{Isolation: level}, fn)
}

// UpdateTx is Update for any kind of transaction: it runs fn in a
// transaction begun with opts (as BeginTx would), commits it, and retries
// on ErrConflict with Update's rules. With Locking, a deadlock (ErrDeadlock,
// also ErrConflict) is retried too:
//
//	err := db.UpdateTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: true},
//		func(tx *mvcc.Txn) error { ... })
//
// ctx is each attempt's BeginTx context: it bounds the attempt's lock
// waits, and its end rolls the attempt back and stops the retries.
func (db *DB) UpdateTx(ctx context.Context, opts TxOptions, fn func(tx *Txn) error) error {
	if fn == nil {
		return fmt.Errorf("%w: the transaction's function is nil", ErrNilArgument)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	backoff := minBackoff
	var last error // the conflict that made this attempt a retry
	for attempt := 0; ; attempt++ {
		err := db.runOnce(ctx, opts, fn)
		if last != nil && err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			// ctx ended during the backoff (its timer and ctx.Done
			// were ready together): the conflict is still the reason.
			return &retryError{last: last, ctx: ctx.Err()}
		}
		if err == nil || !errors.Is(err, ErrConflict) || attempt >= db.opts.MaxUpdateRetries {
			return err
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return &retryError{last: err, ctx: ctxErr}
		}
		last = err
		sleep := time.Duration(rand.Int64N(int64(backoff)) + 1)
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return &retryError{last: err, ctx: ctx.Err()}
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// retryError is what UpdateTx returns when ctx ends between retries: the
// last conflict and the context's error, both matched by errors.Is, in
// one line.
type retryError struct{ last, ctx error }

func (e *retryError) Error() string {
	return e.ctx.Error() + " while retrying after: " + e.last.Error()
}

func (e *retryError) Unwrap() []error { return []error{e.last, e.ctx} }

// runOnce is one attempt of UpdateTx and ViewTx. A read-write one on a
// database opened with Options.ReadOnly fails without running fn.
func (db *DB) runOnce(ctx context.Context, opts TxOptions, fn func(tx *Txn) error) error {
	if !opts.ReadOnly && db.opts.ReadOnly && !db.closed.Load() {
		return fmt.Errorf("%w: %s was opened with Options.ReadOnly", ErrReadOnly, db.path)
	}
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	tx.managed = true
	defer tx.rollback() //nolint:errcheck // no-op once committed
	if err := fn(tx); err != nil {
		return err
	}
	return tx.commit()
}

// View runs fn in a read-only transaction on one snapshot. It never
// conflicts; fn's error is returned as is. fn must not call tx.Commit or
// tx.Rollback (they return ErrManagedTxn and change nothing). ctx is the
// transaction's BeginTx context: if it ends before fn returns, the
// transaction is rolled back and View returns an error matching
// ErrTxnDone and ctx's error.
//
// View runs at Snapshot isolation, not Serializable: each View sees a
// consistent snapshot, but alongside serializable writers it can observe
// the read-only anomaly (a state no serial order of the writers
// produces; see the anomalies package, TestReadOnlyAnomaly). For a
// read-only transaction that is serializable with them, use ViewTx:
//
//	err := db.ViewTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable}, fn)
func (db *DB) View(ctx context.Context, fn func(tx *Txn) error) error {
	if fn == nil {
		return fmt.Errorf("%w: the transaction's function is nil", ErrNilArgument)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	tx, err := db.BeginTx(ctx, TxOptions{Isolation: Snapshot, ReadOnly: true})
	if err != nil {
		return err
	}
	tx.managed = true
	defer tx.rollback() //nolint:errcheck // a read-only transaction has nothing to undo
	if err := fn(tx); err != nil {
		return err
	}
	// A context that ended while fn ran rolled the transaction back:
	// report it, as ViewTx's commit does.
	return tx.contextErr()
}

// ViewTx runs fn in a read-only transaction begun with opts (ReadOnly is
// implied) and ends it, retrying on ErrConflict with Update's rules. Only
// a Serializable one can conflict: SSI may abort it when it would observe a
// state no serial order produces, and the retry reads again. At Snapshot it
// is View; at ReadCommitted every read sees the latest committed data.
// With Locking (Serializable only, else ErrInvalidLevel), reads take
// shared locks held to the end. ctx is as for UpdateTx: its end rolls the
// attempt back and is returned.
func (db *DB) ViewTx(ctx context.Context, opts TxOptions, fn func(tx *Txn) error) error {
	opts.ReadOnly = true
	return db.UpdateTx(ctx, opts, fn)
}
