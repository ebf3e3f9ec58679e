// Command mvkv-bench measures what each isolation level of mvkv costs and
// how mvkv compares with raw bbolt and Badger on the same workloads.
//
// With no flags it runs a quick comparison (about a minute) of the three
// levels and the peers on a temporary database it removes afterwards;
// every cell runs three rounds, interleaved across engines and levels, and
// the figures are medians with their range:
//
//	go run ./bench/cmd/mvkv-bench
//
// Larger runs choose workloads, levels, engines, thread counts and more:
//
//	go run ./bench/cmd/mvkv-bench -workload ycsb-a,ycsb-b -threads 1,4,16,64 -duration 5s -plot out/
//	go run ./bench/cmd/mvkv-bench -workload hotkey -hot-keys 1,4,16,64,256 -plot out/
//	go run ./bench/cmd/mvkv-bench -report out/   # one HTML page: settings, tables, charts
//	go run ./bench/cmd/mvkv-bench -goals
//	go run ./bench/cmd/mvkv-bench -cpu 1,2,4,8,16 -durable=false -plot out/   # scaling with cores
//
// -cpu sweeps GOMAXPROCS: every cell runs at each value, with as many
// goroutines unless -threads is given, and the no-op engine (the
// harness's ceiling) joins the engines; -plot then draws throughput
// against cores for each engine and level (cores-WORKLOAD-throughput).
// Without -workload it runs YCSB-C and YCSB-B.
//
// Progress goes to stderr: a live line on a terminal, a line every few
// seconds otherwise. The results go to stdout as a table, or as JSON
// (-json) or CSV (-csv), with the settings, Go version, CPUs, commit and
// date.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mvkv/mvkv/bench/engine"
	"github.com/mvkv/mvkv/bench/goals"
	"github.com/mvkv/mvkv/bench/report"
	"github.com/mvkv/mvkv/bench/runner"
	"github.com/mvkv/mvkv/bench/workload"
	"github.com/mvkv/mvkv/mvcc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h: the usage was asked for, not an error
		}
		fmt.Fprintln(os.Stderr, "mvkv-bench:", err)
		os.Exit(2)
	}
}

// options are the parsed flags.
type options struct {
	workloads, engines []string
	levels             []mvcc.Level
	threads, hotKeys   []int
	cpus               []int
	duration, warmup   time.Duration
	ops                int64
	durable            bool
	wc                 workload.Config
	json, csv          bool
	plotDir, plotFmt   string
	reportDir          string
	args               []string
	settings           map[string]string
	dir                string
	goals              bool
	goalKeys           int
	progress           bool
	threadsSet         bool
	rounds             int
	cpuProfile         string
	durationSet        bool
	goalOnly           []string
}

