package goals

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mvkv/mvkv/bench/engine"
	"github.com/mvkv/mvkv/bench/report"
	"github.com/mvkv/mvkv/bench/runner"
	"github.com/mvkv/mvkv/bench/workload"
	"github.com/mvkv/mvkv/mvcc"
)

// Config sizes the performance-goal measurements; zero fields take
// the defaults in brackets.
type Config struct {
	Dir      string        // parent of the temporary directories [system temp]
	Duration time.Duration // of each timed measurement [2s]
	Rounds   int           // alternating rounds per comparison; the median counts [3]
	Writers  int           // durable-commit writers [64]
	Readers  int           // goroutines of the read and scan measurements [GOMAXPROCS]
	Keys     int           // keys of the read and scan measurements [100,000]
	// StorageKeys and StorageValueSize size the storage measurement
	// (memory, Open, reads over a large dataset) [1,000,000 and 1,000].
	StorageKeys      int
	StorageValueSize int
	ValueSize        int // of the other measurements [100]
	// Only, if set, names the measurements to run: "commits", "reads",
	// "serializable", "storage".
	Only []string
	// Progress, if set, is told which measurement starts.
	Progress func(string)
}

func (c Config) withDefaults() Config {
	if c.Duration <= 0 {
		c.Duration = 2 * time.Second
	}
	if c.Rounds <= 0 {
		c.Rounds = 3
	}
	if c.Writers <= 0 {
		c.Writers = 64
	}
	if c.Readers <= 0 {
		c.Readers = runtime.GOMAXPROCS(0)
	}
	if c.Keys <= 0 {
		c.Keys = 100_000
	}
	if c.StorageKeys <= 0 {
		c.StorageKeys = 1_000_000
	}
	if c.StorageValueSize <= 0 {
		c.StorageValueSize = 1000
	}
	if c.ValueSize <= 0 {
		c.ValueSize = 100
	}
	return c
}

// Goal is one performance goal's measurement.
type Goal struct {
	Name string `json:"name"`
	// Ours and Theirs are mvkv's figure and the reference's (bbolt, or
	// mvkv's snapshot level), in Unit; Theirs is 0 for absolute goals.
	Ours   float64 `json:"ours"`
	Theirs float64 `json:"theirs,omitempty"`
	Unit   string  `json:"unit"`
	// Value is what the target is compared with: Ours/Theirs, or Ours.
	Value float64 `json:"value"`
	// Target is the bound; AtMost says whether Value must stay below it
	// (otherwise above). Report-only goals have Target 0.
	Target float64 `json:"target,omitempty"`
	AtMost bool    `json:"at_most,omitempty"`
	Met    bool    `json:"met"`
	Detail string  `json:"detail"`
}

// Measure runs the performance-goal measurements side by side with
// bbolt on this machine.
func Measure(ctx context.Context, cfg Config) ([]Goal, error) {
	cfg = cfg.withDefaults()
	dir, err := os.MkdirTemp(cfg.Dir, "mvkv-goals-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	step := func(s string) {
		if cfg.Progress != nil {
			cfg.Progress(s)
		}
	}
	var goals []Goal
	for _, m := range []struct {
		name string
		fn   func(context.Context, Config, string) ([]Goal, error)
	}{
		{"commits", goalCommits},
		{"reads", goalReads},
		{"serializable", goalSerializable},
		{"storage", goalStorage},
	} {
		if len(cfg.Only) > 0 && !slices.Contains(cfg.Only, m.name) {
			continue
		}
		if ctx.Err() != nil {
			return goals, ctx.Err()
		}
		step(m.name)
		sub, err := os.MkdirTemp(dir, "")
		if err != nil {
			return goals, err
		}
		g, err := m.fn(ctx, cfg, sub)
		_ = os.RemoveAll(sub)
		if err != nil {
			return goals, fmt.Errorf("bench: goal %s: %w", m.name, err)
		}
		goals = append(goals, g...)
	}
	return goals, nil
}

