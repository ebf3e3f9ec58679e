package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/bench/report"
)

func TestJSONOutputParses(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{
		"-json", "-rounds", "2", "-workload", "bank,ycsb-b", "-engines", "mvkv,bbolt", "-levels", "snapshot,serializable",
		"-threads", "2", "-duration", "0", "-ops", "50", "-warmup", "0s", "-durable=false", "-fields", "1", "-dir", t.TempDir(),
	}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	var rep report.Report
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &rep), stdout.String())
	// mvkv at two levels, bbolt at serializable plus one skipped row, per workload.
	require.Len(t, rep.Summaries, 2*4)
	assert.Equal(t, "2", rep.Meta.Settings["rounds"])
	assert.Equal(t, "50", rep.Meta.Settings["ops"])
	// What ran, not the flags' "each workload's default".
	assert.Equal(t, "bank:1000;ycsb-b:10000", rep.Meta.Settings["records"])
	assert.Empty(t, rep.Meta.Settings["hot-keys"], "neither workload has hot keys")
	assert.Equal(t, "zipfian", rep.Meta.Settings["dist"], "YCSB-B's default distribution")
	assert.NotEmpty(t, rep.Meta.GoVersion)
	assert.Positive(t, rep.Meta.CPUs)
	assert.False(t, rep.Meta.Date.IsZero())
	require.Len(t, rep.Runs, 2*(2*3)+2, "two rounds of the six cells that run, one skipped row each")
	for _, r := range rep.Summaries {
		if r.Skipped != "" {
			assert.Equal(t, "bbolt", r.Engine)
			assert.Equal(t, "snapshot", r.Level)
			continue
		}
		assert.Equal(t, 2, r.Rounds)
		// Bounded by operations, not time: every run measured something.
		assert.Positive(t, r.Throughput.Median, "%s %s %s", r.Workload, r.Engine, r.Level)
		assert.LessOrEqual(t, r.Throughput.Min, r.Throughput.Median)
		assert.False(t, r.Durable)
		assert.True(t, r.Invariant.Holds, r.Invariant.Detail)
	}
	// Without a terminal, progress comes as plain lines; the last says
	// where the invocation ended.
	assert.Contains(t, stderr.String(), "run 12/12 (")
}

func TestQuietIsQuiet(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-quiet", "-workload", "ycsb-c", "-engines", "mvkv", "-levels", "snapshot",
		"-threads", "1", "-rounds", "1", "-duration", "0", "-ops", "100", "-warmup", "0s", "-durable=false", "-dir", t.TempDir()}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	assert.Empty(t, stderr.String())
	assert.Contains(t, stdout.String(), "one round per cell")
}

