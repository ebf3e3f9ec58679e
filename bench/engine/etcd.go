package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/mvkv/mvkv/bench/internal/etcdcluster"
	"github.com/mvkv/mvkv/mvcc"
)

// etcd is adapted once, here: the benchmark's engine "etcd" and the
// cross-engine suites (bench/crossengine) run transactions as attempts of
// etcd's STM (clientv3/concurrency) through EtcdSpace and EtcdTx.

// EtcdLevel is the STM level named like each mvkv level: ReadCommitted;
// snapshot onto RepeatableReads (the name PostgreSQL gives its snapshot
// level); serializable onto SerializableSnapshot (NewSTM's default, the
// strongest).
func EtcdLevel(level mvcc.Level) concurrency.Isolation {
	switch level {
	case mvcc.ReadCommitted:
		return concurrency.ReadCommitted
	case mvcc.Snapshot:
		return concurrency.RepeatableReads
	}
	return concurrency.SerializableSnapshot
}

// EtcdSpace is a key space of an etcd cluster: the keys under one prefix.
type EtcdSpace struct {
	cli    *clientv3.Client
	prefix string
}

// NewEtcdSpace is the keys under prefix, through cli.
func NewEtcdSpace(cli *clientv3.Client, prefix string) *EtcdSpace {
	return &EtcdSpace{cli: cli, prefix: prefix}
}

// etcdLockPrefix is where GetForUpdate's mutexes live, outside the data.
const etcdLockPrefix = "/mvkv-locks"

// Load writes the pairs in one etcd transaction.
func (s *EtcdSpace) Load(ctx context.Context, kvs [][2][]byte) error {
	ops := make([]clientv3.Op, 0, len(kvs))
	for _, kv := range kvs {
		ops = append(ops, clientv3.OpPut(s.prefix+string(kv[0]), string(kv[1])))
	}
	_, err := s.cli.Txn(ctx).Then(ops...).Commit()
	return err
}

// Dump returns the committed pairs in key order.
func (s *EtcdSpace) Dump(ctx context.Context) ([][2][]byte, error) {
	resp, err := s.cli.Get(ctx, s.prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, err
	}
	kvs := make([][2][]byte, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		kvs = append(kvs, [2][]byte{kv.Key[len(s.prefix):], kv.Value})
	}
	return kvs, nil
}

// Clear deletes the space's keys and GetForUpdate's locks on them.
func (s *EtcdSpace) Clear(ctx context.Context) error {
	_, err := s.cli.Delete(ctx, s.prefix, clientv3.WithPrefix())
	if err == nil {
		_, err = s.cli.Delete(ctx, etcdLockPrefix+s.prefix, clientv3.WithPrefix())
	}
	return err
}

// Begin starts a transaction: one STM attempt at iso. ctx bounds its
// waits and aborts the attempt when it ends.
func (s *EtcdSpace) Begin(ctx context.Context, iso concurrency.Isolation, readOnly bool) *EtcdTx {
	t := &EtcdTx{ctx: ctx, s: s, iso: iso, readOnly: readOnly, reqs: make(chan stmReq), result: make(chan error, 1),
		writes: make(map[string]*string)}
	go t.run()
	return t
}

// EtcdTx drives one STM attempt interactively, with mvcc's error
// conventions. concurrency.NewSTM runs an apply function and retries it
// until its commit succeeds; here the apply function runs on its own
// goroutine and executes the steps it is sent, one at a time, and returns
// when told to commit or roll back. A second call of it means the
// commit's compare failed: it returns at once, and the transaction fails
// with ErrConflict, for its caller to retry. It is used by one goroutine
// at a time.
type EtcdTx struct {
	ctx      context.Context
	s        *EtcdSpace
	iso      concurrency.Isolation
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

func (t *EtcdTx) run() {
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
	}, concurrency.WithIsolation(t.iso), concurrency.WithAbortContext(t.ctx))
	t.result <- err
}

