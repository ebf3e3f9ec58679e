package verify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

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
	// Appends adds read-modify-write operations through DB.Update.
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

// RunRegister runs the workload and returns the history of the operations
// that took effect. An operation whose transaction failed with ErrConflict
// after Update's retries had no effect and is left out; any other error
// is returned.
func RunRegister(ctx context.Context, db *mvcc.DB, cfg RegisterConfig) ([]porcupine.Operation, error) {
	var rec linear.Recorder
	var wg sync.WaitGroup
	errs := make(chan error, cfg.Clients)
	for c := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(c)))
			for i := range cfg.Ops {
				key := fmt.Sprintf("%s%d", cfg.Prefix, rng.IntN(cfg.Keys))
				if err := registerOp(ctx, db, &rec, cfg, rng, c, i, key); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return rec.Operations(), nil
}

func registerOp(ctx context.Context, db *mvcc.DB, rec *linear.Recorder, cfg RegisterConfig, rng *rand.Rand, client, i int, key string) error {
	in := linear.KVInput{Key: key}
	var out linear.KVOutput
	p := rng.IntN(100)
	switch {
	case p < 30:
		in.Op = linear.Get
	case p < 55 || (!cfg.Appends && p < 90):
		in.Op, in.Value = linear.Put, fmt.Sprintf("p%d.%d", client, i)
	case p < 60 || !cfg.Appends:
		in.Op = linear.Delete
	default:
		in.Op, in.Value = linear.Append, fmt.Sprintf("+%d.%d", client, i)
	}
	call := rec.Now()
	var err error
	if in.Op == linear.Get {
		err = getOnce(db, cfg.txOptions(), key, &out)
	} else {
		err = update(ctx, db, cfg.txOptions(), func(tx *mvcc.Txn) error {
			if cfg.ForUpdate && in.Op != linear.Append {
				if _, err := tx.GetForUpdate([]byte(key)); err != nil && !errors.Is(err, mvcc.ErrNotFound) {
					return err
				}
			}
			switch in.Op {
			case linear.Put:
				return tx.Put([]byte(key), []byte(in.Value))
			case linear.Delete:
				return tx.Delete([]byte(key))
			}
			read := tx.Get
			if cfg.ForUpdate {
				read = tx.GetForUpdate
			}
			v, err := read([]byte(key))
			out = linear.KVOutput{Value: string(v), Found: err == nil}
			if err != nil && !errors.Is(err, mvcc.ErrNotFound) {
				return err
			}
			return tx.Put([]byte(key), append(v[:len(v):len(v)], in.Value...))
		})
	}
	ret := rec.Now()
	switch {
	case err == nil:
		rec.Add(client, in, out, call, ret)
	case errors.Is(err, mvcc.ErrConflict):
		// Certainly not committed: no effect to check.
	default:
		return fmt.Errorf("%s %s: %w", in.Op, key, err)
	}
	return nil
}

func (cfg RegisterConfig) txOptions() mvcc.TxOptions {
	return mvcc.TxOptions{Isolation: cfg.Level, Locking: cfg.Locking}
}

// update is DB.Update with TxOptions: fn in a transaction, committed,
// rerun on ErrConflict up to a retry limit.
func update(ctx context.Context, db *mvcc.DB, opts mvcc.TxOptions, fn func(tx *mvcc.Txn) error) error {
	if !opts.Locking {
		return db.Update(ctx, opts.Isolation, fn)
	}
	var err error
	for range 64 {
		err = func() error {
			tx, err := db.BeginTx(ctx, opts)
			if err != nil {
				return err
			}
			defer tx.Rollback() //nolint:errcheck // no-op after Commit
			if err := fn(tx); err != nil {
				return err
			}
			return tx.Commit()
		}()
		if !errors.Is(err, mvcc.ErrConflict) {
			return err
		}
	}
	return err
}

// getOnce reads key in its own transaction. A serializable read-only
// transaction may be aborted; then the read did not happen.
func getOnce(db *mvcc.DB, opts mvcc.TxOptions, key string, out *linear.KVOutput) error {
	tx, err := db.BeginTx(context.Background(), opts)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	v, err := tx.Get([]byte(key))
	if err != nil && !errors.Is(err, mvcc.ErrNotFound) {
		return err
	}
	*out = linear.KVOutput{Value: string(v), Found: err == nil}
	return tx.Commit()
}
