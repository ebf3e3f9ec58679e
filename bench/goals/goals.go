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

	bolt "go.etcd.io/bbolt"

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
	// "serializable", "storage", "scaling".
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
	// Unjudged, when set, says why the figures cannot judge the goal
	// (the machine has too few cores); Met is then false.
	Unjudged string `json:"unjudged,omitempty"`
	Detail   string `json:"detail"`
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
		{"scaling", goalScaling},
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

// boltBucket holds the keys of the bbolt databases the goals compare with.
var boltBucket = []byte("kv")

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

func openGoalBolt(path string, noSync bool) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: noSync, NoFreelistSync: true,
		FreelistType: bolt.FreelistMapType, InitialMmapSize: 256 << 20})
	if err != nil {
		return nil, err
	}
	return db, db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(boltBucket); return err })
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
	st := mv.(interface{ DB() *mvcc.DB }).DB().Stats()
	batch := 0.0
	if st.CommitBatches > 0 {
		batch = float64(st.Commits) / float64(st.CommitBatches)
	}
	return []Goal{ratioGoal(fmt.Sprintf("durable commits, %d writers, vs bbolt one Update per put", cfg.Writers),
		"commits/s", median(ours), median(theirs), 10,
		fmt.Sprintf("median of %d rounds of %v, both through the benchmark's Engine interface; %.1f commits per fsync on average", cfg.Rounds, cfg.Duration, batch))}, nil
}

// openEngine opens engine name through package engine, as every
// benchmark run does, in a directory of its own under dir.
func openEngine(dir, name string, durable bool) (engine.Engine, error) {
	sub := filepath.Join(dir, name)
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return nil, err
	}
	return engine.Open(name, sub, engine.Options{Durable: durable})
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

