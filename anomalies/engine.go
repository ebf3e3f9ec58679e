package anomalies

import (
	"context"
	"fmt"
	"iter"
	"os"
	"path/filepath"

	"github.com/mvkv/mvkv/mvcc"
)

// Tx is what a step sees of its session's transaction: the methods of
// *mvcc.Txn that steps use, so that a scenario runs unchanged on any store
// that can offer them. Other stores report their errors as mvcc's
// sentinels: ErrNotFound for an absent key, ErrConflict for a write-write
// conflict or a serialization failure, ErrDeadlock (which also matches
// ErrConflict) for a lock cycle, ErrTxnDone after the transaction ended.
type Tx interface {
	Get(key []byte) ([]byte, error)
	// GetForUpdate reads key and locks it until the transaction ends.
	GetForUpdate(key []byte) ([]byte, error)
	Put(key, value []byte) error
	Delete(key []byte) error
	// Scan yields the keys of [start, end) in ascending order, the
	// transaction's own writes included.
	Scan(start, end []byte) iter.Seq2[[]byte, []byte]
	// Err reports an error that ended the transaction during a Scan
	// (which has no error result), without touching data.
	Err() error
	Commit() error
	Rollback() error
}

// LockWaiter is a Tx that can tell whether it waits for a lock. The
// runner decides that a step that may wait (Step.MayWait,
// Target.WritesWait) is blocked when it has not finished within
// Options.Grace. That is a guess: a statement may be slow without waiting
// for anyone (a loaded machine, a commit's fsync), and a slow step shown
// blocked changes the interleaving, and so the outcome. When the step's
// Tx is a LockWaiter the runner asks it instead, past the grace period:
// only a step whose transaction waits for another's lock is shown
// blocked; one that does not is waited for, and asked again now and then,
// up to Options.Stuck. A store whose engine cannot tell leaves its
// transactions on the grace period alone.
type LockWaiter interface {
	// WaitsForLock reports whether the transaction is waiting, now, for
	// a lock that another transaction holds (or waits for ahead of it).
	// A lock granted is not waited for, even if the waiting statement
	// has not resumed yet: the runner then waits for it to finish. It is
	// called on the runner's goroutine while a method of the transaction
	// runs on the session's, so it must be safe for that; ctx bounds it.
	WaitsForLock(ctx context.Context) (bool, error)
}

// Store is one engine at one isolation level, fresh and empty, for one
// run of a scenario.
type Store interface {
	// Load commits kvs in one transaction (the scenario's setup).
	Load(kvs []KV) error
	// Begin starts a session's transaction. ctx bounds every wait of the
	// transaction; the runner cancels it to end a wait the script leaves
	// behind. Begin itself must not wait for another transaction: the
	// runner waits for it up to Options.Stuck.
	Begin(ctx context.Context, readOnly bool) (Tx, error)
	// Dump returns the committed data, in key order.
	Dump() ([]KV, error)
	Close() error
}

// Target is an isolation level of an engine: where a scenario runs, and a
// column of a matrix.
type Target struct {
	// Engine names the store ("mvkv", "postgres", "etcd").
	Engine string
	// Level is the level in the engine's own words ("snapshot",
	// "repeatable read", "SerializableSnapshot").
	Level string
	// Like is the mvkv level the target is compared with: what the
	// outcome reports as its Level.
	Like mvcc.Level
	// WritesWait is true for engines that lock rows as they write them
	// (PostgreSQL), so that any step, not only a GetForUpdate, may wait
	// for another session.
	WritesWait bool
	// Open returns a fresh, empty store at this level.
	Open func() (Store, error)
}

// Name is how outcomes and matrices name the target: the level alone for
// mvkv ("snapshot"), engine and level for the others ("postgres
// repeatable read").
func (t Target) Name() string {
	if t.Engine == "mvkv" {
		return t.Level
	}
	return t.Engine + " " + t.Level
}

// MVKV is mvkv at level: each run on a new database in a temporary
// directory under dir (os.TempDir() when empty), removed afterwards.
func MVKV(level mvcc.Level, dir string) Target {
	return mvkvTarget(level.String(), mvcc.TxOptions{Isolation: level}, dir)
}

// Locking names the matrix's fourth column: mvkv serializable by strict
// two-phase locking with key-range locks (TxOptions.Locking).
const Locking = "serializable-locking"

// MVKVLocking is mvkv at serializable by two-phase locking: the column
// Locking. Any step may wait there (a read waits for a writer's lock), so
// the target has WritesWait.
func MVKVLocking(dir string) Target {
	t := mvkvTarget(Locking, mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: true}, dir)
	t.WritesWait = true
	return t
}

func mvkvTarget(name string, opts mvcc.TxOptions, dir string) Target {
	return Target{Engine: "mvkv", Level: name, Like: opts.Isolation, Open: func() (Store, error) {
		d, err := os.MkdirTemp(dir, "mvkv-anomaly-*")
		if err != nil {
			return nil, err
		}
		db, err := mvcc.Open(filepath.Join(d, "db"), &mvcc.Options{NoSync: true, InitialMmapSize: 1 << 20})
		if err != nil {
			os.RemoveAll(d)
			return nil, err
		}
		return &mvkvStore{db: db, dir: d, opts: opts}, nil
	}}
}

// mvkvStore is the default store: an mvkv database whose transactions
// begin with opts.
type mvkvStore struct {
	db   *mvcc.DB
	dir  string
	opts mvcc.TxOptions
}

func (s *mvkvStore) Load(kvs []KV) error {
	return s.db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
		for _, kv := range kvs {
			if err := tx.Put([]byte(kv.Key), []byte(kv.Value)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *mvkvStore) Begin(ctx context.Context, readOnly bool) (Tx, error) {
	opts := s.opts
	opts.ReadOnly = readOnly
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return tx, nil
}

func (s *mvkvStore) Dump() ([]KV, error) {
	var kvs []KV
	err := s.db.View(context.Background(), func(tx *mvcc.Txn) error {
		for k, v := range tx.Scan(nil, nil) {
			kvs = append(kvs, KV{string(k), string(v)})
		}
		return nil
	})
	return kvs, err
}

func (s *mvkvStore) Close() error {
	err := s.db.Close()
	if rerr := os.RemoveAll(s.dir); err == nil {
		err = rerr
	}
	return err
}

// RunOn runs the anomaly's scenario on target and checks the outcome.
func (a *Anomaly) RunOn(target Target, opts *Options) (*Result, error) {
	o, err := RunOn(&a.Scenario, target, opts)
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w", a.Name, target.Name(), err)
	}
	happened, evidence := a.Check(o)
	return &Result{Anomaly: a, Outcome: o, Happened: happened, Evidence: evidence}, nil
}