func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("mvkv-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	var workloads, engines, levels, threads, hotKeys, dist, cpus string
	fs.StringVar(&workloads, "workload", "ycsb-b,ycsb-a,bank,writeskew", "comma-separated workloads: "+strings.Join(workload.Names(), ", "))
	fs.StringVar(&engines, "engines", strings.Join(engine.Defaults(), ","), "comma-separated engines: "+strings.Join(engine.Names(), ", "))
	fs.StringVar(&levels, "levels", "read-committed,snapshot,serializable", "comma-separated isolation levels (peers run only the levels they can express)")
	fs.StringVar(&threads, "threads", "16", "comma-separated goroutine counts (several: a sweep)")
	fs.StringVar(&cpus, "cpu", "", "comma-separated GOMAXPROCS values: a sweep over cores (threads follow unless -threads is given; the noop engine joins)")
	fs.DurationVar(&o.duration, "duration", 400*time.Millisecond, "measured time of each run; with -goals, of each measurement (then 2s unless set, and the commit-latency goal one run of 30s)")
	fs.DurationVar(&o.warmup, "warmup", 100*time.Millisecond, "unrecorded warm-up before each run")
	fs.Int64Var(&o.ops, "ops", 0, "end each run after this many operations instead (with -duration 0)")
	fs.BoolVar(&o.durable, "durable", true, "fsync every commit (mvkv, bbolt: NoSync=false; Badger: SyncWrites)")
	fs.IntVar(&o.wc.Records, "records", 0, "records loaded (default 10000; bank: 1000 accounts)")
	fs.IntVar(&o.wc.ValueSize, "value-size", 100, "bytes of a YCSB field and of a longreader value")
	fs.IntVar(&o.wc.Fields, "fields", 10, "fields of a YCSB record (stored as one value of fields × value-size bytes)")
	fs.StringVar(&dist, "dist", "", "YCSB request distribution: zipfian, uniform, latest (default: latest for ycsb-d, zipfian otherwise)")
	fs.Float64Var(&o.wc.ZipfConstant, "zipf", 0.99, "zipfian constant")
	fs.StringVar(&hotKeys, "hot-keys", "", "hotkey: comma-separated numbers of hot keys (a contention sweep; default 1,4,16,64); writeskew: shifts (default 4)")
	fs.DurationVar(&o.wc.Think, "think", 0, "pause inside bank, writeskew and hotkey transactions between reads and writes")
	fs.DurationVar(&o.wc.ReaderHold, "reader-hold", 500*time.Millisecond, "longreader: how long each read transaction stays open")
	fs.BoolVar(&o.json, "json", false, "write results as JSON on stdout")
	fs.BoolVar(&o.csv, "csv", false, "write results as CSV on stdout")
	fs.StringVar(&o.plotDir, "plot", "", "write charts into this directory")
	fs.StringVar(&o.reportDir, "report", "", "write one self-contained HTML page (settings, tables, charts) as DIR/index.html")
	fs.StringVar(&o.plotFmt, "plot-format", "svg", "chart format: svg or png")
	fs.StringVar(&o.dir, "dir", "", "parent of the temporary database directories (default: the system's)")
	fs.BoolVar(&o.goals, "goals", false, "measure the performance goals side by side with bbolt instead")
	fs.IntVar(&o.goalKeys, "goal-keys", 1_000_000, "-goals: keys (of 1,000 bytes) of the storage measurement: heap, Open, reads over the dataset")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds of each cell, interleaved across engines and levels (-goals: of each comparison); the median counts")
	only := fs.String("goal", "", "-goals: comma-separated subset to measure: commits, reads, serializable, storage, scaling")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	noProgress := fs.Bool("quiet", false, "no live progress line")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	workloadSet := false
	var unused []string // set, and not used by -goals
	fs.Visit(func(f *flag.Flag) {
		o.threadsSet = o.threadsSet || f.Name == "threads"
		o.durationSet = o.durationSet || f.Name == "duration"
		workloadSet = workloadSet || f.Name == "workload"
		if !goalsFlags[f.Name] {
			unused = append(unused, "-"+f.Name)
		}
	})
	if o.goals && len(unused) > 0 {
		return nil, fmt.Errorf("-goals measures fixed workloads and does not use %s (it uses %s)", strings.Join(unused, ", "), goalsFlagList())
	}
	o.args = args
	o.settings = map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { o.settings[f.Name] = f.Value.String() })
	if o.rounds <= 0 {
		return nil, fmt.Errorf("-rounds %d: at least 1", o.rounds)
	}
	if err := checkNumbers(o); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.plotFmt != "svg" && o.plotFmt != "png" {
		return nil, fmt.Errorf("-plot-format %q: svg or png", o.plotFmt)
	}
	if o.json && o.csv {
		return nil, errors.New("-json and -csv are exclusive")
	}
	o.wc.Distribution = workload.Distribution(dist)
	o.goalOnly = splitList(*only)
	if err := goals.CheckNames(o.goalOnly); err != nil {
		return nil, fmt.Errorf("-goal: %w", err)
	}
	o.workloads = splitList(workloads)
	o.engines = splitList(engines)
	for _, s := range splitList(levels) {
		l, err := mvcc.ParseLevel(s)
		if err != nil {
			return nil, fmt.Errorf("-levels: %w", err)
		}
		o.levels = append(o.levels, l)
	}
	var err error
	if o.threads, err = intList(threads); err != nil {
		return nil, fmt.Errorf("-threads: %w", err)
	}
	if o.hotKeys, err = intList(hotKeys); err != nil {
		return nil, fmt.Errorf("-hot-keys: %w", err)
	}
	if o.cpus, err = intList(cpus); err != nil {
		return nil, fmt.Errorf("-cpu: %w", err)
	}
	if len(o.cpus) > 0 {
		if !workloadSet {
			o.workloads = []string{"ycsb-c", "ycsb-b"}
		}
		if !slices.Contains(o.engines, "noop") {
			o.engines = append([]string{"noop"}, o.engines...)
		}
	}
	if len(o.workloads) == 0 || len(o.engines) == 0 || len(o.levels) == 0 || len(o.threads) == 0 {
		return nil, errors.New("-workload, -engines, -levels and -threads need at least one value each")
	}
	for _, w := range o.workloads { // fail on a typo before running anything
		if _, err := workload.New(w, workload.Config{Records: 2, HotKeys: 1}); err != nil {
			return nil, fmt.Errorf("-workload: %w", err)
		}
	}
	if dist != "" { // checked whichever workloads run
		if _, err := workload.New("ycsb-a", workload.Config{Records: 2, Distribution: o.wc.Distribution}); err != nil {
			return nil, fmt.Errorf("-dist: %w", err)
		}
	}
	for _, e := range o.engines {
		if !slices.Contains(engine.Names(), e) {
			return nil, fmt.Errorf("-engines: %w: %q (known: %s)", engine.ErrUnknown, e, strings.Join(engine.Names(), ", "))
		}
	}
	o.progress = !*noProgress
	recordUsed(o)
	return o, nil
}