// do runs fn in the STM. A client error inside the STM (a cancelled
// context) ends the attempt, and so the transaction.
func (t *EtcdTx) do(fn func(concurrency.STM)) error {
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
func (t *EtcdTx) finish(err error) error {
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

// Get reads key through the STM (own writes first).
func (t *EtcdTx) Get(key []byte) ([]byte, error) {
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
func (t *EtcdTx) GetForUpdate(key []byte) ([]byte, error) {
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
	m := concurrency.NewMutex(t.sess, etcdLockPrefix+t.s.prefix+string(key))
	if err := m.Lock(t.ctx); err != nil {
		return nil, t.abort(err)
	}
	t.locks = append(t.locks, m)
	return t.Get(key)
}

// abort ends the attempt after an error outside the STM.
func (t *EtcdTx) abort(err error) error {
	if rerr := t.Rollback(); rerr != nil {
		return rerr
	}
	t.err = err
	return err
}

func (t *EtcdTx) write(key []byte, value *string) error {
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

// Put writes key in the STM's write set.
func (t *EtcdTx) Put(key, value []byte) error {
	v := string(value)
	return t.write(key, &v)
}

// Delete deletes key in the STM's write set.
func (t *EtcdTx) Delete(key []byte) error { return t.write(key, nil) }

// Scan yields the keys of [start, end) in order (nil: unbounded).
func (t *EtcdTx) Scan(start, end []byte) iter.Seq2[[]byte, []byte] { return t.ScanN(start, end, 0) }

// etcdFetchBatch is how many keys one STM read fetches (one round trip).
const etcdFetchBatch = 1000

// ScanN emulates a range read, which the STM lacks, the way an STM user
// must: it lists the keys of the range with a plain (linearizable) range
// read outside the transaction (at most limit of them, when limit > 0),
// then reads them through the STM, etcdFetchBatch per round trip (a key
// absent at the STM's snapshot is skipped, so a limited scan may yield
// fewer than limit keys). The range itself is not checked at commit,
// only the keys read: new keys in the range (phantoms) go unnoticed, and
// at Serializable a key deleted since the snapshot is missed.
func (t *EtcdTx) ScanN(start, end []byte, limit int) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		if t.done {
			return
		}
		from := t.s.prefix + string(start)
		to := t.s.prefix + string(end)
		if end == nil {
			to = clientv3.GetPrefixRangeEnd(t.s.prefix)
		}
		resp, err := t.s.cli.Get(t.ctx, from, clientv3.WithRange(to), clientv3.WithKeysOnly(),
			clientv3.WithLimit(int64(max(limit, 0))))
		if err != nil {
			t.abort(err) //nolint:errcheck // err is what the caller learns, from Err
			return
		}
		inRange := make(map[string]bool)
		for _, kv := range resp.Kvs {
			inRange[string(kv.Key[len(t.s.prefix):])] = true
		}
		for k := range t.writes {
			if k >= string(start) && (end == nil || k < string(end)) {
				inRange[k] = true
			}
		}
		keys := slices.Sorted(maps.Keys(inRange))
		var fetch []string
		for _, k := range keys {
			if _, own := t.writes[k]; !own {
				fetch = append(fetch, t.s.prefix+k)
			}
		}
		for lo := 0; lo < len(fetch); lo += etcdFetchBatch {
			batch := fetch[lo:min(len(fetch), lo+etcdFetchBatch)]
			if err := t.do(func(stm concurrency.STM) { stm.Get(batch...) }); err != nil {
				return // ended the transaction; Err says why
			}
		}
		n := 0
		for _, k := range keys {
			v, err := t.Get([]byte(k)) // fetched above: no round trip
			if errors.Is(err, mvcc.ErrNotFound) {
				continue
			}
			if err != nil || !yield([]byte(k), bytes.Clone(v)) {
				return
			}
			if n++; limit > 0 && n == limit {
				return
			}
		}
	}
}

// Err is what ended the transaction, if anything.
func (t *EtcdTx) Err() error { return t.err }

func (t *EtcdTx) end(abort bool) error {
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

// Commit ends the attempt; a failed compare is ErrConflict.
func (t *EtcdTx) Commit() error { return t.end(false) }

// Rollback ends the attempt without effect.
func (t *EtcdTx) Rollback() error { return t.end(true) }

// etcdEngine is the engine "etcd": a three-member cluster started in this
// process for the run (package etcdcluster), one EtcdSpace, through a
// client of one member.
type etcdEngine struct {
	c     *etcdcluster.Cluster
	cli   *clientv3.Client
	space *EtcdSpace
}

func openEtcd(dir string, opts Options) (*etcdEngine, error) {
	c, err := etcdcluster.Start(etcdcluster.Options{Durable: opts.Durable, Dir: dir})
	if err != nil {
		return nil, err
	}
	// One member: balanced over three, the STM's Serializable reads at
	// a fixed revision fail on a member that has not applied it yet
	// ("required revision is a future revision").
	cli, err := c.Client(false)
	if err != nil {
		c.Stop()
		return nil, err
	}
	return &etcdEngine{c: c, cli: cli, space: NewEtcdSpace(cli, "/kv/")}, nil
}

func (e *etcdEngine) Name() string         { return "etcd" }
func (e *etcdEngine) Levels() []mvcc.Level { return engineInfo["etcd"].levels }
func (e *etcdEngine) Note() string         { return engineInfo["etcd"].note }

func (e *etcdEngine) Txn(level mvcc.Level, readOnly bool, fn func(Tx) error) error {
	return runTxn(e.space.Begin(context.Background(), EtcdLevel(level), readOnly), fn)
}

// Abort: a failed commit compare is the one abort the STM has.
func (e *etcdEngine) Abort(err error) string {
	if errors.Is(err, mvcc.ErrConflict) {
		return "serialization"
	}
	return ""
}

func (e *etcdEngine) Close() error {
	err := e.cli.Close()
	e.c.Stop()
	return err
}