// goalReads: View with one Get, and View with a 1000-key scan, on Keys
// keys, against bbolt View+Get and a bbolt cursor walk.
func goalReads(ctx context.Context, cfg Config, dir string) ([]Goal, error) {
	db, bdb, closeBoth, err := openLoaded(ctx, cfg, dir)
	if err != nil {
		return nil, err
	}
	defer closeBoth()
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
	pick := func(list [][]byte, g, i int) []byte { return list[(g*7919+i)&(len(list)-1)] }

	var getO, getT, scanO, scanV, scanT, funcO, keysO []float64
	for range cfg.Rounds {
		o, err := hammer(ctx, cfg.Readers, cfg.Duration, func(g, i int) error {
			return db.View(ctx, func(tx *mvcc.Txn) error { _, err := tx.Get(pick(keys, g, i)); return err })
		})
		if err != nil {
			return nil, err
		}
		t, err := hammer(ctx, cfg.Readers, cfg.Duration, func(g, i int) error {
			return bdb.View(func(tx *bolt.Tx) error {
				if tx.Bucket(boltBucket).Get(pick(keys, g, i)) == nil {
					return engine.ErrNotFound
				}
				return nil
			})
		})
		if err != nil {
			return nil, err
		}
		getO, getT = append(getO, o), append(getT, t)
		// Scans: each mvkv way against the bbolt walk that does the same
		// work, in turn. The in-place walk reads every value where it
		// lies (its length, as a caller would its bytes); the bare walk
		// touches keys only.
		var sc [5]float64
		for j, walk := range []func(g, i int) error{
			mvkvScan(db, starts, pick, scanLen, "Scan"),
			boltWalk(bdb, starts, pick, scanLen, true),
			boltWalk(bdb, starts, pick, scanLen, false),
			mvkvScan(db, starts, pick, scanLen, "ScanFunc"),
			mvkvScan(db, starts, pick, scanLen, "ScanKeys"),
		} {
			if sc[j], err = hammer(ctx, cfg.Readers, cfg.Duration, walk); err != nil {
				return nil, err
			}
		}
		scanO, scanV, scanT = append(scanO, sc[0]), append(scanV, sc[1]), append(scanT, sc[2])
		funcO, keysO = append(funcO, sc[3]), append(keysO, sc[4])
	}
	detail := fmt.Sprintf("%d keys of %d-byte values, %d goroutines, median of %d rounds of %v", cfg.Keys, cfg.ValueSize, cfg.Readers, cfg.Rounds, cfg.Duration)
	return []Goal{
		ratioGoal("View point read vs bbolt View+Get", "reads/s", median(getO), median(getT), 1.0, detail),
		ratioGoal("1000-key scan vs bbolt in-place walk", "scans/s", median(scanO), median(scanV), 0.5,
			detail+"; View+Scan (keys and values the caller owns) reading every value, against a bbolt cursor walk reading every value in place"),
		reportRatio("1000-key scan vs bbolt bare cursor walk", "scans/s", median(scanO), median(scanT),
			"bbolt's walk touches keys only, never a value, and copies nothing"),
		reportRatio("1000-key ScanFunc vs bbolt in-place walk", "scans/s", median(funcO), median(scanV),
			"ScanFunc lends each key and value for one step, as bbolt's cursor does; every value read"),
		reportRatio("1000-key ScanKeys vs bbolt bare cursor walk", "scans/s", median(keysO), median(scanT),
			"ScanKeys never reads a value; bbolt's walk touches keys only"),
	}, nil
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
// bbolt's random-insert cost, the same for both), then measures the live
// heap after the load and after a reopen, the time Open takes, random
// point reads over the whole dataset against bbolt reading the same file
// (mvkv keeps no cache of values: the OS page cache is the only one, so
// this is a dataset far larger than any cache mvkv keeps), and the memory
// each version held for an open snapshot costs.
func goalStorage(ctx context.Context, cfg Config, dir string) ([]Goal, error) {
	path := filepath.Join(dir, "mvkv.db")
	opts := &mvcc.Options{NoSync: true, InitialMmapSize: 1 << 30}
	db, err := mvcc.Open(path, opts)
	if err != nil {
		return nil, err
	}
	n, size := cfg.StorageKeys, cfg.StorageValueSize
	val := goalValue(size, 5)
	put := func(db *mvcc.DB, n int) error {
		for lo := 0; lo < n; lo += 10_000 {
			hi := min(n, lo+10_000)
			if err := db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
				for i := lo; i < hi; i++ {
					binary.BigEndian.PutUint64(val, uint64(i))
					if err := tx.Put(goalKey(i), val); err != nil {
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
	start := time.Now()
	if err := put(db, n); err != nil {
		_ = db.Close()
		return nil, err
	}
	loadTime := time.Since(start)
	heapLoaded := heapInUse()
	if err := db.Close(); err != nil {
		return nil, err
	}
	fileMiB := float64(fileSize(path)) / (1 << 20)

	r := rand.New(rand.NewPCG(7, 8))
	keys := make([][]byte, 1<<16)
	for i := range keys {
		keys[i] = goalKey(r.IntN(n))
	}
	pick := func(g, i int) []byte { return keys[(g*7919+i)&(len(keys)-1)] }
	var opens, heaps, readO, readT, readV []float64
	for range cfg.Rounds {
		start := time.Now()
		db, err := mvcc.Open(path, opts)
		if err != nil {
			return nil, err
		}
		opens = append(opens, float64(time.Since(start).Microseconds())/1000)
		heaps = append(heaps, float64(heapInUse())/(1<<20))
		if k := db.Stats().Keys; k != int64(n) {
			_ = db.Close()
			return nil, fmt.Errorf("reopened with %d keys, want %d", k, n)
		}
		o, err := hammer(ctx, cfg.Readers, cfg.Duration, func(g, i int) error {
			return db.View(ctx, func(tx *mvcc.Txn) error { _, err := tx.Get(pick(g, i)); return err })
		})
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, InitialMmapSize: 1 << 30})
		if err != nil {
			return nil, err
		}
		t, err := hammer(ctx, cfg.Readers, cfg.Duration, func(g, i int) error {
			return bdb.View(func(tx *bolt.Tx) error {
				if tx.Bucket([]byte("data")).Get(pick(g, i)) == nil {
					return engine.ErrNotFound
				}
				return nil
			})
		})
		if err != nil {
			_ = bdb.Close()
			return nil, err
		}
		// The same reads by a bbolt caller that reads each value (into a
		// buffer of its own, reused: every byte read, nothing allocated),
		// as mvkv reads it to verify and copy it.
		bufs := make([][]byte, cfg.Readers)
		v, err := hammer(ctx, cfg.Readers, cfg.Duration, func(g, i int) error {
			return bdb.View(func(tx *bolt.Tx) error {
				v := tx.Bucket([]byte("data")).Get(pick(g, i))
				if v == nil {
					return engine.ErrNotFound
				}
				bufs[g] = append(bufs[g][:0], v...)
				return nil
			})
		})
		_ = bdb.Close()
		if err != nil {
			return nil, err
		}
		readO, readT, readV = append(readO, o), append(readT, t), append(readV, v)
	}

	// Memory per version: one more version of the first 100,000 keys,
	// kept in memory by an open snapshot.
	db, err = mvcc.Open(path, opts)
	if err != nil {
		return nil, err
	}
	defer db.Close() //nolint:errcheck // a throwaway benchmark database
	reader, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot, ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer reader.Rollback() //nolint:errcheck // a read transaction
	m := min(n, 100_000)
	before := heapInUse()
	if err := put(db, m); err != nil {
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
			fmt.Sprintf("random keys, %d goroutines, bbolt View+Get on the same file, median of %d alternating rounds of %v", cfg.Readers, cfg.Rounds, cfg.Duration)),
		reportRatio("point reads over the whole dataset vs bbolt reading each value", "reads/s", median(readO), median(readV),
			"bbolt View+Get reading every byte of the value (into a reused buffer), as mvkv does to verify and copy it"),
		{Name: "memory per version held for a snapshot", Ours: perVersion, Value: perVersion, Unit: "bytes", Met: true,
			Detail: fmt.Sprintf("live heap added per version by overwriting %d keys under an open snapshot (%d versions in memory: the new ones and the before-images); includes the %d-byte before-image value", m, mem, size)},
	}, nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
