package workload

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"

	"github.com/mvkv/mvkv/bench/engine"
	"github.com/mvkv/mvkv/mvcc"
)

// hotKey is the contention sweep: every transaction increments one of
// HotKeys counters (read, add one, write). With one hot key every pair of
// concurrent transactions collides; with many, few do. Sweeping HotKeys
// (the CLI's -hot-keys 1,4,16,...) gives abort rate against contention.
//
// Invariant: the counters add up to the number of committed increments.
// Snapshot and serializable promise it (first committer wins); read
// committed loses updates.
type hotKey struct {
	cfg       Config
	pause     pause
	committed atomic.Int64
}

func newHotKey(cfg Config) *hotKey { return &hotKey{cfg: cfg, pause: newPause(cfg)} }

func (h *hotKey) Name() string { return "hotkey" }

func (h *hotKey) Config() Config { return h.cfg }

func counterKey(i int) []byte { return fmt.Appendf(nil, "hot%06d", i) }

func (h *hotKey) Load(e engine.Engine, level mvcc.Level) error {
	return loadKeys(e, level, h.cfg.HotKeys, counterKey, func(int) []byte { return encodeInt(0) })
}

func (h *hotKey) NewWorker(_, _ int, seed uint64) Worker {
	h.pause.join()
	return &hotWorker{h: h, r: rand.New(rand.NewPCG(seed, 0x407))}
}

type hotWorker struct {
	h *hotKey
	r *rand.Rand
}

func (k *hotWorker) Stop() { k.h.pause.leave() }

func (k *hotWorker) Next() Op {
	h := k.h
	key := counterKey(k.r.IntN(h.cfg.HotKeys))
	return Op{
		Name: "increment",
		Fn: func(tx engine.Tx) error {
			n, err := getInt(tx, key)
			if err != nil {
				return err
			}
			h.pause.between()
			return tx.Put(key, encodeInt(n+1))
		},
		Done: func() { h.committed.Add(1) },
	}
}

func (h *hotKey) Check(e engine.Engine, level mvcc.Level) Invariant {
	inv := Invariant{Name: "counters sum to committed increments", MustHold: level != mvcc.ReadCommitted}
	var sum int64
	err := e.Txn(loadLevel(e), true, func(tx engine.Tx) error {
		sum = 0
		for i := range h.cfg.HotKeys {
			n, err := getInt(tx, counterKey(i))
			if err != nil {
				return err
			}
			sum += n
		}
		return nil
	})
	want := h.committed.Load()
	inv.Holds = err == nil && sum == want
	inv.Violations = want - sum
	inv.Detail = fmt.Sprintf("counters sum to %d, %d increments committed (%d lost)", sum, want, want-sum)
	if err != nil {
		inv.Detail = err.Error()
	}
	return inv
}
