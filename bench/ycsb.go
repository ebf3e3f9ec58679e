package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"

	"github.com/mvkv/mvkv/mvcc"
)

// ycsb is one of the YCSB core workloads A–F (Cooper et al., SoCC 2010):
//
//	A  update heavy   50% read, 50% update
//	B  read mostly    95% read,  5% update
//	C  read only     100% read
//	D  read latest    95% read,  5% insert   (default distribution: latest)
//	E  short ranges   95% scan,  5% insert   (scans of 1..ScanLength keys)
//	F  read-modify-write  50% read, 50% read-modify-write
//
// Each operation is one transaction. The request distribution is explicit
// (WorkloadConfig.Distribution); zipfian draws are scrambled over the key
// space as YCSB does, latest draws count back from the newest insert.
type ycsb struct {
	letter byte
	cfg    WorkloadConfig
	dist   Distribution
	zipf   *zipfian
	// read, update, insert, scan, rmw: cumulative per-mille thresholds.
	read, update, insert, scan int
	inserted                   atomic.Int64 // keys [0, inserted) were handed out for insertion
}

func newYCSB(letter byte, cfg WorkloadConfig) (*ycsb, error) {
	w := &ycsb{letter: letter, cfg: cfg, dist: cfg.Distribution}
	switch letter {
	case 'a':
		w.read, w.update = 500, 1000
	case 'b':
		w.read, w.update = 950, 1000
	case 'c':
		w.read, w.update = 1000, 1000
	case 'd':
		w.read, w.update, w.insert = 950, 950, 1000
		if w.dist == "" {
			w.dist = Latest
		}
	case 'e':
		w.read, w.update, w.insert, w.scan = 0, 0, 50, 1000
	case 'f':
		w.read, w.update = 500, 500 // the rest is read-modify-write
	default:
		return nil, fmt.Errorf("%w: ycsb-%c (A to F)", ErrUnknownWorkload, letter)
	}
	if w.dist == "" {
		w.dist = Zipfian
	}
	switch w.dist {
	case Zipfian, Latest:
		w.zipf = newZipfian(cfg.Records, cfg.ZipfConstant)
	case Uniform:
	default:
		return nil, fmt.Errorf("%w: distribution %q (zipfian, uniform, latest)", ErrUnknownWorkload, w.dist)
	}
	w.inserted.Store(int64(cfg.Records))
	return w, nil
}

func (w *ycsb) Name() string { return "ycsb-" + string(w.letter) }

func ycsbKey(i int64) []byte { return fmt.Appendf(nil, "user%012d", i) }

func (w *ycsb) value(r *rand.Rand) []byte {
	v := make([]byte, w.cfg.ValueSize)
	for i := 0; i+8 <= len(v); i += 8 {
		binary.LittleEndian.PutUint64(v[i:], r.Uint64())
	}
	return v
}

func (w *ycsb) Load(e Engine, level mvcc.Level) error {
	r := rand.New(rand.NewPCG(1, 2))
	return loadKeys(e, level, w.cfg.Records,
		func(i int) []byte { return ycsbKey(int64(i)) },
		func(int) []byte { return w.value(r) })
}

// pick draws the record a request goes to.
func (w *ycsb) pick(r *rand.Rand) int64 {
	n := w.inserted.Load()
	switch w.dist {
	case Uniform:
		return r.Int64N(n)
	case Latest:
		return max(0, n-1-int64(w.zipf.next(r)))
	}
	return int64(scramble(w.zipf.next(r), uint64(w.cfg.Records)))
}

func (w *ycsb) NewWorker(_, _ int, seed uint64) Worker {
	return &ycsbWorker{w: w, r: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

type ycsbWorker struct {
	w *ycsb
	r *rand.Rand
}

// readTolerant treats a missing record as a completed read: under
// "latest", a key whose insert is still in flight may be drawn.
func readTolerant(tx Tx, key []byte) error {
	if _, err := tx.Get(key); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

func (k *ycsbWorker) Next() Op {
	w, r := k.w, k.r
	p := r.IntN(1000)
	switch {
	case p < w.read:
		key := ycsbKey(w.pick(r))
		return Op{Name: "read", ReadOnly: true, Fn: func(tx Tx) error { return readTolerant(tx, key) }}
	case p < w.update:
		key, val := ycsbKey(w.pick(r)), w.value(r)
		return Op{Name: "update", Fn: func(tx Tx) error { return tx.Put(key, val) }}
	case p < w.insert:
		key, val := ycsbKey(w.inserted.Add(1)-1), w.value(r)
		return Op{Name: "insert", Fn: func(tx Tx) error { return tx.Put(key, val) }}
	case p < w.scan:
		start, n := ycsbKey(w.pick(r)), 1+r.IntN(w.cfg.ScanLength)
		return Op{Name: "scan", ReadOnly: true, Fn: func(tx Tx) error {
			return tx.Scan(start, nil, n, func(_, _ []byte) bool { return true })
		}}
	}
	key, val := ycsbKey(w.pick(r)), w.value(r)
	return Op{Name: "rmw", Fn: func(tx Tx) error {
		if err := readTolerant(tx, key); err != nil {
			return err
		}
		return tx.Put(key, val)
	}}
}

// Check: YCSB has no invariant beyond every loaded record still being there.
func (w *ycsb) Check(e Engine, _ mvcc.Level) Invariant {
	inv := Invariant{Name: "all loaded records present", MustHold: true}
	missing := 0
	err := e.Txn(loadLevel(e), true, func(tx Tx) error {
		missing = 0
		n := 0
		err := tx.Scan(ycsbKey(0), ycsbKey(int64(w.cfg.Records)), 0, func(_, _ []byte) bool { n++; return true })
		missing = w.cfg.Records - n
		return err
	})
	inv.Holds = err == nil && missing == 0
	inv.Violations = int64(missing)
	inv.Detail = fmt.Sprintf("%d of %d records missing", missing, w.cfg.Records)
	if err != nil {
		inv.Detail = err.Error()
	}
	return inv
}
