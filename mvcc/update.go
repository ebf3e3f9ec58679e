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
//
// The zero Level is ReadCommitted, as the zero TxOptions is. On a
// database opened with Options.ReadOnly it fails with ErrReadOnly
// without running fn.
func (db *DB) Update(ctx context.Context, level Level, fn func(tx *Txn) error) error {
	if ctx == nil {
		ctx = context.Background()
	}
	backoff := minBackoff
	for attempt := 0; ; attempt++ {
		err := db.updateOnce(ctx, level, fn)
		if err == nil || !errors.Is(err, ErrConflict) || attempt >= db.opts.MaxUpdateRetries {
			return err
		}
		sleep := time.Duration(rand.Int64N(int64(backoff)) + 1)
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (db *DB) updateOnce(ctx context.Context, level Level, fn func(tx *Txn) error) error {
	if db.opts.ReadOnly && !db.closed.Load() {
		return fmt.Errorf("%w: %s was opened with Options.ReadOnly", ErrReadOnly, db.path)
	}
	tx, err := db.BeginTx(ctx, TxOptions{Isolation: level})
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
// tx.Rollback (they return ErrManagedTxn and change nothing).
//
// View runs at Snapshot isolation, not Serializable: each View sees a
// consistent snapshot, but alongside serializable writers it can observe
// the read-only anomaly (a state no serial order of the writers
// produces; see the anomalies package, TestReadOnlyAnomaly). For a
// read-only transaction that is serializable with them, use
//
//	tx, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable, ReadOnly: true})
//
// which may fail with ErrConflict (retry it), unless it began while no
// serializable read-write transaction ran (a safe snapshot: it never does).
func (db *DB) View(ctx context.Context, fn func(tx *Txn) error) error {
	if ctx == nil {
		ctx = context.Background()
	}
	tx, err := db.BeginTx(ctx, TxOptions{Isolation: Snapshot, ReadOnly: true})
	if err != nil {
		return err
	}
	tx.managed = true
	defer tx.rollback() //nolint:errcheck // a read-only transaction has nothing to undo
	return fn(tx)
}
