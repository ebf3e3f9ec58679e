package workload

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync/atomic"

	"github.com/mvkv/mvkv/bench/engine"
	"github.com/mvkv/mvkv/mvcc"
)

// bank moves money between accounts. Invariant: the total never changes
// and no balance goes negative. A transfer reads both balances and writes
// both; two concurrent transfers touching one account must not both
// commit on stale reads, which snapshot isolation (first committer wins)
// and serializable guarantee and read committed does not (lost updates).
// 5% of operations are audits: a read-only scan summing every balance,
// which must see the total (a consistent snapshot) at every level whose
// reads come from one snapshot.
type bank struct {
	cfg          Config
	pause        pause
	accounts     int
	badAudits    atomic.Int64
	totalInitial int64
}

const initialBalance = 1000

// newBank makes a bank of accounts accounts (default 1,000: fewer than the
// generic default of records, for contention).
func newBank(cfg Config, accounts int) *bank {
	n := accounts
	if n <= 1 {
		n = 1000
	}
	return &bank{cfg: cfg, pause: newPause(cfg), accounts: n, totalInitial: int64(n) * initialBalance}
}

func (b *bank) Name() string { return "bank" }

func (b *bank) Config() Config {
	c := b.cfg
	c.Records = b.accounts
	return c
}

func accountKey(i int) []byte { return fmt.Appendf(nil, "acct%08d", i) }

func encodeInt(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

func decodeInt(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("bench: bad counter of %d bytes", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

func (b *bank) Load(e engine.Engine, level mvcc.Level) error {
	return loadKeys(e, level, b.accounts, accountKey, func(int) []byte { return encodeInt(initialBalance) })
}

func (b *bank) NewWorker(_, _ int, seed uint64) Worker {
	b.pause.join()
	return &bankWorker{b: b, r: rand.New(rand.NewPCG(seed, 0xba4c))}
}

type bankWorker struct {
	b *bank
	r *rand.Rand
}

func (k *bankWorker) Stop() { k.b.pause.leave() }

func (k *bankWorker) Next() Op {
	b, r := k.b, k.r
	if r.IntN(100) < 5 {
		return Op{Name: "audit", ReadOnly: true, Fn: func(tx engine.Tx) error {
			sum, err := b.sum(tx)
			if err == nil && sum != b.totalInitial {
				b.badAudits.Add(1)
			}
			return err
		}}
	}
	from := r.IntN(b.accounts)
	to := (from + 1 + r.IntN(b.accounts-1)) % b.accounts
	amount := int64(1 + r.IntN(100))
	return Op{Name: "transfer", Fn: func(tx engine.Tx) error {
		fb, err := getInt(tx, accountKey(from))
		if err != nil {
			return err
		}
		tb, err := getInt(tx, accountKey(to))
		if err != nil {
			return err
		}
		if fb < amount {
			b.pause.between() // a round waits for every goroutine's transaction
			return nil        // insufficient funds: a committed no-op
		}
		b.pause.between()
		if err := tx.Put(accountKey(from), encodeInt(fb-amount)); err != nil {
			return err
		}
		return tx.Put(accountKey(to), encodeInt(tb+amount))
	}}
}

func getInt(tx engine.Tx, key []byte) (int64, error) {
	v, err := tx.Get(key)
	if err != nil {
		return 0, fmt.Errorf("bench: read %s: %w", key, err)
	}
	return decodeInt(v)
}

// sum adds every balance and fails on a negative one.
func (b *bank) sum(tx engine.Tx) (int64, error) {
	var sum int64
	var bad error
	err := tx.Scan(accountKey(0), accountKey(b.accounts), 0, func(k, v []byte) bool {
		n, err := decodeInt(v)
		if err == nil && n < 0 {
			err = fmt.Errorf("bench: %s has balance %d", k, n)
		}
		bad = err
		sum += n
		return err == nil
	})
	if bad != nil {
		return 0, bad
	}
	return sum, err
}

func (b *bank) Check(e engine.Engine, level mvcc.Level) Invariant {
	inv := Invariant{Name: "total balance unchanged", MustHold: level != mvcc.ReadCommitted}
	var sum int64
	err := e.Txn(loadLevel(e), true, func(tx engine.Tx) (err error) { sum, err = b.sum(tx); return err })
	bad := b.badAudits.Load()
	inv.Holds = err == nil && sum == b.totalInitial && bad == 0
	inv.Violations = bad
	if sum != b.totalInitial {
		inv.Violations++
	}
	inv.Detail = fmt.Sprintf("total %d, expected %d; %d audits saw another total", sum, b.totalInitial, bad)
	if err != nil {
		inv.Detail = err.Error()
	}
	return inv
}