// goalsFlags are the flags -goals uses; it refuses the others rather than
// ignore them (a -cpu sweep or an engine list it did not run).
var goalsFlags = map[string]bool{
	"goals": true, "goal": true, "goal-keys": true, "rounds": true, "duration": true, "records": true,
	"value-size": true, "threads": true, "dir": true, "json": true, "quiet": true, "cpuprofile": true,
}

func goalsFlagList() string {
	names := slices.Sorted(maps.Keys(goalsFlags))
	for i, n := range names {
		names[i] = "-" + n
	}
	return strings.Join(names, ", ")
}

// checkNumbers refuses numeric flags out of their range, which the
// workloads and the runner would otherwise quietly replace by their
// defaults.
func checkNumbers(o *options) error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"duration", o.duration}, {"warmup", o.warmup}, {"reader-hold", o.wc.ReaderHold}, {"think", o.wc.Think}} {
		if d.v < 0 {
			return fmt.Errorf("-%s %v: must not be negative", d.name, d.v)
		}
	}
	for _, n := range []struct {
		name   string
		v, min int64
	}{
		{"ops", o.ops, 0}, {"records", int64(o.wc.Records), 0}, {"value-size", int64(o.wc.ValueSize), 1},
		{"fields", int64(o.wc.Fields), 1}, {"goal-keys", int64(o.goalKeys), 1},
	} {
		if n.v < n.min {
			return fmt.Errorf("-%s %d: at least %d", n.name, n.v, n.min)
		}
	}
	if o.duration == 0 && o.ops == 0 && !o.goals {
		return errors.New("-duration 0 runs until -ops operations: give -ops, or a duration")
	}
	// YCSB's zipfian (Gray et al.'s generator) is defined for a
	// constant between 0 and 1: at 1 its exponent 1/(1-θ) is infinite.
	if z := o.wc.ZipfConstant; !(z > 0 && z < 1) {
		return fmt.Errorf("-zipf %v: between 0 and 1, exclusive (YCSB's default 0.99)", z)
	}
	return nil
}

// hotKeySweep is the hotkey workload's default sweep of hot keys.
var hotKeySweep = []int{1, 4, 16, 64}

