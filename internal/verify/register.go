package verify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/mvkv/mvkv/internal/linear"
	"github.com/mvkv/mvkv/mvcc"
)

// RegisterConfig shapes a single-key workload: every operation is one
// transaction on one key.
type RegisterConfig struct {
	Level   mvcc.Level
	Clients int
	Ops     int // per client
	Keys    int
	// Appends adds read-modify-write operations.
	Appends bool
	// ForUpdate makes appends read with GetForUpdate instead of Get, and
	// puts and deletes lock the key with GetForUpdate first. (Since every
	// writer waits for GetForUpdate's lock at its commit, the appends
	// alone locking would do at read committed; the puts lock too so
	// that the variant also tests lock waits between blind writers.)
	ForUpdate bool
	// Locking runs every transaction serializable by two-phase locking
	// (TxOptions.Locking); Level must then be Serializable.
	Locking bool
	Seed    uint64
	// Prefix namespaces the keys, so that rounds can share a database.
	Prefix string
}

// RegisterBegin starts a transaction of the register workload, read-only
// for a get.
type RegisterBegin func(readOnly bool) (Txn, error)

// RunRegister runs the workload on db (see Register), every transaction
// at cfg.Level, by two-phase locking with cfg.Locking.
func RunRegister(ctx context.Context, db *mvcc.DB, cfg RegisterConfig) ([]porcupine.Operation, error) {
	return Register(func(readOnly bool) (Txn, error) {
		tx, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: cfg.Level, Locking: cfg.Locking, ReadOnly: readOnly})
		if err != nil {
			return nil, err
		}
		return tx, nil
	}, cfg)
}

// Register runs the workload with the transactions begin starts, on any
// engine, and returns the history of the operations that took effect, for
// linear.KV. An operation is retried on ErrConflict, with backoff, up to
// registerRetries times; one that never commits had no effect and is left
// out. Any other error is returned. cfg.Level and cfg.Locking are begin's
// business.
func Register(begin RegisterBegin, cfg RegisterConfig) ([]porcupine.Operation, error) {
	var rec linear.Recorder
	err := runClients(cfg.Clients, cfg.Seed, func(c int, rng *rand.Rand) error {
		for i := range cfg.Ops {
			in := linear.KVInput{Key: fmt.Sprintf("%s%d", cfg.Prefix, rng.IntN(cfg.Keys))}
			switch p := rng.IntN(100); {
			case p < 30:
				in.Op = linear.Get
			case p < 55 || (!cfg.Appends && p < 90):
				in.Op, in.Value = linear.Put, fmt.Sprintf("p%d.%d", c, i)
			case p < 60 || !cfg.Appends:
				in.Op = linear.Delete
			default:
				in.Op, in.Value = linear.Append, fmt.Sprintf("+%d.%d", c, i)
			}
			err := record(&rec, c, func() (any, any, error) {
				out, err := retryConflicts(func() (linear.KVOutput, error) { return registerOp(begin, cfg.ForUpdate, in) })
				return in, out, err
			})
			if err != nil {
				return fmt.Errorf("%s %s: %w", in.Op, in.Key, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rec.Operations(), nil
}

// registerRetries bounds the attempts of one register operation; the
// backoff between them doubles from 50µs to at most 20ms, with jitter, as
// DB.Update's does.
const registerRetries = 64

func retryConflicts(op func() (linear.KVOutput, error)) (out linear.KVOutput, err error) {
	backoff := 50 * time.Microsecond
	for range registerRetries {
		if out, err = op(); !errors.Is(err, mvcc.ErrConflict) {
			return out, err
		}
		time.Sleep(time.Duration(rand.Int64N(int64(backoff)) + 1))
		backoff = min(2*backoff, 20*time.Millisecond)
	}
	return out, err
}

// registerOp is one attempt of in, in a transaction of its own.
func registerOp(begin RegisterBegin, forUpdate bool, in linear.KVInput) (linear.KVOutput, error) {
	var out linear.KVOutput
	tx, err := begin(in.Op == linear.Get)
	if err != nil {
		return out, err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	key := []byte(in.Key)
	read := tx.Get
	if forUpdate && in.Op != linear.Get {
		read = tx.GetForUpdate
	}
	if in.Op == linear.Get || in.Op == linear.Append || forUpdate {
		v, err := read(key)
		if err != nil && !errors.Is(err, mvcc.ErrNotFound) {
			return out, err
		}
		out = linear.KVOutput{Value: string(v), Found: err == nil}
	}
	switch in.Op {
	case linear.Put:
		err = tx.Put(key, []byte(in.Value))
	case linear.Delete:
		err = tx.Delete(key)
	case linear.Append:
		err = tx.Put(key, []byte(out.Value+in.Value))
	}
	if err == nil {
		err = tx.Commit()
	}
	if in.Op != linear.Get && in.Op != linear.Append {
		out = linear.KVOutput{}
	}
	return out, err
}