func TestCSVAndPlots(t *testing.T) {
	var stdout, stderr bytes.Buffer
	plots := filepath.Join(t.TempDir(), "plots")
	err := run(context.Background(), []string{
		"-csv", "-rounds", "1", "-workload", "hotkey", "-hot-keys", "1,8", "-engines", "mvkv", "-levels", "snapshot",
		"-threads", "1,2", "-duration", "0", "-ops", "100", "-warmup", "0s", "-durable=false", "-dir", t.TempDir(), "-plot", plots,
	}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	rows, err := csv.NewReader(&stdout).ReadAll()
	require.NoError(t, err)
	assert.Len(t, rows, 1+2*2) // header, 2 hot-key counts × 2 thread counts
	assert.Contains(t, strings.Fields(rows[1][len(rows[1])-1]), "hot-keys=1,8", "the settings say the sweep that ran")
	entries, err := os.ReadDir(plots)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Contains(t, names, "contention-hotkey-abort-rate.svg")
	assert.Contains(t, names, "threads-hotkey-hot-keys8-throughput.svg")
}

func TestTableIsTheDefaultOutput(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-rounds", "1", "-workload", "writeskew", "-engines", "mvkv", "-levels", "snapshot",
		"-threads", "2", "-duration", "0", "-ops", "100", "-durable=false", "-dir", t.TempDir()}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	assert.Contains(t, stdout.String(), "ops/s")
	assert.Contains(t, stdout.String(), "writeskew")
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-workload", "nope"},
		{"-engines", "rocksdb"},
		{"-levels", "chaos"},
		{"-threads", "0"},
		{"-json", "-csv"},
		{"stray"},
		{"-rounds", "0"},
		{"-duration", "-1s"},
		{"-warmup", "-1ms"},
		{"-duration", "0"},
		{"-ops", "-5", "-duration", "0"},
		{"-records", "-1"},
		{"-value-size", "-1"},
		{"-fields", "0"},
		{"-reader-hold", "-1s"},
		{"-think", "-1ms"},
		{"-goals", "-goal-keys", "0"},
		{"-warmup", "-1s"},
		{"-ops", "-1"},
		{"-records", "-5"},
		{"-value-size", "0"},
		{"-fields", "-1"},
		{"-zipf", "1"},
		{"-zipf", "0"},
		{"-plot-format", "gif", "-plot", "x", "-duration", "1ms", "-workload", "ycsb-c", "-engines", "mvkv", "-levels", "snapshot"},
	} {
		var stdout, stderr bytes.Buffer
		args = append(args, "-dir", t.TempDir())
		err := run(context.Background(), args, &stdout, &stderr)
		assert.Error(t, err, "%q", args)
	}
	// A misspelt name gets the list of those known.
	for flagName, known := range map[string]string{
		"-engines": "known: mvkv, mvkv-locking, bbolt", "-workload": "known: ycsb-a", "-levels": "read-committed, snapshot or serializable",
		"-dist": "known: zipfian, uniform, latest", "-goal": "known: commits, reads",
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{flagName, "foo", "-dir", t.TempDir()}, &stdout, &stderr)
		assert.ErrorContains(t, err, known, flagName)
		assert.ErrorContains(t, err, flagName+": ", "the error names the flag")
	}
	// -goals refuses what it would ignore, naming it.
	for _, args := range [][]string{{"-goals", "-cpu", "1,2"}, {"-goals", "-engines", "bbolt", "-goal", "commits"}, {"-goals", "-csv"}} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append(args, "-dir", t.TempDir()), &stdout, &stderr)
		assert.ErrorContains(t, err, "does not use "+args[1], "%q", args)
		assert.Empty(t, stdout.String(), "nothing measured")
	}
	var stdout, stderr bytes.Buffer
	assert.ErrorIs(t, run(context.Background(), []string{"-h"}, &stdout, &stderr), flag.ErrHelp)
	assert.Contains(t, stderr.String(), "-workload")
	assert.NotRegexp(t, `default [^)]*\) \(default`, stderr.String(), "one default per flag")
}