// recordUsed replaces the settings "records", "hot-keys" and "dist",
// whose flags default to "use each workload's own default", with the
// values the workloads run with, and "workload", "engines" and "threads"
// with what a -cpu sweep runs, so that a report says what ran: the
// value alone when every workload that uses the setting runs with the
// same one ("1000"), else each such workload's, "bank:1000;ycsb-b:10000"
// (no space or '=', which the CSV's settings column separates with).
func recordUsed(o *options) {
	var records, hot, dist perWorkload
	for _, w := range o.workloads {
		wl, err := workload.New(w, o.wc)
		if err != nil {
			continue // parse checked every name
		}
		cfg := wl.Config()
		switch w {
		case "hotkey":
			hot.add(w, joinInts(hotKeyParams(o)))
		case "writeskew":
			shifts := cfg.HotKeys
			if len(o.hotKeys) > 0 {
				shifts = o.hotKeys[0]
			}
			hot.add(w, strconv.Itoa(shifts))
		default:
			records.add(w, strconv.Itoa(cfg.Records))
		}
		if strings.HasPrefix(w, "ycsb-") {
			dist.add(w, string(cfg.Distribution))
		}
	}
	o.settings["records"] = records.String()
	o.settings["hot-keys"] = hot.String()
	o.settings["dist"] = dist.String()
	// A -cpu sweep changes the defaults of three more: the workloads
	// (read-only ones), the engines (noop joins), and the threads (one
	// per core allowed, unless -threads is given).
	o.settings["workload"] = strings.Join(o.workloads, ",")
	o.settings["engines"] = strings.Join(o.engines, ",")
	if len(o.cpus) > 0 && !o.threadsSet {
		o.settings["threads"] = joinInts(o.cpus)
	}
}

// perWorkload is a setting's value for each workload that uses it.
type perWorkload []string // "workload:value"

func (p *perWorkload) add(w, v string) { *p = append(*p, w+":"+v) }

// String is the one value all share, or every "workload:value".
func (p perWorkload) String() string {
	var first string
	for i, wv := range p {
		_, v, _ := strings.Cut(wv, ":")
		if i == 0 {
			first = v
		} else if v != first {
			return strings.Join(p, ";")
		}
	}
	return first
}

// hotKeyParams are the numbers of hot keys the hotkey workload sweeps.
func hotKeyParams(o *options) []int {
	if len(o.hotKeys) > 0 {
		return o.hotKeys
	}
	return hotKeySweep
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, strings.ToLower(f))
		}
	}
	return out
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close() //nolint:errcheck // a profile: StopCPUProfile has flushed it
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if o.goals {
		return runGoals(ctx, o, stdout, stderr)
	}
	results, err := runAll(ctx, o, stderr)
	if err != nil {
		return err
	}
	rep := report.New(report.NewMeta(o.args, o.settings), results)
	switch {
	case o.json:
		err = report.WriteJSON(stdout, rep)
	case o.csv:
		err = report.WriteCSV(stdout, rep)
	default:
		err = report.WriteTable(stdout, rep)
	}
	if err != nil {
		return err
	}
	if o.plotDir != "" {
		files, err := report.WritePlots(o.plotDir, o.plotFmt, rep)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %d charts into %s\n", len(files), o.plotDir)
	}
	if o.reportDir != "" {
		path, err := report.WriteHTML(o.reportDir, rep)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote the report %s\n", path)
	}
	if broken := rep.Broken(); len(broken) > 0 {
		s := broken[0]
		return fmt.Errorf("%s on %s at %s broke its invariant: %s", s.Workload, s.Engine, s.Level, s.Invariant.Detail)
	}
	return nil
}

// cell is one combination the grid runs.
type cell struct {
	workload, param string
	wc              workload.Config
	threads, procs  int // procs: GOMAXPROCS for the run, 0 to leave it
	engine          string
	level           mvcc.Level
}

