package workload

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/mvkv/mvkv/bench/engine"
	"github.com/mvkv/mvkv/mvcc"
)

// ycsb is one of the YCSB core workloads A–F (Cooper et al., SoCC 2010):
//
//	A  update heavy   50% read, 50% update
//	B  read mostly    95% read,  5% update
//	C  read only     100% read
//	D  read latest    95% read,  5% insert   (default distribution: latest)
//	E  short ranges   95% scan,  5% insert   (scans of 1..ScanLength records)
//	F  read-modify-write  50% read, 50% read-modify-write
//
// As in YCSB's CoreWorkload: a record is Fields fields of ValueSize bytes
// (10 × 100), stored as one value; a read reads all fields; an update
// rewrites one field, which a key-value store does by reading the record
// and writing it back (YCSB's RocksDB binding does the same). Keys are
// "user" and the FNV hash of the record number (YCSB's insertorder=hashed),
// so records inserted together are not neighbours. Zipfian draws come
// from YCSB's scrambled zipfian, latest draws from its skewed-latest
// generator over the inserts acknowledged so far, and no request goes to a
// record whose insert has not committed.
//
// Where it differs, and why: YCSB widens the zipfian key space of D and E
// by twice the expected inserts, which it derives from its operation
// count; a timed run has none, so zipfian and uniform draw over the loaded
// records (uniform does so in YCSB too). Each operation is one
// transaction, where YCSB's bindings mostly have none.
type ycsb struct {
	letter    byte
	cfg       Config
	dist      Distribution
	scrambled *scrambledZipfian
	latest    *skewedLatest
	inserts   *ackCounter
	// read, update, insert, scan, rmw: cumulative per-mille thresholds.
	read, update, insert, scan int
}

func newYCSB(letter byte, cfg Config) (*ycsb, error) {
	w := &ycsb{letter: letter, cfg: cfg, dist: cfg.Distribution, inserts: newAckCounter(int64(cfg.Records))}
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
		return nil, fmt.Errorf("%w: ycsb-%c (A to F)", ErrUnknown, letter)
	}
	if w.dist == "" {
		w.dist = Zipfian
	}
	switch w.dist {
	case Zipfian:
		w.scrambled = newScrambledZipfian(cfg.Records, cfg.ZipfConstant)
	case Latest:
		w.latest = newSkewedLatest(cfg.Records, cfg.ZipfConstant)
	case Uniform:
	default:
		return nil, fmt.Errorf("%w: %q (known: zipfian, uniform, latest)", ErrUnknownDistribution, w.dist)
	}
	return w, nil
}

func (w *ycsb) Name() string { return "ycsb-" + string(w.letter) }

// Config is the configuration, with the distribution the workload uses
// (its default when none was asked for).
func (w *ycsb) Config() Config {
	c := w.cfg
	c.Distribution = w.dist
	return c
}

// ycsbKey names record i as YCSB does with insertorder=hashed.
func ycsbKey(i int64) []byte { return strconv.AppendInt([]byte("user"), fnvHash64(i), 10) }

// record returns a fresh record: Fields fields of ValueSize random bytes.
func (w *ycsb) record(r *rand.Rand) []byte {
	v := make([]byte, w.cfg.Fields*w.cfg.ValueSize)
	fill(r, v)
	return v
}

func fill(r *rand.Rand, v []byte) {
	for i := 0; i+8 <= len(v); i += 8 {
		binary.LittleEndian.PutUint64(v[i:], r.Uint64())
	}
}

func (w *ycsb) Load(e engine.Engine, level mvcc.Level) error {
	r := rand.New(rand.NewPCG(1, 2))
	return loadKeys(e, level, w.cfg.Records,
		func(i int) []byte { return ycsbKey(int64(i)) },
		func(int) []byte { return w.record(r) })
}

