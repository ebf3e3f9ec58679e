package verify

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

	"github.com/mvkv/mvkv/internal/elle"
	"github.com/mvkv/mvkv/mvcc"
)

// ListAppendConfig shapes a list-append workload for the elle checker.
type ListAppendConfig struct {
	Level   mvcc.Level
	Clients int
	Txns    int // per client
	Keys    int
	MaxOps  int // micro-operations per transaction, at least 1
	Seed    uint64
	Prefix  string // namespaces the keys
	// ForUpdate makes appends read with GetForUpdate: at read committed
	// that makes every read-modify-write atomic (no lost updates).
	ForUpdate bool
	// LockingClients of the clients (the first ones) run serializable by
	// two-phase locking (TxOptions.Locking); the others run at Level. All
	// of them with Level Serializable is the locking mode; some of them a
	// mixed workload of locking and SSI transactions.
	LockingClients int
}

// Txn is what the workloads need of a transaction. *mvcc.Txn has it, and
// so have the adapters of the other engines (bench/crossengine), whose
// errors match mvcc's sentinels.
type Txn interface {
	Get(key []byte) ([]byte, error)
	GetForUpdate(key []byte) ([]byte, error)
	Put(key, value []byte) error
	Delete(key []byte) error
	Commit() error
	Rollback() error
}

// Begin starts a transaction for client c of a workload; c is -1 for the
// final transaction that reads every key.
type Begin func(c int) (Txn, error)

// RunListAppend runs the workload on db and returns its history (see
// ListAppend), with the transactions BeginFor starts.
func RunListAppend(db *mvcc.DB, cfg ListAppendConfig) (elle.History, error) {
	return ListAppend(BeginFor(db, cfg), cfg)
}

// BeginFor starts the transactions of cfg's clients on db: client c at
// cfg.Level, or serializable by locking when c < cfg.LockingClients; the
// final read (-1) at snapshot.
func BeginFor(db *mvcc.DB, cfg ListAppendConfig) Begin {
	return func(c int) (Txn, error) {
		opts := mvcc.TxOptions{Isolation: cfg.Level}
		switch {
		case c < 0:
			opts = mvcc.TxOptions{Isolation: mvcc.Snapshot}
		case c < cfg.LockingClients:
			opts = mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: true}
		}
		tx, err := db.BeginTx(context.Background(), opts)
		if err != nil {
			return nil, err
		}
		return tx, nil
	}
}

// ListAppend runs the workload with the transactions begin starts, on any
// engine, and returns its history. Every key holds a comma-separated list
// of integers; an append reads the list and writes it back one element
// longer, and both the read and the append are recorded. A transaction
// that fails with ErrConflict (at any step) is recorded as Failed with the
// operations it got through (a deadlock between GetForUpdate calls is such
// a conflict); any other error is returned. A final transaction reads
// every key. cfg.Level and cfg.LockingClients are begin's business.
func ListAppend(begin Begin, cfg ListAppendConfig) (elle.History, error) {
	var (
		mu      sync.Mutex
		h       elle.History
		nextID  atomic.Int64
		nextVal atomic.Int64
	)
	err := runClients(cfg.Clients, cfg.Seed, func(c int, rng *rand.Rand) error {
		for range cfg.Txns {
			t := elle.Txn{ID: int(nextID.Add(1))}
			n := 1 + rng.IntN(cfg.MaxOps)
			var plan []elle.Op
			for range n {
				key := cfg.Prefix + strconv.Itoa(rng.IntN(cfg.Keys))
				if rng.IntN(2) == 0 {
					plan = append(plan, elle.R(key, nil))
				} else {
					plan = append(plan, elle.A(key, int(nextVal.Add(1))))
				}
			}
			ops, status, err := runAppendTxn(begin, c, cfg.ForUpdate, plan)
			if err != nil {
				return err
			}
			t.Ops, t.Status = ops, status
			mu.Lock()
			h = append(h, t)
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var final []elle.Op
	for k := range cfg.Keys {
		final = append(final, elle.R(cfg.Prefix+strconv.Itoa(k), nil))
	}
	ops, status, err := runAppendTxn(begin, -1, false, final)
	if err != nil {
		return nil, err
	}
	h = append(h, elle.Txn{ID: int(nextID.Add(1)), Status: status, Ops: ops})
	return h, nil
}

// runAppendTxn performs plan in one transaction of client c and returns
// the operations as observed.
func runAppendTxn(begin Begin, c int, forUpdate bool, plan []elle.Op) ([]elle.Op, elle.Status, error) {
	tx, err := begin(c)
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
		list, err := readList(read, o.Key)
		if err == nil {
			ops = append(ops, elle.R(o.Key, list))
			if o.Kind == elle.Append {
				err = tx.Put([]byte(o.Key), encodeList(append(list, o.Value)))
				if err == nil {
					ops = append(ops, o)
				}
			}
		}
		if errors.Is(err, mvcc.ErrConflict) {
			return ops, elle.Failed, nil
		}
		if err != nil {
			return nil, 0, err
		}
		runtime.Gosched() // let the other clients interleave
	}
	if err := tx.Commit(); err != nil {
		if errors.Is(err, mvcc.ErrConflict) {
			return ops, elle.Failed, nil
		}
		return nil, 0, err
	}
	return ops, elle.OK, nil
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