// plan lists every combination: workload × sweep point × threads × engine
// × level. A peer runs only the levels it can express; the others come
// back as one skipped Result each, with the reason, at their place.
func plan(o *options) ([]cell, []*runner.Result, error) {
	var cells []cell
	var skips []*runner.Result // parallel to cells: a skipped row goes before cell i
	for _, w := range o.workloads {
		params := []int{0}
		switch {
		case w == "hotkey":
			params = hotKeyParams(o)
		case w == "writeskew" && len(o.hotKeys) > 0:
			params = o.hotKeys[:1]
		}
		for _, hot := range params {
			wc, param := o.wc, ""
			if hot > 0 {
				wc.HotKeys = hot
				if w == "hotkey" {
					param = report.HotKeysParam(hot)
				}
			}
			procsList := o.cpus
			if len(procsList) == 0 {
				procsList = []int{0}
			}
			for _, procs := range procsList {
				threadsList, param := o.threads, param
				if procs > 0 {
					if !o.threadsSet {
						threadsList = []int{procs}
					}
					param = strings.TrimSpace(param + " " + report.CPUParam(procs))
				}
				for _, threads := range threadsList {
					for _, eng := range o.engines {
						supported, note, err := engine.LevelsOf(eng)
						if err != nil {
							return nil, nil, err
						}
						var skipped []string
						levels := o.levels
						if eng == "noop" {
							// No level changes what it does: one row
							// of the ceiling, not one per level.
							levels = levels[:1]
						}
						for _, level := range levels {
							if !slices.Contains(supported, level) {
								skipped = append(skipped, level.String())
								continue
							}
							cells = append(cells, cell{w, param, wc, threads, procs, eng, level})
							skips = append(skips, nil)
						}
						if len(skipped) > 0 {
							cells = append(cells, cell{})
							skips = append(skips, &runner.Result{
								Engine: eng, Workload: w, Level: strings.Join(skipped, "+"), Threads: threads, Param: param,
								Durable: o.durable, Note: note,
								Skipped: eng + " cannot express " + strings.Join(skipped, " or "),
							})
						}
					}
				}
			}
		}
	}
	return cells, skips, nil
}

// runAll runs every cell o.rounds times, one round of all cells after
// another, so that drift on a noisy machine (another process, a warming
// disk) spreads over every engine and level instead of favouring
// whichever ran at a quiet moment. -goals alternates its rounds likewise.
func runAll(ctx context.Context, o *options, stderr io.Writer) ([]runner.Result, error) {
	cells, skips, err := plan(o)
	if err != nil {
		return nil, err
	}
	runs := 0
	for _, s := range skips {
		if s == nil {
			runs++
		}
	}
	show := newProgress(o.progress, stderr, runs*o.rounds, o.warmup+o.duration)
	defer show.done()
	var results []runner.Result
	for round := 1; round <= o.rounds; round++ {
		for i, c := range cells {
			if skips[i] != nil {
				if round == 1 {
					results = append(results, *skips[i])
				}
				continue
			}
			if ctx.Err() != nil {
				return results, ctx.Err()
			}
			wl, err := workload.New(c.workload, c.wc)
			if err != nil {
				return results, err
			}
			show.begin(fmt.Sprintf("round %d/%d", round, o.rounds))
			prev := runtime.GOMAXPROCS(0)
			if c.procs > 0 {
				runtime.GOMAXPROCS(c.procs)
			}
			res, err := runner.Run(ctx, runner.Config{
				Engine: c.engine, Dir: o.dir, EngineOptions: engine.Options{Durable: o.durable},
				Workload: wl, Level: c.level, Threads: c.threads,
				Duration: o.duration, Ops: o.ops, Warmup: o.warmup, Param: c.param,
				Progress: show.update,
			})
			runtime.GOMAXPROCS(prev)
			if err != nil {
				return results, fmt.Errorf("%s on %s at %s: %w", c.workload, c.engine, c.level, err)
			}
			res.Round = round
			show.end(res)
			results = append(results, res)
		}
	}
	return results, nil
}
