package runner

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mvkv/mvkv/bench/engine"
	"github.com/mvkv/mvkv/bench/workload"
	"github.com/mvkv/mvkv/mvcc"
)

// Config describes one run.
type Config struct {
	// Engine is the engine's name (see engine.Names); it is opened fresh in a
	// new directory under Dir (default: the system temporary directory),
	// removed after the run.
	Engine        string
	Dir           string
	EngineOptions engine.Options
	// Workload is a fresh workload (workload.New); Run loads it.
	Workload workload.Workload
	Level    mvcc.Level
	// Threads is the number of goroutines issuing operations. Default 1.
	Threads int
	// Duration of the measured window. Default 1s unless Ops is set.
	Duration time.Duration
	// Ops, when positive, ends the run after that many operations (or
	// Duration, whichever comes first when both are set).
	Ops int64
	// MinOps, when positive, keeps the measured window open past Duration
	// until that many operations have completed: a rate needs some, and a
	// loaded machine may complete none in a short window.
	MinOps int64
	// Warmup runs the workload unrecorded before the measured window.
	Warmup time.Duration
	// MaxRetries bounds the retries of one aborted operation. Default 100.
	MaxRetries int
	// Param labels a swept parameter in the result.
	Param string
	// Progress, if set, is called about every 100ms during the run.
	Progress func(Progress)
}

// Progress is a running run's state, for a live display.
type Progress struct {
	Engine, Workload, Level string
	Warmup                  bool
	Elapsed, Duration       time.Duration
	Ops                     int64
}

// Run opens the engine, loads the workload, runs it and checks its
// invariant. A level the engine cannot express gives a Result with Skipped
// set and a nil error.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Workload == nil {
		return Result{}, errors.New("bench: no workload")
	}
	if cfg.Threads <= 0 {
		cfg.Threads = 1
	}
	if cfg.Duration <= 0 && cfg.Ops <= 0 {
		cfg.Duration = time.Second
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 100
	}
	res := Result{
		Engine: cfg.Engine, Workload: cfg.Workload.Name(), Level: cfg.Level.String(),
		Threads: cfg.Threads, Param: cfg.Param, Durable: cfg.EngineOptions.Durable,
		Procs: runtime.GOMAXPROCS(0),
	}
	dir, err := os.MkdirTemp(cfg.Dir, "mvkv-bench-"+cfg.Engine+"-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	e, err := engine.Open(cfg.Engine, dir, cfg.EngineOptions)
	if err != nil {
		return res, err
	}
	defer e.Close() //nolint:errcheck // a throwaway benchmark database
	res.Engine, res.Note = e.Name(), e.Note()
	if !engine.Supports(e, cfg.Level) {
		res.Skipped = fmt.Sprintf("%s cannot express %s: %s", e.Name(), cfg.Level, e.Note())
		return res, nil
	}
	if err := cfg.Workload.Load(e, cfg.Level); err != nil {
		return res, err
	}
	r := &runner{cfg: cfg, e: e, dir: dir}
	r.run(ctx, &res)
	res.Invariant = cfg.Workload.Check(e, cfg.Level)
	if v, ok := e.(engine.Versioner); ok {
		res.VersionsEnd = v.Versions()
		if vac, ok := e.(engine.Vacuumer); ok {
			removed, err := vac.Vacuum()
			res.VacuumRemoved = removed
			if err != nil {
				res.VacuumError = err.Error()
			}
		}
		res.VersionsAfter = v.Versions()
	}
	return res, nil
}

const (
	phaseWarmup = iota
	phaseMeasure
	phaseStop
)

// Nothing on an operation's path is shared between the goroutines but
// reads of the phase and of the window's start: each goroutine keeps its own histogram and counts
// (its tally, on cache lines of its own), merged at the end, so the
// harness scales with cores as far as the no-op engine shows. Only a run
// bounded by an operation count (Config.Ops) adds every operation to one
// shared counter, to stop at the count.
type runner struct {
	cfg     Config
	e       engine.Engine
	dir     string // the engine's files, for the footprint
	phase   atomic.Int32
	start   atomic.Int64 // when the measured window began, in Unix nanoseconds (written before it)
	ops     atomic.Int64 // operations recorded, with Config.Ops only
	peak    atomic.Int64 // versions held, highest sample
	tallies []*tally
}

