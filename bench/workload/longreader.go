package workload

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
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
// samples the versions held (peak and end) and vacuums after the run; the
// reader reads them too, while it holds (VersionsObserver).
type longReader struct {
	cfg      Config
	unstable atomic.Int64 // reads whose two scans differed
	reads    atomic.Int64
	writes   atomic.Int64 // writes committed
	writers  atomic.Int64 // writer goroutines still running

	versions engine.Versioner // the engine's, if it counts versions
	peak     atomic.Int64     // the most versions it held, read by the reader while holding

	// With Config.Lockstep, writers write only while the reader holds its
	// snapshot between its two scans (or once it has stopped).
	mu      sync.Mutex
	changed *sync.Cond // holding or readerUp changed
	holding bool
	// readerUp: the reader goroutine exists and has not stopped.
	readerUp bool
}

func newLongReader(cfg Config) *longReader {
	l := &longReader{cfg: cfg}
	l.changed = sync.NewCond(&l.mu)
	return l
}

func (l *longReader) Name() string { return "longreader" }

func (l *longReader) Config() Config { return l.cfg }

func lrKey(i int) []byte { return fmt.Appendf(nil, "row%010d", i) }

func (l *longReader) Load(e engine.Engine, level mvcc.Level) error {
	l.versions, _ = e.(engine.Versioner)
	l.peak.Store(0)
	val := bytes.Repeat([]byte{'v'}, l.cfg.ValueSize)
	return loadKeys(e, level, l.cfg.Records, lrKey, func(int) []byte { return val })
}

func (l *longReader) NewWorker(id, threads int, seed uint64) Worker {
	w := &lrWorker{l: l, reader: id == 0 && threads > 1, r: rand.New(rand.NewPCG(seed, 0x10e6))}
	if w.reader {
		l.setState(func() { l.readerUp = true })
	} else {
		l.writers.Add(1)
	}
	return w
}

func (l *longReader) setState(change func()) {
	l.mu.Lock()
	change()
	l.changed.Broadcast()
	l.mu.Unlock()
}

// awaitHold makes a writer wait, with Config.Lockstep, until the reader
// holds its snapshot between its scans or has stopped: every write then
// lands between the two scans of some long read.
func (l *longReader) awaitHold() {
	if !l.cfg.Lockstep {
		return
	}
	l.mu.Lock()
	for l.readerUp && !l.holding {
		l.changed.Wait()
	}
	l.mu.Unlock()
}

type lrWorker struct {
	l      *longReader
	reader bool
	r      *rand.Rand
}

func (k *lrWorker) Stop() {
	if k.reader {
		k.l.setState(func() { k.l.readerUp = false })
	} else {
		k.l.writers.Add(-1)
	}
}

// awaitWrite waits, with Config.Lockstep, until a write has committed
// after the call began, or no writer is left. A write counts once its
// Done has run, after its commit: each of the writers may have one
// commit done before the call and counted after, so it takes one more
// count than there are writers.
func (l *longReader) awaitWrite() {
	if !l.cfg.Lockstep {
		return
	}
	target := l.writes.Load() + l.writers.Load() + 1
	for l.writes.Load() < target && l.writers.Load() > 0 {
		time.Sleep(time.Millisecond) // polling: how long it takes decides nothing
	}
}

// observeVersions records the versions the engine holds now, while the
// reader holds its snapshot. With Config.Lockstep a write has replaced a
// version the snapshot sees (awaitWrite), so the engine holds more versions
// than records, for certain.
func (l *longReader) observeVersions() {
	if l.versions == nil {
		return
	}
	n := l.versions.Versions()
	for {
		p := l.peak.Load()
		if n <= p || l.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

// VersionsPeak is the most versions the reader saw the engine hold.
func (l *longReader) VersionsPeak() int64 { return l.peak.Load() }

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
			l.setState(func() { l.holding = true })
			time.Sleep(l.cfg.ReaderHold)
			l.awaitWrite()
			l.observeVersions()
			d2, _, err := l.digest(tx)
			l.setState(func() { l.holding = false })
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
	return Op{Name: "write", Fn: func(tx engine.Tx) error {
		l.awaitHold()
		return tx.Put(key, val)
	}, Done: func() { l.writes.Add(1) }}
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
