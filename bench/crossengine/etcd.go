package crossengine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"sync/atomic"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/mvcc"
)

// EtcdLevels are the isolation levels of etcd's STM
// (clientv3/concurrency), weakest first, with the mvkv level each is
// compared with. What they do, from the STM's source:
//
//   - ReadCommitted: every key is read at the latest revision the member
//     has applied, and then cached for the rest of the attempt (a second
//     read of a key returns the first value); the commit checks nothing.
//   - RepeatableReads: reads as ReadCommitted; the commit checks that no
//     key read has changed since it was read. That is optimistic
//     concurrency control: it makes committed transactions serializable,
//     though their reads need not come from one snapshot.
//   - Serializable: every read at the revision of the attempt's first
//     read (a snapshot); the commit checks the keys read, as above.
//   - SerializableSnapshot (NewSTM's default): Serializable, plus a
//     check that no key written has changed since the snapshot
//     (first-committer-wins).
//
// None of them tracks ranges: the STM has no range read.
var EtcdLevels = []struct {
	Name string
	Iso  concurrency.Isolation
	Like mvcc.Level
}{
	{"ReadCommitted", concurrency.ReadCommitted, mvcc.ReadCommitted},
	{"RepeatableReads", concurrency.RepeatableReads, mvcc.Snapshot},
	{"Serializable", concurrency.Serializable, mvcc.Serializable},
	{"SerializableSnapshot", concurrency.SerializableSnapshot, mvcc.Serializable},
}

// Etcd is an etcd cluster the anomalies and the checkers run on: every
// store is a key prefix of its own, every transaction an STM attempt.
type Etcd struct {
	cli  *clientv3.Client
	next atomic.Int64
}

// NewEtcd runs stores through cli.
func NewEtcd(cli *clientv3.Client) *Etcd { return &Etcd{cli: cli} }

// Targets are the STM's levels, weakest first.
func (e *Etcd) Targets() []anomalies.Target {
	var ts []anomalies.Target
	for _, l := range EtcdLevels {
		ts = append(ts, anomalies.Target{
			Engine: "etcd", Level: l.Name, Like: l.Like,
			Open: func() (anomalies.Store, error) {
				return &etcdStore{cli: e.cli, iso: l.Iso, prefix: fmt.Sprintf("/mvkv/%d/", e.next.Add(1))}, nil
			},
		})
	}
	return ts
}

// etcdStore is a key prefix at one STM level.
type etcdStore struct {
	cli    *clientv3.Client
	iso    concurrency.Isolation
	prefix string
}

func (s *etcdStore) Load(kvs []anomalies.KV) error {
	var ops []clientv3.Op
	for _, kv := range kvs {
		ops = append(ops, clientv3.OpPut(s.prefix+kv.Key, kv.Value))
	}
	_, err := s.cli.Txn(context.Background()).Then(ops...).Commit()
	return err
}

func (s *etcdStore) Dump() ([]anomalies.KV, error) {
	resp, err := s.cli.Get(context.Background(), s.prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, err
	}
	var kvs []anomalies.KV
	for _, kv := range resp.Kvs {
		kvs = append(kvs, anomalies.KV{Key: string(kv.Key[len(s.prefix):]), Value: string(kv.Value)})
	}
	return kvs, nil
}

func (s *etcdStore) Close() error {
	_, err := s.cli.Delete(context.Background(), s.prefix, clientv3.WithPrefix())
	if err == nil {
		_, err = s.cli.Delete(context.Background(), lockPrefix+s.prefix, clientv3.WithPrefix())
	}
	return err
}

// lockPrefix is where GetForUpdate's mutexes live, outside the data.
const lockPrefix = "/mvkv-locks"

func (s *etcdStore) Begin(ctx context.Context, readOnly bool) (anomalies.Tx, error) {
	t := &stmTx{ctx: ctx, s: s, readOnly: readOnly, reqs: make(chan stmReq), result: make(chan error, 1),
		writes: make(map[string]*string)}
	go t.run()
	return t, nil
}

// stmTx drives one STM attempt interactively. concurrency.NewSTM runs an
// apply function and retries it until its commit succeeds; here the apply
// function runs on its own goroutine and executes the steps it is sent,
// one at a time, and returns when told to commit or roll back. A second
// call of it means the commit's compare failed: it returns errRetried at
// once, which is the transaction's ErrConflict.
type stmTx struct {
	ctx      context.Context
	s        *etcdStore
	readOnly bool
	reqs     chan stmReq
	result   chan error // what NewSTM returned

	// Used by the caller's goroutine only.
	writes map[string]*string // own writes by key (without prefix); nil: deleted
	sess   *concurrency.Session
	locks  []*concurrency.Mutex
	err    error
	done   bool
}

type stmReq struct {
	fn    func(concurrency.STM) // nil: end the attempt
	abort bool                  // with fn nil: roll back instead of committing
	reply chan struct{}
}

var (
	errRetried    = errors.New("retried")
	errRolledBack = errors.New("rolled back")
)

func (t *stmTx) run() {
	attempts := 0
	_, err := concurrency.NewSTM(t.s.cli, func(stm concurrency.STM) error {
		if attempts++; attempts > 1 {
			return errRetried
		}
		for r := range t.reqs {
			if r.fn == nil {
				if r.abort {
					return errRolledBack
				}
				return nil
			}
			r.fn(stm)
			close(r.reply)
		}
		return errRolledBack
	}, concurrency.WithIsolation(t.s.iso), concurrency.WithAbortContext(t.ctx))
	t.result <- err
}