// tally is one goroutine's record; merged at the end.
type tally struct {
	_                       [64]byte // keeps done off a neighbour's cache line
	done                    atomic.Int64
	hist                    *hdrhistogram.Histogram
	windows                 []*hdrhistogram.Histogram // one per second of the window
	ops                     map[string]int64
	aborts                  map[string]int64
	attempts, retried, gave int64
	errors                  int64
	firstErr                error
	_                       [64]byte
}

// done returns the operations recorded so far, for progress.
func (r *runner) done() int64 {
	if r.cfg.Ops > 0 {
		return r.ops.Load()
	}
	var n int64
	for _, t := range r.tallies {
		n += t.done.Load()
	}
	return n
}

func (r *runner) run(ctx context.Context, res *Result) {
	cfg := r.cfg
	var m0, m1 runtime.MemStats
	var start time.Time
	if cfg.Warmup <= 0 {
		// No warm-up: the window opens before the first operation, so
		// that every one counts (a long reader's first included).
		runtime.ReadMemStats(&m0)
		start = time.Now()
		r.start.Store(start.UnixNano())
		r.phase.Store(phaseMeasure)
	}
	tallies := make([]*tally, cfg.Threads)
	r.tallies = tallies
	// Every worker is made before any starts: a workload's lockstep
	// counts its parties as they are made, and a worker started before
	// the others exist would run its rounds alone.
	workers := make([]workload.Worker, cfg.Threads)
	for i := range workers {
		workers[i] = cfg.Workload.NewWorker(i, cfg.Threads, uint64(i)*7919+1)
	}
	var wg sync.WaitGroup
	for i, w := range workers {
		t := &tally{hist: newHistogram(), ops: map[string]int64{}, aborts: map[string]int64{}}
		tallies[i] = t
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s, ok := w.(workload.Stopper); ok {
				defer s.Stop()
			}
			r.worker(ctx, w, t)
		}()
	}
	stopSampler := r.sampleVersions()

	progress := func(warm bool, start time.Time, d time.Duration) {
		if cfg.Progress != nil {
			cfg.Progress(Progress{Engine: r.e.Name(), Workload: cfg.Workload.Name(), Level: cfg.Level.String(),
				Warmup: warm, Elapsed: time.Since(start), Duration: d, Ops: r.done()})
		}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	wait := func(d time.Duration, warm bool) {
		start := time.Now()
		var deadline <-chan time.Time
		if d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			deadline = t.C
		}
		for {
			select {
			case <-deadline:
				if warm || r.done() >= cfg.MinOps {
					return
				}
				deadline = nil // on until MinOps, checked at each tick
			case <-ctx.Done():
				return
			case <-tick.C:
				progress(warm, start, d)
				if !warm && cfg.Ops > 0 && r.phase.Load() == phaseStop {
					return
				}
				if !warm && d > 0 && deadline == nil && r.done() >= cfg.MinOps {
					return // past Duration, waiting for MinOps
				}
			}
		}
	}
	if cfg.Warmup > 0 {
		wait(cfg.Warmup, true)
		runtime.ReadMemStats(&m0)
		start = time.Now()
		r.start.Store(start.UnixNano())
		// With an operation bound, the workers may have ended the run
		// already: the window opens only from the warm-up.
		r.phase.CompareAndSwap(phaseWarmup, phaseMeasure)
	}
	stopFootprint := r.sampleFootprint(res)
	wait(cfg.Duration, false)
	r.phase.Store(phaseStop)
	elapsed := time.Since(start)
	wg.Wait()
	stopFootprint()
	runtime.ReadMemStats(&m1)
	stopSampler()

	all := newHistogram()
	res.OpsByName, res.Aborts = map[string]int64{}, map[string]int64{}
	windows := make([][]*hdrhistogram.Histogram, 0, len(tallies))
	for _, t := range tallies {
		all.Merge(t.hist)
		windows = append(windows, t.windows)
		for k, v := range t.ops {
			res.OpsByName[k] += v
			res.Ops += v
		}
		for k, v := range t.aborts {
			res.Aborts[k] += v
		}
		res.Attempts += t.attempts
		res.Retried += t.retried
		res.GaveUp += t.gave
		res.Errors += t.errors
		if t.firstErr != nil && res.FirstError == "" {
			res.FirstError = t.firstErr.Error()
		}
	}
	res.Elapsed = elapsed
	if elapsed > 0 {
		res.Throughput = float64(res.Ops) / elapsed.Seconds()
	}
	var aborts int64
	for _, v := range res.Aborts {
		aborts += v
	}
	if res.Attempts > 0 {
		res.AbortRate = float64(aborts) / float64(res.Attempts)
	}
	res.Latency = summarize(all)
	res.Timeline = timeline(windows)
	res.GCCycles = m1.NumGC - m0.NumGC
	res.GCPause = time.Duration(m1.PauseTotalNs - m0.PauseTotalNs)
	res.HeapAlloc = m1.HeapAlloc
	if _, ok := r.e.(engine.Versioner); ok {
		res.VersionsReport = true
		res.VersionsPeak = r.peak.Load()
		if o, ok := r.cfg.Workload.(workload.VersionsObserver); ok {
			res.VersionsPeak = max(res.VersionsPeak, o.VersionsPeak())
		}
	}
}