// pick draws the record a request goes to.
func (w *ycsb) pick(r *rand.Rand) int64 {
	switch w.dist {
	case Uniform:
		return r.Int64N(int64(w.cfg.Records))
	case Latest:
		return w.latest.next(r, w.inserts.last.Load())
	}
	return int64(w.scrambled.next(r))
}

func (w *ycsb) NewWorker(_, _ int, seed uint64) Worker {
	return &ycsbWorker{w: w, r: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

type ycsbWorker struct {
	w *ycsb
	r *rand.Rand
}

// errRecordMissing: a request found no record, though it only goes to
// records whose insert committed before it began.
var errRecordMissing = errors.New("bench: ycsb record missing")

func readRecord(tx engine.Tx, key []byte) ([]byte, error) {
	v, err := tx.Get(key)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", errRecordMissing, key)
	}
	return v, err
}

// updateField rewrites one field of the record at key.
func updateField(tx engine.Tx, key []byte, field int, data []byte) error {
	rec, err := readRecord(tx, key)
	if err != nil {
		return err
	}
	off := field * len(data)
	if off+len(data) > len(rec) {
		return fmt.Errorf("bench: ycsb record %s has %d bytes, field %d needs %d", key, len(rec), field, off+len(data))
	}
	// A new slice, never the one Get returned: engines differ in how long
	// that one is the caller's.
	next := make([]byte, len(rec))
	copy(next, rec)
	copy(next[off:], data)
	return tx.Put(key, next)
}

func (k *ycsbWorker) Next() Op {
	w, r := k.w, k.r
	p := r.IntN(1000)
	switch {
	case p < w.read:
		key := ycsbKey(w.pick(r))
		return Op{Name: "read", ReadOnly: true, Fn: func(tx engine.Tx) error { _, err := readRecord(tx, key); return err }}
	case p < w.update:
		key, field, data := ycsbKey(w.pick(r)), r.IntN(w.cfg.Fields), k.field()
		return Op{Name: "update", Fn: func(tx engine.Tx) error { return updateField(tx, key, field, data) }}
	case p < w.insert:
		n := w.inserts.take()
		key, val := ycsbKey(n), w.record(r)
		return Op{Name: "insert", Fn: func(tx engine.Tx) error { return tx.Put(key, val) }, Done: func() { w.inserts.ack(n) }}
	case p < w.scan:
		start, n := ycsbKey(w.pick(r)), 1+r.IntN(w.cfg.ScanLength)
		return Op{Name: "scan", ReadOnly: true, Fn: func(tx engine.Tx) error {
			return tx.Scan(start, nil, n, func(_, _ []byte) bool { return true })
		}}
	}
	key, field, data := ycsbKey(w.pick(r)), r.IntN(w.cfg.Fields), k.field()
	// Read-modify-write: YCSB reads all fields, then updates one; the
	// update's own read of the record is that read.
	return Op{Name: "rmw", Fn: func(tx engine.Tx) error { return updateField(tx, key, field, data) }}
}

// field returns new data for one field.
func (k *ycsbWorker) field() []byte {
	v := make([]byte, k.w.cfg.ValueSize)
	fill(k.r, v)
	return v
}

// Check: YCSB has no invariant beyond every loaded record still being there.
func (w *ycsb) Check(e engine.Engine, _ mvcc.Level) Invariant {
	inv := Invariant{Name: "all loaded records present", MustHold: true}
	missing := 0
	err := e.Txn(loadLevel(e), true, func(tx engine.Tx) error {
		missing = 0
		for i := range w.cfg.Records {
			if _, err := tx.Get(ycsbKey(int64(i))); errors.Is(err, engine.ErrNotFound) {
				missing++
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	inv.Holds = err == nil && missing == 0
	inv.Violations = int64(missing)
	inv.Detail = fmt.Sprintf("%d of %d records missing", missing, w.cfg.Records)
	if err != nil {
		inv.Detail = err.Error()
	}
	return inv
}
