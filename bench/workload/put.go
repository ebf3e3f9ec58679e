package workload

import (
	"fmt"
	"math/rand/v2"

	"github.com/mvkv/mvkv/bench/engine"
	"github.com/mvkv/mvkv/mvcc"
)

// put is the commit-latency workload: every transaction is one blind write
// of a uniformly random key among Records (an overwrite: the keys are
// loaded first), of ValueSize bytes, and nothing else. What a transaction
// costs is then its commit: the group commit, and whatever the engine's
// background work (checkpoints, vacuum, compaction) makes a commit wait.
// Run it durable with a -duration of 30s or more to see those stalls in
// the latency timeline (the timeline-p99 chart).
//
// Invariant: every key holds the value of some write that was committed
// to it (its initial one, or one of the run's): a write is never torn.
type put struct {
	cfg Config
}

func newPut(cfg Config) *put { return &put{cfg: cfg} }

func (p *put) Name() string { return "put" }

func (p *put) Config() Config { return p.cfg }

func putKey(i int) []byte { return fmt.Appendf(nil, "put%010d", i) }

// putValue is ValueSize bytes that name their key and a round.
func (p *put) putValue(i int, round uint64) []byte {
	v := make([]byte, max(p.cfg.ValueSize, 24))
	copy(v, fmt.Appendf(nil, "%010d/%012d/", i, round))
	return v
}

func (p *put) Load(e engine.Engine, level mvcc.Level) error {
	return loadKeys(e, level, p.cfg.Records, putKey, func(i int) []byte { return p.putValue(i, 0) })
}

func (p *put) NewWorker(id, _ int, seed uint64) Worker {
	return &putWorker{p: p, r: rand.New(rand.NewPCG(seed, 0x9e7)), id: uint64(id)}
}

type putWorker struct {
	p  *put
	r  *rand.Rand
	id uint64
	n  uint64
}

func (w *putWorker) Next() Op {
	i := w.r.IntN(w.p.cfg.Records)
	w.n++
	key, val := putKey(i), w.p.putValue(i, w.id<<40|w.n)
	return Op{Name: "put", Fn: func(tx engine.Tx) error { return tx.Put(key, val) }}
}

func (p *put) Check(e engine.Engine, _ mvcc.Level) Invariant {
	inv := Invariant{Name: "every key holds a whole committed write of its own", MustHold: true}
	var bad int64
	err := e.Txn(loadLevel(e), true, func(tx engine.Tx) error {
		bad = 0
		for i := range p.cfg.Records {
			v, err := tx.Get(putKey(i))
			if err != nil {
				return err
			}
			want := fmt.Appendf(nil, "%010d/", i)
			if len(v) != max(p.cfg.ValueSize, 24) || string(v[:len(want)]) != string(want) {
				bad++
			}
		}
		return nil
	})
	inv.Holds = err == nil && bad == 0
	inv.Violations = bad
	inv.Detail = fmt.Sprintf("%d of %d keys hold a value that is not a whole write of theirs", bad, p.cfg.Records)
	if err != nil {
		inv.Detail = err.Error()
	}
	return inv
}