// TestReport: -report writes one page holding the context, a table per
// group and the charts inline; bench's TestHTMLReportRendersInChromium
// checks that a browser draws it.
func TestReport(t *testing.T) {
	var stdout, stderr bytes.Buffer
	dir := filepath.Join(t.TempDir(), "report")
	err := run(context.Background(), []string{"-report", dir, "-rounds", "1", "-workload", "bank", "-engines", "mvkv", "-levels", "read-committed,snapshot",
		"-threads", "2", "-duration", "0", "-ops", "100", "-warmup", "0s", "-durable=false", "-think", "1ms", "-dir", t.TempDir()}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	require.NoError(t, err)
	s := string(page)
	assert.Contains(t, s, "bank, 2 threads")
	assert.Contains(t, s, `src="data:image/svg`)
	assert.Contains(t, s, `id="throughput-bank-t2"`)
	assert.Contains(t, s, "-think")
	assert.Contains(t, stderr.String(), "wrote the report")
}

// -cpu sweeps GOMAXPROCS: threads follow the cores, the no-op engine
// joins as the harness's ceiling, each run records its GOMAXPROCS, and
// -plot draws throughput against cores.
func TestCPUSweep(t *testing.T) {
	var stdout, stderr bytes.Buffer
	plots := t.TempDir()
	err := run(context.Background(), []string{
		"-json", "-quiet", "-cpu", "1,2", "-workload", "ycsb-c", "-engines", "mvkv", "-levels", "snapshot",
		"-rounds", "1", "-duration", "0", "-ops", "200", "-warmup", "0s", "-durable=false", "-dir", t.TempDir(), "-plot", plots,
	}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	var rep report.Report
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &rep), stdout.String())
	require.Len(t, rep.Runs, 4, "noop and mvkv at 1 and 2 cores")
	for _, r := range rep.Runs {
		assert.Contains(t, []string{"noop", "mvkv"}, r.Engine)
		assert.Equal(t, r.Procs, r.Threads, "threads follow the cores")
		assert.Equal(t, report.CPUParam(r.Procs), r.Param)
		// Bounded by operations, not time: every run measured something.
		assert.Positive(t, r.Throughput)
	}
	assert.FileExists(t, filepath.Join(plots, "cores-ycsb-c-throughput.svg"))

	// The ceiling is one row per core count, whatever the levels.
	stdout.Reset()
	err = run(context.Background(), []string{
		"-json", "-quiet", "-cpu", "1", "-workload", "ycsb-c", "-engines", "mvkv", "-levels", "snapshot,serializable",
		"-rounds", "1", "-duration", "0", "-ops", "100", "-warmup", "0s", "-durable=false", "-dir", t.TempDir(),
	}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	rep = report.Report{}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &rep), stdout.String())
	var noops, ours int
	for _, r := range rep.Runs {
		switch r.Engine {
		case "noop":
			noops++
			assert.Empty(t, r.Skipped, "no level is skipped for the ceiling: it has none")
		case "mvkv":
			ours++
		}
	}
	assert.Equal(t, 1, noops, "one ceiling row")
	assert.Equal(t, 2, ours, "mvkv at both levels")

	stdout.Reset()
	err = run(context.Background(), []string{
		"-json", "-quiet", "-cpu", "2", "-threads", "3", "-workload", "ycsb-c", "-engines", "noop", "-levels", "snapshot",
		"-rounds", "1", "-duration", "0", "-ops", "100", "-warmup", "0s", "-durable=false", "-dir", t.TempDir(),
	}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	rep = report.Report{}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &rep))
	require.Len(t, rep.Runs, 1)
	assert.Equal(t, 3, rep.Runs[0].Threads, "-threads, when given, holds")
	assert.Equal(t, 2, rep.Runs[0].Procs)

	// A GOMAXPROCS above the machine's CPUs is said to show no scaling.
	stdout.Reset()
	over := runtime.NumCPU() + 1
	err = run(context.Background(), []string{
		"-quiet", "-cpu", strconv.Itoa(over), "-workload", "ycsb-c", "-engines", "noop", "-levels", "snapshot",
		"-rounds", "1", "-duration", "0", "-ops", "100", "-warmup", "0s", "-durable=false", "-dir", t.TempDir(),
	}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	assert.Contains(t, stdout.String(), fmt.Sprintf("cpu=%d: more than this machine's %d CPUs", over, runtime.NumCPU()))
}

// The settings record the values each workload ran with where its flag
// was left at "each workload's default": the bank's 1,000 accounts, the
// hotkey workload's sweep, YCSB-D's latest distribution.
func TestSettingsRecordWhatRan(t *testing.T) {
	for _, c := range []struct {
		workloads string
		want      map[string]string
	}{
		{"bank", map[string]string{"records": "1000", "hot-keys": "", "dist": ""}},
		{"hotkey", map[string]string{"records": "", "hot-keys": "1,4,16,64", "dist": ""}},
		{"hotkey,writeskew", map[string]string{"hot-keys": "hotkey:1,4,16,64;writeskew:4"}},
		{"ycsb-a,ycsb-d", map[string]string{"records": "10000", "dist": "ycsb-a:zipfian;ycsb-d:latest"}},
	} {
		o, err := parse([]string{"-workload", c.workloads}, io.Discard)
		require.NoError(t, err)
		for k, v := range c.want {
			assert.Equal(t, v, o.settings[k], "%s: %s", c.workloads, k)
		}
	}
}

// A -cpu sweep records the workloads, engines and threads it runs, not
// the flags' defaults it replaces.
func TestSettingsRecordTheCPUSweep(t *testing.T) {
	o, err := parse([]string{"-cpu", "1,2", "-engines", "mvkv"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "ycsb-c,ycsb-b", o.settings["workload"])
	assert.Equal(t, "noop,mvkv", o.settings["engines"])
	assert.Equal(t, "1,2", o.settings["threads"], "one thread per core allowed")
	o, err = parse([]string{"-cpu", "1,2", "-threads", "8", "-workload", "bank"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "bank", o.settings["workload"])
	assert.Equal(t, "8", o.settings["threads"])
}
