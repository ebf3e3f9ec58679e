package workload

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/mvkv/mvkv/bench/engine"
	"github.com/mvkv/mvkv/mvcc"
)

// longReader runs one long read transaction beside writers. Goroutine 0
// opens a read-only transaction, scans every record, keeps the transaction
// open for ReaderHold, scans again and compares: one snapshot must read the
// same both times (Snapshot, Serializable); read committed may not. The
// other goroutines overwrite random records meanwhile. While the reader
// holds its snapshot the engine must keep the versions it can see, so
// version chains grow; once it ends, vacuum may free them. The runner
// samples the versions held (peak and end) and vacuums after the run.
type longReader struct {
	cfg      Config
	unstable atomic.Int64 // reads whose two scans differed
	reads    atomic.Int64
}

func newLongReader(cfg Config) *longReader { return &longReader{cfg: cfg} }

func (l *longReader) Name() string { return "longreader" }

func lrKey(i int) []byte { return fmt.Appendf(nil, "row%010d", i) }

func (l *longReader) Load(e engine.Engine, level mvcc.Level) error {
	val := bytes.Repeat([]byte{'v'}, l.cfg.ValueSize)
	return loadKeys(e, level, l.cfg.Records, lrKey, func(int) []byte { return val })
}

func (l *longReader) NewWorker(id, threads int, seed uint64) Worker {
	return &lrWorker{l: l, reader: id == 0 && threads > 1, r: rand.New(rand.NewPCG(seed, 0x10e6))}
}

type lrWorker struct {
	l      *longReader
	reader bool
	r      *rand.Rand
}

// digest hashes every key and value in the table.
func (l *longReader) digest(tx engine.Tx) (uint64, int, error) {
	h := fnv.New64a()
	n := 0
	err := tx.Scan(nil, nil, 0, func(k, v []byte) bool {
		h.Write(k)
		h.Write(v)
		n++
		return true
	})
	return h.Sum64(), n, err
}

func (k *lrWorker) Next() Op {
	l := k.l
	if k.reader {
		return Op{Name: "long-read", ReadOnly: true, Fn: func(tx engine.Tx) error {
			d1, _, err := l.digest(tx)
			if err != nil {
				return err
			}
			time.Sleep(l.cfg.ReaderHold)
			d2, _, err := l.digest(tx)
			if err != nil {
				return err
			}
			l.reads.Add(1)
			if d1 != d2 {
				l.unstable.Add(1)
			}
			return nil
		}}
	}
	key := lrKey(k.r.IntN(l.cfg.Records))
	val := make([]byte, l.cfg.ValueSize)
	for i := range val {
		val[i] = byte('a' + k.r.IntN(26))
	}
	return Op{Name: "write", Fn: func(tx engine.Tx) error { return tx.Put(key, val) }}
}

func (l *longReader) Check(_ engine.Engine, level mvcc.Level) Invariant {
	bad, n := l.unstable.Load(), l.reads.Load()
	return Invariant{
		Name:       "a long read sees one snapshot",
		MustHold:   level != mvcc.ReadCommitted,
		Holds:      bad == 0,
		Violations: bad,
		Detail:     fmt.Sprintf("%d of %d long reads saw the data change under them", bad, n),
	}
}
