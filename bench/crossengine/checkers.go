package crossengine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/internal/elle"
	"github.com/mvkv/mvkv/internal/linear"
	"github.com/mvkv/mvkv/mvcc"
)

// The history checkers' workloads, on any store: the drivers of
// internal/verify (which run on an *mvcc.DB) redone over anomalies.Store,
// so that internal/elle's cycle checker and internal/linear's porcupine
// models judge PostgreSQL and etcd by the same rules as mvkv.

// ListAppendConfig shapes a list-append workload.
type ListAppendConfig struct {
	Clients int
	Txns    int // per client
	Keys    int
	MaxOps  int // micro-operations per transaction, at least 1
	Seed    uint64
	Prefix  string // namespaces the keys
	// ForUpdate reads with GetForUpdate before an append.
	ForUpdate bool
}

// RunListAppend runs the workload on s and returns its history. Every key
// holds a comma-separated list of integers; an append reads the list and
// writes it back one element longer. A transaction that fails with
// ErrConflict is recorded as failed with what it got through; any other
// error is returned. A last transaction reads every key.
func RunListAppend(s anomalies.Store, cfg ListAppendConfig) (elle.History, error) {
	var (
		mu      sync.Mutex
		h       elle.History
		nextID  atomic.Int64
		nextVal atomic.Int64
		wg      sync.WaitGroup
	)
	errs := make(chan error, cfg.Clients)
	for c := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(c)))
			for range cfg.Txns {
				var plan []elle.Op
				for range 1 + rng.IntN(cfg.MaxOps) {
					key := cfg.Prefix + strconv.Itoa(rng.IntN(cfg.Keys))
					if rng.IntN(2) == 0 {
						plan = append(plan, elle.R(key, nil))
					} else {
						plan = append(plan, elle.A(key, int(nextVal.Add(1))))
					}
				}
				ops, status, err := appendTxn(s, cfg.ForUpdate, plan)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				h = append(h, elle.Txn{ID: int(nextID.Add(1)), Ops: ops, Status: status})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	var final []elle.Op
	for k := range cfg.Keys {
		final = append(final, elle.R(cfg.Prefix+strconv.Itoa(k), nil))
	}
	ops, status, err := appendTxn(s, false, final)
	if err != nil {
		return nil, err
	}
	return append(h, elle.Txn{ID: int(nextID.Add(1)), Ops: ops, Status: status}), nil
}

func appendTxn(s anomalies.Store, forUpdate bool, plan []elle.Op) ([]elle.Op, elle.Status, error) {
	tx, err := s.Begin(context.Background(), false)
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	var ops []elle.Op
	for _, o := range plan {
		read := tx.Get
		if forUpdate && o.Kind == elle.Append {
			read = tx.GetForUpdate
		}
		var list []int
		list, err = readList(read, o.Key)
		if err == nil {
			ops = append(ops, elle.R(o.Key, list))
			if o.Kind == elle.Append {
				if err = tx.Put([]byte(o.Key), encodeList(append(list, o.Value))); err == nil {
					ops = append(ops, o)
				}
			}
		}
		if err != nil {
			break
		}
		runtime.Gosched() // let the other clients interleave
	}
	if err == nil {
		err = tx.Commit()
	}
	switch {
	case err == nil:
		return ops, elle.OK, nil
	case errors.Is(err, mvcc.ErrConflict):
		return ops, elle.Failed, nil
	}
	return nil, 0, err
}

func readList(read func([]byte) ([]byte, error), key string) ([]int, error) {
	v, err := read([]byte(key))
	if errors.Is(err, mvcc.ErrNotFound) || (err == nil && len(v) == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	parts := strings.Split(string(v), ",")
	list := make([]int, len(parts))
	for i, p := range parts {
		if list[i], err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("key %s holds %q: %w", key, v, err)
		}
	}
	return list, nil
}

func encodeList(list []int) []byte {
	var b []byte
	for i, e := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(e), 10)
	}
	return b
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