func ratioGoal(name, unit string, ours, theirs, target float64, detail string) Goal {
	g := Goal{Name: name, Ours: ours, Theirs: theirs, Unit: unit, Target: target, Detail: detail}
	if theirs > 0 {
		g.Value = ours / theirs
	}
	g.Met = g.Value >= target
	return g
}

// hammer runs fn on n goroutines for d, and longer if no call has
// returned by then (a rate needs one: a loaded machine may take longer),
// and returns the calls per second. fn gets its goroutine's number and
// call count; an error stops the run.
func hammer(ctx context.Context, n int, d time.Duration, fn func(g, i int) error) (float64, error) {
	var total atomic.Int64
	var stop atomic.Bool
	var first error
	var once, returned sync.Once
	one := make(chan struct{}) // closed when a call has returned
	var wg sync.WaitGroup
	start := time.Now()
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var i int
			for ; !stop.Load(); i++ {
				err := fn(g, i)
				if i == 0 {
					returned.Do(func() { close(one) })
				}
				if err != nil {
					once.Do(func() { first = err })
					stop.Store(true)
				}
			}
			total.Add(int64(i))
		}()
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	select {
	case <-one:
	case <-ctx.Done():
	}
	stop.Store(true)
	wg.Wait()
	return float64(total.Load()) / time.Since(start).Seconds(), first
}

// median is the one median of the benchmark (report.Median): the goals
// take it over rounds as the reports do.
func median(v []float64) float64 { return report.Median(v) }

func goalKey(i int) []byte { return fmt.Appendf(nil, "key%013d", i) }

func goalValue(size int, seed uint64) []byte {
	v := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range v {
		v[i] = byte(r.Uint32())
	}
	return v
}

// openEngine opens engine name through package engine, as every run
// does, in a directory of its own under dir.
func openEngine(dir, name string, durable bool) (engine.Engine, error) {
	sub := filepath.Join(dir, name)
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return nil, err
	}
	return engine.Open(name, sub, engine.Options{Durable: durable})
}

// mvkvDB is the database under an mvkv engine, for the figures only mvkv
// has (commits per fsync, versions in memory, keys).
func mvkvDB(e engine.Engine) *mvcc.DB { return e.(engine.MVKV).DB() }

