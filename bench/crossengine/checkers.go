package crossengine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/internal/elle"
	"github.com/mvkv/mvkv/internal/linear"
	"github.com/mvkv/mvkv/internal/verify"
	"github.com/mvkv/mvkv/mvcc"
)

// The history checkers' workloads, on any store, so that internal/elle's
// cycle checker and internal/linear's porcupine models judge PostgreSQL and
// etcd by the same rules as mvkv: list-append is internal/verify's own
// workload, given transactions of an anomalies.Store; the register
// workloads are redone here over anomalies.Store.

// RunListAppend runs internal/verify's list-append workload on s (see
// verify.ListAppend) and returns its history. cfg.Level and
// cfg.LockingClients do not apply: s's level is s's.
func RunListAppend(s anomalies.Store, cfg verify.ListAppendConfig) (elle.History, error) {
	return verify.ListAppend(func(int) (verify.Txn, error) {
		tx, err := s.Begin(context.Background(), false)
		if err != nil {
			return nil, err
		}
		return tx, nil
	}, cfg)
}

// RegisterConfig shapes a single-key workload: every operation is one
// transaction on one key.
type RegisterConfig struct {
	Clients int
	Ops     int // per client
	Keys    int
	// Appends adds read-modify-writes.
	Appends bool
	// ForUpdate makes every writer lock the key with GetForUpdate first,
	// so that read-modify-writes are atomic at read committed.
	ForUpdate bool
	Seed      uint64
	Prefix    string
}

// RunRegister runs the workload on s and returns the history of the
// operations that took effect, for linear.KV. An operation is retried on
// ErrConflict (up to 100 times, then dropped: it had no effect).
func RunRegister(s anomalies.Store, cfg RegisterConfig) ([]porcupine.Operation, error) {
	var rec linear.Recorder
	var wg sync.WaitGroup
	errs := make(chan error, cfg.Clients)
	for c := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(c)))
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
				call := rec.Now()
				out, err := retry(func() (linear.KVOutput, error) { return registerOp(s, cfg.ForUpdate, in) })
				ret := rec.Now()
				switch {
				case err == nil:
					rec.Add(c, in, out, call, ret)
				case !errors.Is(err, mvcc.ErrConflict):
					errs <- fmt.Errorf("%s %s: %w", in.Op, in.Key, err)
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

func retry(op func() (linear.KVOutput, error)) (out linear.KVOutput, err error) {
	for attempt := range 100 {
		if out, err = op(); !errors.Is(err, mvcc.ErrConflict) {
			return out, err
		}
		time.Sleep(time.Duration(rand.IntN(1+attempt)) * time.Millisecond)
	}
	return out, err
}

func registerOp(s anomalies.Store, forUpdate bool, in linear.KVInput) (linear.KVOutput, error) {
	var out linear.KVOutput
	tx, err := s.Begin(context.Background(), in.Op == linear.Get)
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