// do runs fn in the STM. A client error inside the STM (a cancelled
// context) ends the attempt, and so the transaction.
func (t *stmTx) do(fn func(concurrency.STM)) error {
	if t.done {
		return mvcc.ErrTxnDone
	}
	r := stmReq{fn: fn, reply: make(chan struct{})}
	select {
	case t.reqs <- r:
	case err := <-t.result:
		return t.finish(err)
	}
	select {
	case <-r.reply:
		return nil
	case err := <-t.result:
		return t.finish(err)
	}
}

// finish records the end of the attempt and releases the locks.
func (t *stmTx) finish(err error) error {
	t.done = true
	for _, m := range t.locks {
		_ = m.Unlock(context.Background())
	}
	if t.sess != nil {
		_ = t.sess.Close()
	}
	switch {
	case err == nil, errors.Is(err, errRolledBack):
		return nil
	case errors.Is(err, errRetried):
		err = fmt.Errorf("%w: etcd STM: the commit's compare failed (a key read, or at SerializableSnapshot a key written, changed)", mvcc.ErrConflict)
	}
	t.err = err
	return err
}

func (t *stmTx) Get(key []byte) ([]byte, error) {
	k := string(key)
	if v, ok := t.writes[k]; ok {
		if v == nil {
			return nil, mvcc.ErrNotFound
		}
		return []byte(*v), nil
	}
	var v string
	var rev int64
	if err := t.do(func(stm concurrency.STM) { v, rev = stm.Get(t.s.prefix+k), stm.Rev(t.s.prefix+k) }); err != nil {
		return nil, err
	}
	if rev == 0 {
		return nil, mvcc.ErrNotFound
	}
	return []byte(v), nil
}

// GetForUpdate has no STM equivalent. It is emulated: a
// concurrency.Mutex on the key (an etcd lock held by a lease), taken
// before the read and released after the commit. Waiting for it ends only
// when the holder ends or the context is cancelled: etcd finds no
// deadlocks.
func (t *stmTx) GetForUpdate(key []byte) ([]byte, error) {
	if t.done {
		return nil, mvcc.ErrTxnDone
	}
	if t.sess == nil {
		sess, err := concurrency.NewSession(t.s.cli, concurrency.WithContext(t.ctx), concurrency.WithTTL(10))
		if err != nil {
			return nil, err
		}
		t.sess = sess
	}
	m := concurrency.NewMutex(t.sess, lockPrefix+t.s.prefix+string(key))
	if err := m.Lock(t.ctx); err != nil {
		return nil, t.abort(err)
	}
	t.locks = append(t.locks, m)
	return t.Get(key)
}

// abort ends the attempt after an error outside the STM.
func (t *stmTx) abort(err error) error {
	if rerr := t.Rollback(); rerr != nil {
		return rerr
	}
	t.err = err
	return err
}

func (t *stmTx) write(key []byte, value *string) error {
	if t.readOnly {
		return mvcc.ErrReadOnly
	}
	k := t.s.prefix + string(key)
	err := t.do(func(stm concurrency.STM) {
		if value == nil {
			stm.Del(k)
		} else {
			stm.Put(k, *value)
		}
	})
	if err == nil {
		t.writes[string(key)] = value
	}
	return err
}

func (t *stmTx) Put(key, value []byte) error {
	v := string(value)
	return t.write(key, &v)
}

func (t *stmTx) Delete(key []byte) error { return t.write(key, nil) }

// Scan emulates a range read, which the STM lacks, the way an STM user
// must: it lists the keys of the range with a plain (linearizable) range
// read outside the transaction, then reads each through the STM (a key
// absent at the STM's snapshot is skipped). The range itself is not
// checked at commit, only the keys read: new keys in the range (phantoms)
// go unnoticed, and at Serializable a key deleted since the snapshot is
// missed.
func (t *stmTx) Scan(start, end []byte) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		if t.done {
			return
		}
		from := t.s.prefix + string(start)
		to := t.s.prefix + string(end)
		if end == nil {
			to = clientv3.GetPrefixRangeEnd(t.s.prefix)
		}
		resp, err := t.s.cli.Get(t.ctx, from, clientv3.WithRange(to), clientv3.WithKeysOnly())
		if err != nil {
			t.abort(err) //nolint:errcheck // err is what the caller learns; abort records it
			return
		}
		keys := make(map[string]bool)
		for _, kv := range resp.Kvs {
			keys[string(kv.Key[len(t.s.prefix):])] = true
		}
		for k := range t.writes {
			if k >= string(start) && (end == nil || k < string(end)) {
				keys[k] = true
			}
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			v, err := t.Get([]byte(k))
			if errors.Is(err, mvcc.ErrNotFound) {
				continue
			}
			if err != nil || !yield([]byte(k), bytes.Clone(v)) {
				return
			}
		}
	}
}

func (t *stmTx) Err() error { return t.err }

func (t *stmTx) end(abort bool) error {
	if t.done {
		return mvcc.ErrTxnDone
	}
	select {
	case t.reqs <- stmReq{abort: abort}:
	case err := <-t.result:
		return t.finish(err)
	}
	return t.finish(<-t.result)
}

func (t *stmTx) Commit() error   { return t.end(false) }
func (t *stmTx) Rollback() error { return t.end(true) }