// load writes n keys goalKey(i) -> value(i) through e, 10,000 per
// transaction.
func load(e engine.Engine, n int, value func(i int) []byte) error {
	for lo := 0; lo < n; lo += 10_000 {
		hi := min(n, lo+10_000)
		if err := e.Txn(e.Levels()[0], false, func(tx engine.Tx) error {
			for i := lo; i < hi; i++ {
				if err := tx.Put(goalKey(i), value(i)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// reader returns the hammer function of point reads of keys through e,
// in read-only transactions at level.
func reader(e engine.Engine, level mvcc.Level, keys [][]byte) func(g, i int) error {
	return func(g, i int) error {
		return e.Txn(level, true, func(tx engine.Tx) error {
			_, err := tx.Get(keys[(g*7919+i)&(len(keys)-1)])
			return err
		})
	}
}

// closeAll closes engines, returning err or the first close error.
func closeAll(err error, es ...engine.Engine) error {
	for _, e := range es {
		if cerr := e.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// goalCommits: durable commits with Writers writers, each transaction one
// put of a key of its own, against bbolt with one Update per put.
func goalCommits(ctx context.Context, cfg Config, dir string) (_ []Goal, err error) {
	mv, err := openEngine(dir, "mvkv", true)
	if err != nil {
		return nil, err
	}
	defer func() { err = closeAll(err, mv) }()
	bb, err := openEngine(dir, "bbolt", true)
	if err != nil {
		return nil, err
	}
	defer func() { err = closeAll(err, bb) }()
	val := goalValue(cfg.ValueSize, 1)
	put := func(e engine.Engine, level mvcc.Level, offset int) func(g, i int) error {
		return func(g, i int) error {
			return e.Txn(level, false, func(tx engine.Tx) error {
				return tx.Put(fmt.Appendf(nil, "w%03d/%010d", g, i+offset), val)
			})
		}
	}
	var ours, theirs []float64
	for range cfg.Rounds {
		o, err := hammer(ctx, cfg.Writers, cfg.Duration, put(mv, mvcc.Snapshot, 0))
		if err != nil {
			return nil, err
		}
		t, err := hammer(ctx, cfg.Writers, cfg.Duration, put(bb, mvcc.Serializable, 1<<30))
		if err != nil {
			return nil, err
		}
		ours, theirs = append(ours, o), append(theirs, t)
	}
	st := mvkvDB(mv).Stats()
	batch := 0.0
	if st.CommitBatches > 0 {
		batch = float64(st.Commits) / float64(st.CommitBatches)
	}
	return []Goal{ratioGoal(fmt.Sprintf("durable commits, %d writers, vs bbolt one Update per put", cfg.Writers),
		"commits/s", median(ours), median(theirs), 10,
		fmt.Sprintf("median of %d rounds of %v; %.1f commits per fsync on average", cfg.Rounds, cfg.Duration, batch))}, nil
}

// goalReads: a read-only transaction with one Get, and one with a
// 1000-key scan, on Keys keys, against bbolt's View with a Get and a
// cursor walk.
func goalReads(ctx context.Context, cfg Config, dir string) (_ []Goal, err error) {
	mv, err := openEngine(dir, "mvkv", false)
	if err != nil {
		return nil, err
	}
	defer func() { err = closeAll(err, mv) }()
	bb, err := openEngine(dir, "bbolt", false)
	if err != nil {
		return nil, err
	}
	defer func() { err = closeAll(err, bb) }()
	val := goalValue(cfg.ValueSize, 2)
	for _, e := range []engine.Engine{mv, bb} {
		if err := load(e, cfg.Keys, func(int) []byte { return val }); err != nil {
			return nil, err
		}
	}
	// Keys to read, drawn up front so that drawing costs nothing inside
	// the timed loops.
	r := rand.New(rand.NewPCG(3, 4))
	keys := make([][]byte, 1<<16)
	for i := range keys {
		keys[i] = goalKey(r.IntN(cfg.Keys))
	}
	const scanLen = 1000
	starts := make([][]byte, 1<<10)
	for i := range starts {
		starts[i] = goalKey(r.IntN(max(1, cfg.Keys-scanLen)))
	}
	var getO, getT, scanO, scanT, scanC []float64
	for range cfg.Rounds {
		o, err := hammer(ctx, cfg.Readers, cfg.Duration, reader(mv, mvcc.Snapshot, keys))
		if err != nil {
			return nil, err
		}
		t, err := hammer(ctx, cfg.Readers, cfg.Duration, reader(bb, mvcc.Serializable, keys))
		if err != nil {
			return nil, err
		}
		getO, getT = append(getO, o), append(getT, t)
		o, err = hammer(ctx, cfg.Readers, cfg.Duration, scanner(mv, mvcc.Snapshot, starts, scanLen, false))
		if err != nil {
			return nil, err
		}
		t, err = hammer(ctx, cfg.Readers, cfg.Duration, scanner(bb, mvcc.Serializable, starts, scanLen, false))
		if err != nil {
			return nil, err
		}
		c, err := hammer(ctx, cfg.Readers, cfg.Duration, scanner(bb, mvcc.Serializable, starts, scanLen, true))
		if err != nil {
			return nil, err
		}
		scanO, scanT, scanC = append(scanO, o), append(scanT, t), append(scanC, c)
	}
	detail := fmt.Sprintf("%d keys of %d-byte values, %d goroutines, median of %d rounds of %v", cfg.Keys, cfg.ValueSize, cfg.Readers, cfg.Rounds, cfg.Duration)
	return []Goal{
		ratioGoal("read-only transaction point read vs bbolt View+Get", "reads/s", median(getO), median(getT), 1.0,
			detail+"; like for like: each Get returns a copy the caller owns"),
		ratioGoal("1000-key scan vs bbolt cursor walk copying keys and values", "scans/s", median(scanO), median(scanC), 0.7,
			detail+"; like for like: Scan yields copies the caller owns, so bbolt copies what it walks"),
		reportRatio("1000-key scan vs bbolt bare cursor walk", "scans/s", median(scanO), median(scanT),
			"bbolt's walk hands out pointers into its mapping and copies nothing"),
	}, nil
}

// scanner returns the hammer function of scans of scanLen keys from a
// random start through e; with copying, the caller copies each key and
// value out of the transaction, as one keeping them past it must (mvkv's
// Scan yields copies already).
func scanner(e engine.Engine, level mvcc.Level, starts [][]byte, scanLen int, copying bool) func(g, i int) error {
	errShort := fmt.Errorf("scan saw fewer than %d keys", scanLen)
	return func(g, i int) error {
		return e.Txn(level, true, func(tx engine.Tx) error {
			n := 0
			err := tx.Scan(starts[(g*7919+i)&(len(starts)-1)], nil, scanLen, func(k, v []byte) bool {
				if copying {
					kv := make([]byte, len(k)+len(v))
					copy(kv, k)
					copy(kv[len(k):], v)
				}
				n++
				return true
			})
			if err == nil && n < scanLen {
				err = errShort
			}
			return err
		})
	}
}

// reportRatio is a ratio reported without a target.
func reportRatio(name, unit string, ours, theirs float64, detail string) Goal {
	g := ratioGoal(name, unit, ours, theirs, 0, detail)
	g.Met = true
	return g
}

// goalSerializable: YCSB-B (95% reads, zipfian) at serializable and at
// snapshot, in alternating rounds, without fsync so that only the cost of
// the levels shows.
func goalSerializable(ctx context.Context, cfg Config, dir string) ([]Goal, error) {
	threads := 16
	var ser, snap []float64
	for range cfg.Rounds {
		for _, level := range []mvcc.Level{mvcc.Serializable, mvcc.Snapshot} {
			// One field per record: the goal was set on records of one
			// ValueSize value, and keeps that shape across runs.
			w, err := workload.New("ycsb-b", workload.Config{Records: cfg.Keys, ValueSize: cfg.ValueSize, Fields: 1})
			if err != nil {
				return nil, err
			}
			res, err := runner.Run(ctx, runner.Config{Engine: "mvkv", Dir: dir, Workload: w, Level: level,
				Threads: threads, Duration: cfg.Duration, Warmup: cfg.Duration / 10, MinOps: int64(threads)})
			if err != nil {
				return nil, err
			}
			if res.Errors > 0 {
				return nil, fmt.Errorf("%s", res.FirstError)
			}
			if level == mvcc.Serializable {
				ser = append(ser, res.Throughput)
			} else {
				snap = append(snap, res.Throughput)
			}
		}
	}
	return []Goal{ratioGoal("serializable vs snapshot, read-mostly (YCSB-B)", "ops/s", median(ser), median(snap), 0.85,
		fmt.Sprintf("%d threads, %d records of one %d-byte field, no fsync, median of %d alternating rounds of %v", threads, cfg.Keys, cfg.ValueSize, cfg.Rounds, cfg.Duration))}, nil
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// goalStorage: the data lives in the file. It loads StorageKeys keys of
// StorageValueSize bytes (in key order: a bulk load of shuffled keys is
// bbolt's random-insert cost, the same for both) into mvkv and into bbolt,
// then measures mvkv's live heap after the load and after a reopen, the
// time its Open takes, random point reads over the whole dataset against
// bbolt's over the same data (mvkv keeps no cache of values: the OS page
// cache is the only one, so this is a dataset far larger than any cache
// mvkv keeps), and the memory each version held for an open snapshot
// costs.
func goalStorage(ctx context.Context, cfg Config, dir string) (_ []Goal, err error) {
	n, size := cfg.StorageKeys, cfg.StorageValueSize
	val := goalValue(size, 5)
	value := func(i int) []byte {
		binary.BigEndian.PutUint64(val, uint64(i))
		return val
	}
	mv, err := openEngine(dir, "mvkv", false)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := load(mv, n, value); err != nil {
		return nil, closeAll(err, mv)
	}
	loadTime := time.Since(start)
	heapLoaded := heapInUse()
	if err := mv.Close(); err != nil {
		return nil, err
	}
	fileMiB := float64(dirSize(filepath.Join(dir, "mvkv"))) / (1 << 20)
	bb, err := openEngine(dir, "bbolt", false)
	if err != nil {
		return nil, err
	}
	if err := closeAll(load(bb, n, value), bb); err != nil {
		return nil, err
	}

	r := rand.New(rand.NewPCG(7, 8))
	keys := make([][]byte, 1<<16)
	for i := range keys {
		keys[i] = goalKey(r.IntN(n))
	}
	var opens, heaps, readO, readT []float64
	for range cfg.Rounds {
		start := time.Now()
		mv, err := openEngine(dir, "mvkv", false)
		if err != nil {
			return nil, err
		}
		opens = append(opens, float64(time.Since(start).Microseconds())/1000)
		heaps = append(heaps, float64(heapInUse())/(1<<20))
		if k := mvkvDB(mv).Stats().Keys; k != int64(n) {
			return nil, closeAll(fmt.Errorf("reopened with %d keys, want %d", k, n), mv)
		}
		o, err := hammer(ctx, cfg.Readers, cfg.Duration, reader(mv, mvcc.Snapshot, keys))
		if err := closeAll(err, mv); err != nil {
			return nil, err
		}
		bb, err := openEngine(dir, "bbolt", false)
		if err != nil {
			return nil, err
		}
		t, err := hammer(ctx, cfg.Readers, cfg.Duration, reader(bb, mvcc.Serializable, keys))
		if err := closeAll(err, bb); err != nil {
			return nil, err
		}
		readO, readT = append(readO, o), append(readT, t)
	}

	// Memory per version: one more version of the first 100,000 keys,
	// kept in memory by an open snapshot.
	mv, err = openEngine(dir, "mvkv", false)
	if err != nil {
		return nil, err
	}
	defer func() { err = closeAll(err, mv) }()
	db := mvkvDB(mv)
	snapshot, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot, ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer snapshot.Rollback() //nolint:errcheck // a read transaction
	m := min(n, 100_000)
	before := heapInUse()
	if err := load(mv, m, value); err != nil {
		return nil, err
	}
	mem := db.Stats().MemVersions
	perVersion := float64(heapInUse()-before) / float64(max(mem, 1))

	data := fmt.Sprintf("%d keys of %d bytes written in key order (%.0f MiB file) in %v", n, size, fileMiB, loadTime.Round(time.Millisecond))
	atMost := func(name, unit string, v, target float64, detail string) Goal {
		return Goal{Name: name, Ours: v, Value: v, Unit: unit, Target: target, AtMost: true, Met: v <= target, Detail: detail}
	}
	return []Goal{
		atMost("Go heap after loading", "MiB", float64(heapLoaded)/(1<<20), 64, data),
		atMost("Go heap after reopening", "MiB", median(heaps), 64, fmt.Sprintf("median of %d opens", cfg.Rounds)),
		atMost("Open of that database", "ms", median(opens), 100, fmt.Sprintf("median of %d opens: no scan of the file", cfg.Rounds)),
		ratioGoal("point reads over the whole dataset vs bbolt", "reads/s", median(readO), median(readT), 1.0,
			fmt.Sprintf("random keys, %d goroutines, bbolt View+Get (copying the value, as mvkv's Get does) on a file of the same data, median of %d alternating rounds of %v", cfg.Readers, cfg.Rounds, cfg.Duration)),
		{Name: "memory per version held for a snapshot", Ours: perVersion, Value: perVersion, Unit: "bytes", Met: true,
			Detail: fmt.Sprintf("live heap added per version by overwriting %d keys under an open snapshot (%d versions in memory: the new ones and the before-images); includes the %d-byte before-image value", m, mem, size)},
	}, nil
}

// dirSize is the size of the files in dir.
func dirSize(dir string) int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var total int64
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			total += fi.Size()
		}
	}
	return total
}
