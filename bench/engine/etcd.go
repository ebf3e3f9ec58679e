package engine

import (
	"context"
	"errors"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/mvkv/mvkv/bench/internal/etcdcluster"
	"github.com/mvkv/mvkv/mvcc"
)

// etcdEngine runs transactions as attempts of etcd's STM
// (clientv3/concurrency) on a three-member cluster started in this process
// for the run (package etcdcluster), through a client of one member.
type etcdEngine struct {
	c   *etcdcluster.Cluster
	cli *clientv3.Client
}

// etcdIso maps the mvkv levels onto the STM's: ReadCommitted; snapshot
// onto RepeatableReads (the name PostgreSQL gives its snapshot level),
// serializable onto SerializableSnapshot (NewSTM's default, the
// strongest).
var etcdIso = map[mvcc.Level]concurrency.Isolation{
	mvcc.ReadCommitted: concurrency.ReadCommitted,
	mvcc.Snapshot:      concurrency.RepeatableReads,
	mvcc.Serializable:  concurrency.SerializableSnapshot,
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
	return &etcdEngine{c: c, cli: cli}, nil
}

func (e *etcdEngine) Name() string         { return "etcd" }
func (e *etcdEngine) Levels() []mvcc.Level { return engineInfo["etcd"].levels }
func (e *etcdEngine) Note() string         { return engineInfo["etcd"].note }

// errSTMConflict: the STM's commit compare failed, and NewSTM called the
// function again to retry; the runner retries instead.
var errSTMConflict = errors.New("bench: etcd STM commit compare failed")

func (e *etcdEngine) Txn(level mvcc.Level, _ bool, fn func(Tx) error) error {
	attempts := 0
	_, err := concurrency.NewSTM(e.cli, func(s concurrency.STM) error {
		if attempts++; attempts > 1 {
			return errSTMConflict
		}
		return fn(stmBenchTx{s, e.cli})
	}, concurrency.WithIsolation(etcdIso[level]))
	return err
}

func (e *etcdEngine) Abort(err error) string {
	if errors.Is(err, errSTMConflict) {
		return "serialization"
	}
	return ""
}

func (e *etcdEngine) Close() error {
	err := e.cli.Close()
	e.c.Stop()
	return err
}

type stmBenchTx struct {
	s   concurrency.STM
	cli *clientv3.Client
}

func (t stmBenchTx) Get(key []byte) ([]byte, error) {
	k := string(key)
	v := t.s.Get(k)
	if v == "" && t.s.Rev(k) == 0 {
		return nil, ErrNotFound
	}
	return []byte(v), nil
}

func (t stmBenchTx) Put(key, value []byte) error {
	t.s.Put(string(key), string(value))
	return nil
}

func (t stmBenchTx) Delete(key []byte) error {
	t.s.Del(string(key))
	return nil
}

// Scan lists the keys with a plain range read (the STM has none) and
// reads them through the STM in one round trip; the range itself is not
// part of the commit's check.
func (t stmBenchTx) Scan(start, end []byte, limit int, fn func(key, value []byte) bool) error {
	opts := []clientv3.OpOption{clientv3.WithKeysOnly(), clientv3.WithLimit(int64(max(limit, 0)))}
	if end != nil {
		opts = append(opts, clientv3.WithRange(string(end)))
	} else {
		opts = append(opts, clientv3.WithFromKey())
	}
	if start == nil {
		start = []byte{0}
	}
	resp, err := t.cli.Get(context.Background(), string(start), opts...)
	if err != nil {
		return err
	}
	keys := make([]string, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		keys[i] = string(kv.Key)
	}
	for lo := 0; lo < len(keys); lo += 1000 {
		t.s.Get(keys[lo:min(len(keys), lo+1000)]...) // fetches them into the read set
	}
	for _, k := range keys {
		if v, err := t.Get([]byte(k)); err == nil && !fn([]byte(k), v) {
			break
		}
	}
	return nil
}
