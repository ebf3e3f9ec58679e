package goals

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mvkv/mvkv/bench/engine"
	"github.com/mvkv/mvkv/bench/report"
	"github.com/mvkv/mvkv/bench/runner"
	"github.com/mvkv/mvkv/bench/workload"
	"github.com/mvkv/mvkv/internal/diskstat"
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
	// TailDuration is the length of the commit-latency run, one round of
	// each engine [30s, as the goal is stated; with Duration set and
	// TailDuration not, Rounds rounds of Duration, as the others].
	TailDuration time.Duration
	tailRounds   int
}

func (c Config) withDefaults() Config {
	if c.Rounds <= 0 {
		c.Rounds = 3
	}
	c.tailRounds = 1
	if c.TailDuration <= 0 {
		c.TailDuration = 30 * time.Second
		if c.Duration > 0 {
			c.TailDuration, c.tailRounds = c.Duration, c.Rounds
		}
	}
	if c.Duration <= 0 {
		c.Duration = 2 * time.Second
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

// measurements are the goals' measurements in the order they run; a name
// may have several.
var measurements = []struct {
	name string
	fn   func(context.Context, Config, string) ([]Goal, error)
}{
	{"commits", goalCommits},
	{"commits", goalCommitCost},
	{"reads", goalReads},
	{"serializable", goalSerializable},
	{"storage", goalStorage},
	{"scaling", goalScaling},
}

// ErrUnknown is returned by Measure for a name in Config.Only that names
// no measurement.
var ErrUnknown = errors.New("bench: unknown goal measurement")

// Names returns the measurements' names, for Config.Only.
func Names() []string {
	var names []string
	for _, m := range measurements {
		if !slices.Contains(names, m.name) {
			names = append(names, m.name)
		}
	}
	return names
}

// CheckNames fails with ErrUnknown, listing the known names, on the
// first of names that is not one.
func CheckNames(names []string) error {
	for _, n := range names {
		if !slices.Contains(Names(), n) {
			return fmt.Errorf("%w: %q (known: %s)", ErrUnknown, n, strings.Join(Names(), ", "))
		}
	}
	return nil
}

// Measure runs the performance-goal measurements side by side with
// bbolt on this machine.
func Measure(ctx context.Context, cfg Config) ([]Goal, error) {
	cfg = cfg.withDefaults()
	if err := CheckNames(cfg.Only); err != nil {
		return nil, err
	}
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
	last := ""
	for _, m := range measurements {
		if len(cfg.Only) > 0 && !slices.Contains(cfg.Only, m.name) {
			continue
		}
		if ctx.Err() != nil {
			return goals, ctx.Err()
		}
		if m.name != last { // told once per name, however many measurements it has
			step(m.name)
			last = m.name
		}
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

func goalKey(i int) []byte { return fmt.Appendf(nil, "key%013d", i) }

func goalValue(size int, seed uint64) []byte {
	v := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range v {
		v[i] = byte(r.Uint32())
	}
	return v
}

// goalCommits: durable commits with Writers writers, each transaction one
// put of a key of its own, against bbolt with one Update per put.
func goalCommits(ctx context.Context, cfg Config, dir string) (_ []Goal, err error) {
	mv, err := openEngine(dir, "mvkv", engine.Options{Durable: true})
	if err != nil {
		return nil, err
	}
	defer func() { err = closeAll(err, mv) }()
	bb, err := openEngine(dir, "bbolt", engine.Options{Durable: true})
	if err != nil {
		return nil, err
	}
	defer func() { err = closeAll(err, bb) }()
	val := goalValue(cfg.ValueSize, 1)
	var done atomic.Int64 // commits acknowledged, for the bytes each wrote
	put := func(e engine.Engine, level mvcc.Level, offset int) func(g, i int) error {
		return func(g, i int) error {
			err := e.Txn(level, false, func(tx engine.Tx) error {
				return tx.Put(fmt.Appendf(nil, "w%03d/%010d", g, i+offset), val)
			})
			if err == nil {
				done.Add(1)
			}
			return err
		}
	}
	// What reaches the disk per commit, each engine's runs summed.
	dev := diskstat.For(dir)
	var wrote [4]diskTally // mvkv many, bbolt many, mvkv one, bbolt one
	run := func(t *diskTally, n, offset int, e engine.Engine, level mvcc.Level) (float64, error) {
		c0 := done.Load()
		b0, ok0 := dev.Read()
		r, err := hammer(ctx, n, cfg.Duration, put(e, level, offset))
		if b1, ok1 := dev.Read(); ok0 && ok1 {
			t.add(b1-b0, done.Load()-c0)
		}
		return r, err
	}
	db := mvkvDB(mv)
	var commits, groups uint64 // of the many-writer runs
	var ours, theirs, ours1, theirs1 []float64
	for range cfg.Rounds {
		before := db.Stats()
		o, err := run(&wrote[0], cfg.Writers, 0, mv, mvcc.Snapshot)
		if err != nil {
			return nil, err
		}
		after := db.Stats()
		commits, groups = commits+after.Commits-before.Commits, groups+after.CommitBatches-before.CommitBatches
		t, err := run(&wrote[1], cfg.Writers, 1<<30, bb, mvcc.Serializable)
		if err != nil {
			return nil, err
		}
		ours, theirs = append(ours, o), append(theirs, t)
		// One writer: what a lone committer waits for, with no group
		// to share an fsync with.
		if o, err = run(&wrote[2], 1, 1<<29, mv, mvcc.Snapshot); err != nil {
			return nil, err
		}
		if t, err = run(&wrote[3], 1, 3<<29, bb, mvcc.Serializable); err != nil {
			return nil, err
		}
		ours1, theirs1 = append(ours1, o), append(theirs1, t)
	}
	batch := 0.0
	if groups > 0 {
		batch = float64(commits) / float64(groups)
	}
	return []Goal{ratioGoal(fmt.Sprintf("durable commits, %d writers, vs bbolt one Update per put", cfg.Writers),
		"commits/s", report.Median(ours), report.Median(theirs), 10,
		fmt.Sprintf("median of %d rounds of %v, both through the benchmark's Engine interface; %.1f commits per fsync on average%s", cfg.Rounds, cfg.Duration, batch, diskDetail(wrote[0], wrote[1]))),
		ratioGoal("durable commits, 1 writer, vs bbolt one Update per put",
			"commits/s", report.Median(ours1), report.Median(theirs1), 1,
			fmt.Sprintf("median of %d rounds of %v: a lone committer's append and fdatasync against bbolt's two fsyncs%s", cfg.Rounds, cfg.Duration, diskDetail(wrote[2], wrote[3])))}, nil
}

// diskTally sums what reached the disk over some runs and their commits.
type diskTally struct{ bytes, commits int64 }

func (t *diskTally) add(bytes, commits int64) { t.bytes, t.commits = t.bytes+bytes, t.commits+commits }

// diskDetail says what reached the disk per commit, ours and bbolt's, or
// nothing where the device's writes are not counted.
func diskDetail(ours, theirs diskTally) string {
	if ours.commits == 0 || theirs.commits == 0 || ours.bytes <= 0 || theirs.bytes <= 0 {
		return ""
	}
	return fmt.Sprintf("; %.1f KB reached the disk per commit, bbolt's %.1f KB (the device's count of written sectors, /proc/diskstats: journal included, and any other process's writes)",
		float64(ours.bytes)/float64(ours.commits)/1000, float64(theirs.bytes)/float64(theirs.commits)/1000)
}

// openEngine opens engine name through package engine, as every
// benchmark run does, in a directory of its own under dir.
func openEngine(dir, name string, opts engine.Options) (engine.Engine, error) {
	sub := filepath.Join(dir, name)
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return nil, err
	}
	return engine.Open(name, sub, opts)
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
	return []Goal{ratioGoal("serializable vs snapshot, read-mostly (YCSB-B)", "ops/s", report.Median(ser), report.Median(snap), 0.85,
		fmt.Sprintf("%d threads, %d records of one %d-byte field, no fsync, median of %d alternating rounds of %v", threads, cfg.Keys, cfg.ValueSize, cfg.Rounds, cfg.Duration))}, nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
