package workload

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"

	"github.com/mvkv/mvkv/bench/engine"
	"github.com/mvkv/mvkv/mvcc"
)

// writeSkew is the doctors-on-call example of write skew (Cahill et al.,
// SIGMOD 2008). Each shift has two doctors; the rule is that at least one
// is on call. A transaction picks a shift and a doctor and reads both:
// if both are on call, its doctor goes off; if neither is (the rule was
// broken), it counts a violation and puts its doctor back on; if one is,
// and it is the other, its doctor comes back on. Two concurrent
// transactions that each see both on call write different keys, so
// snapshot isolation lets both commit and the shift is left empty: the
// write skew. Serializable must prevent it; read committed allows it too.
//
// A violation is counted whenever a transaction reads a shift with nobody
// on call: its reads come from a committed state, so that state broke the
// rule. Shifts are Config.HotKeys (default 4): fewer shifts, more
// contention.
type writeSkew struct {
	cfg        Config
	pause      pause
	shifts     int
	violations atomic.Int64
}

// newWriteSkew makes shifts shifts (default 4: few, for contention).
func newWriteSkew(cfg Config, shifts int) *writeSkew {
	n := shifts
	if n <= 0 {
		n = 4
	}
	return &writeSkew{cfg: cfg, pause: newPause(cfg), shifts: n}
}

func (w *writeSkew) Name() string { return "writeskew" }

func (w *writeSkew) Config() Config {
	c := w.cfg
	c.HotKeys = w.shifts
	return c
}

func doctorKey(shift, doctor int) []byte {
	return fmt.Appendf(nil, "shift%06d/doctor%d", shift, doctor)
}

var (
	onCall  = []byte{1}
	offCall = []byte{0}
)

func (w *writeSkew) Load(e engine.Engine, level mvcc.Level) error {
	return loadKeys(e, level, 2*w.shifts,
		func(i int) []byte { return doctorKey(i/2, i%2) },
		func(int) []byte { return onCall })
}

func (w *writeSkew) NewWorker(id, _ int, seed uint64) Worker {
	w.pause.join()
	return &skewWorker{w: w, id: id, r: rand.New(rand.NewPCG(seed, 0x5ce3))}
}

type skewWorker struct {
	w  *writeSkew
	id int
	r  *rand.Rand
}

func (k *skewWorker) Stop() { k.w.pause.leave() }

func isOn(tx engine.Tx, key []byte) (bool, error) {
	v, err := tx.Get(key)
	if err != nil {
		return false, fmt.Errorf("bench: read %s: %w", key, err)
	}
	return len(v) == 1 && v[0] == 1, nil
}

func (k *skewWorker) Next() Op {
	w := k.w
	shift, me := k.r.IntN(w.shifts), k.r.IntN(2)
	if w.cfg.Lockstep {
		// Goroutines of even and odd number play the two doctors, so
		// that every round has both: the skew is certain.
		me = k.id % 2
	}
	mine, other := doctorKey(shift, me), doctorKey(shift, 1-me)
	return Op{Name: "toggle", Fn: func(tx engine.Tx) error {
		mineOn, err := isOn(tx, mine)
		if err != nil {
			return err
		}
		otherOn, err := isOn(tx, other)
		if err != nil {
			return err
		}
		w.pause.between()
		switch {
		case mineOn && otherOn:
			return tx.Put(mine, offCall)
		case !mineOn && !otherOn:
			w.violations.Add(1)
			return tx.Put(mine, onCall)
		case !mineOn:
			return tx.Put(mine, onCall)
		}
		return nil
	}}
}

func (w *writeSkew) Check(e engine.Engine, level mvcc.Level) Invariant {
	inv := Invariant{Name: "a doctor on call in every shift", MustHold: level == mvcc.Serializable}
	empty := 0
	err := e.Txn(loadLevel(e), true, func(tx engine.Tx) error {
		empty = 0
		for s := range w.shifts {
			a, err := isOn(tx, doctorKey(s, 0))
			if err != nil {
				return err
			}
			b, err := isOn(tx, doctorKey(s, 1))
			if err != nil {
				return err
			}
			if !a && !b {
				empty++
			}
		}
		return nil
	})
	seen := w.violations.Load()
	inv.Violations = seen + int64(empty)
	inv.Holds = err == nil && inv.Violations == 0
	inv.Detail = fmt.Sprintf("%d times a shift was seen with nobody on call; %d of %d shifts empty at the end", seen, empty, w.shifts)
	if err != nil {
		inv.Detail = err.Error()
	}
	return inv
}