// sampleVersions records the peak of the versions held every 10ms until
// the returned function is called.
func (r *runner) sampleVersions() (stop func()) {
	v, ok := r.e.(engine.Versioner)
	if !ok {
		return func() {}
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if n := v.Versions(); n > r.peak.Load() {
				r.peak.Store(n)
			}
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// Backoff between retries of an aborted operation: exponential, capped,
// with full jitter, as mvcc.DB.Update does.
const (
	minRetryBackoff = 20 * time.Microsecond
	maxRetryBackoff = 5 * time.Millisecond
)

func (r *runner) worker(ctx context.Context, w workload.Worker, t *tally) {
	for ctx.Err() == nil {
		phase := r.phase.Load()
		if phase == phaseStop {
			return
		}
		record := phase == phaseMeasure
		op := w.Next()
		start := time.Now()
		attempts, aborts, err := r.attempt(op)
		lat := time.Since(start)
		if !record || r.phase.Load() == phaseStop && r.cfg.Ops <= 0 {
			continue // warm-up, or finished after the window closed
		}
		t.attempts += attempts
		for _, c := range aborts {
			t.aborts[c]++
		}
		switch {
		case err == nil:
			if len(aborts) > 0 {
				t.retried++
			}
			t.ops[op.Name]++
			_ = t.hist.RecordValue(max(histMin, min(int64(lat), histMax)))
			if sec := int((start.UnixNano() + int64(lat) - r.start.Load()) / int64(time.Second)); sec >= 0 {
				t.windows = recordWindow(t.windows, sec, lat)
			}
			t.done.Store(t.done.Load() + 1) // this goroutine's alone
			if r.cfg.Ops > 0 && r.ops.Add(1) >= r.cfg.Ops {
				r.phase.Store(phaseStop)
			}
		case r.e.Abort(err) != "":
			t.gave++
		default:
			t.errors++
			if t.firstErr == nil {
				t.firstErr = err
			}
		}
	}
}

// attempt runs op until it commits, fails with something other than an
// abort, or runs out of retries. It returns the number of attempts, the
// causes of the aborts met and the last error.
func (r *runner) attempt(op workload.Op) (attempts int64, aborts []string, err error) {
	backoff := minRetryBackoff
	for {
		attempts++
		err = r.e.Txn(r.cfg.Level, op.ReadOnly, op.Fn)
		if err == nil {
			if op.Done != nil {
				op.Done()
			}
			return attempts, aborts, nil
		}
		cause := r.e.Abort(err)
		if cause == "" {
			return attempts, aborts, err
		}
		aborts = append(aborts, cause)
		if len(aborts) > r.cfg.MaxRetries {
			return attempts, aborts, err
		}
		time.Sleep(time.Duration(rand.Int64N(int64(backoff)) + 1))
		backoff = min(2*backoff, maxRetryBackoff)
	}
}
