package crossengine

import (
	"context"
	"fmt"
	"sync/atomic"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/bench/engine"
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
// store is a key prefix of its own (engine.EtcdSpace, the benchmark's
// adapter), every transaction an STM attempt.
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
				return &etcdStore{space: engine.NewEtcdSpace(e.cli, fmt.Sprintf("/mvkv/%d/", e.next.Add(1))), iso: l.Iso}, nil
			},
		})
	}
	return ts
}

// etcdStore is a key prefix at one STM level.
type etcdStore struct {
	space *engine.EtcdSpace
	iso   concurrency.Isolation
}

func (s *etcdStore) Load(kvs []anomalies.KV) error {
	return s.space.Load(context.Background(), toPairs(kvs))
}

func (s *etcdStore) Dump() ([]anomalies.KV, error) {
	pairs, err := s.space.Dump(context.Background())
	return fromPairs(pairs), err
}

func (s *etcdStore) Close() error { return s.space.Clear(context.Background()) }

func (s *etcdStore) Begin(ctx context.Context, readOnly bool) (anomalies.Tx, error) {
	return s.space.Begin(ctx, s.iso, readOnly), nil
}
