package report_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/bench/report"
	"github.com/mvkv/mvkv/bench/runner"
	"github.com/mvkv/mvkv/bench/workload"
)

// sweep makes the results of a hot-key sweep over two thread counts in
// three rounds, as the CLI would produce, with read committed losing
// updates, plus a skipped row.
func sweep() []runner.Result {
	out := []runner.Result{{Engine: "bbolt", Workload: "hotkey", Level: "snapshot", Threads: 2,
		Skipped: "bbolt cannot express snapshot", Note: "one writer at a time"}}
	for round := 1; round <= 3; round++ {
		for _, threads := range []int{2, 8} {
			for _, hot := range []int{1, 16, 256} {
				for i, level := range []string{"read-committed", "snapshot", "serializable"} {
					inv := workload.Invariant{Name: "counters", Holds: i > 0, MustHold: i > 0, Detail: "lost 12 updates"}
					if !inv.Holds {
						inv.Violations = 12
					}
					out = append(out, runner.Result{
						Engine: "mvkv", Workload: "hotkey", Level: level, Threads: threads, Param: report.HotKeysParam(hot), Round: round,
						Ops: 1000, Elapsed: time.Second, Throughput: float64(1000*threads/hot) * float64(3+i+round) / 3,
						Latency:   runner.Latency{P50: time.Microsecond, P99: time.Duration(hot*round) * time.Millisecond},
						Aborts:    map[string]int64{"write-write": int64(100 / hot)},
						AbortRate: 0.1 / float64(hot*round),
						Invariant: inv,
					})
				}
			}
		}
	}
	return out
}

func sweepReport() report.Report {
	return report.New(report.NewMeta([]string{"-workload", "hotkey"}, map[string]string{"rounds": "3", "duration": "1s", "warmup": "0s"}), sweep())
}

func TestWriteJSONRoundTrips(t *testing.T) {
	in := sweepReport()
	var buf bytes.Buffer
	require.NoError(t, report.WriteJSON(&buf, in))
	var out report.Report
	require.NoError(t, json.Unmarshal(buf.Bytes(), &out))
	assert.Equal(t, in, out)
	assert.Equal(t, runtime.Version(), out.Meta.GoVersion)
	assert.Equal(t, "3", out.Meta.Settings["rounds"])
}

// TestSummariesFoldRounds: each cell's rounds become one Summary holding
// the median and range, with the worst round's invariant.
func TestSummariesFoldRounds(t *testing.T) {
	rep := sweepReport()
	require.Len(t, rep.Summaries, 1+2*3*3)
	assert.Equal(t, "bbolt cannot express snapshot", rep.Summaries[0].Skipped)
	s := rep.Summaries[1] // 2 threads, 1 hot key, read committed
	assert.Equal(t, "read-committed", s.Level)
	assert.Equal(t, 3, s.Rounds)
	assert.Equal(t, report.Spread{Median: 2000 * 5 / 3.0, Min: 2000 * 4 / 3.0, Max: 2000 * 6 / 3.0}, s.Throughput)
	assert.Equal(t, float64(2*time.Millisecond), s.P99.Median)
	assert.Equal(t, int64(300), s.Aborts["write-write"])
	assert.False(t, s.Invariant.Holds)
	assert.Equal(t, int64(36), s.Invariant.Violations)
	// Rows one step apart overlap over three rounds: no ranking.
	assert.NotEmpty(t, rep.Ties)
	assert.Equal(t, report.Tie{Group: "hotkey hot-keys=1, 2 threads", Rows: []string{"mvkv serializable", "mvkv snapshot", "mvkv read-committed"}}, rep.Ties[0])
}

func TestWriteCSVHasOneRowPerCell(t *testing.T) {
	rep := sweepReport()
	var buf bytes.Buffer
	require.NoError(t, report.WriteCSV(&buf, rep))
	rows, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, len(rep.Summaries)+1)
	head := rows[0]
	assert.Equal(t, "workload", head[0])
	assert.Equal(t, "hot-keys=1", rows[2][1])
	for _, r := range rows {
		assert.Len(t, r, len(head))
	}
	col := map[string]string{}
	for i, h := range head {
		col[h] = rows[2][i]
	}
	assert.Equal(t, "3", col["rounds"])
	assert.Equal(t, runtime.Version(), col["go_version"])
	assert.Equal(t, "3333.3", col["ops_per_sec"])
	assert.Contains(t, col["settings"], "rounds=3")
	assert.NotEmpty(t, col["date"])
}

func TestWriteTable(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, report.WriteTable(&buf, sweepReport()))
	s := buf.String()
	assert.Contains(t, s, "hot-keys=16")
	assert.Contains(t, s, "ww")
	assert.Contains(t, s, "(2.67–4.00k)")
	assert.Contains(t, s, "violated 36× (allowed)")
	assert.Contains(t, s, "bbolt (snapshot: n/a): one writer at a time")
	assert.Contains(t, s, "too close to rank")
	assert.Contains(t, s, runtime.Version())
	assert.NotContains(t, s, "BROKEN")
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(line, "too close") && !strings.Contains(line, ": one writer") && !strings.HasPrefix(line, "20") {
			assert.LessOrEqual(t, utf8.RuneCountInString(line), 115, "%q", line)
		}
	}
}

func TestWritePlots(t *testing.T) {
	for _, format := range []string{"svg", "png"} {
		dir := filepath.Join(t.TempDir(), "charts")
		files, err := report.WritePlots(dir, format, sweepReport())
		require.NoError(t, err)
		names := map[string]bool{}
		for _, f := range files {
			names[filepath.Base(f)] = true
			st, err := os.Stat(f)
			require.NoError(t, err)
			assert.Positive(t, st.Size())
		}
		for _, want := range []string{
			"throughput-hotkey-hot-keys1-t2." + format, "p99-hotkey-hot-keys256-t8." + format,
			"threads-hotkey-hot-keys16-throughput." + format, "threads-hotkey-hot-keys16-p99." + format,
			"contention-hotkey-abort-rate." + format,
		} {
			assert.True(t, names[want], "missing %s in %v", want, files)
		}
	}
	_, err := report.WritePlots(t.TempDir(), "gif", sweepReport())
	assert.Error(t, err)
}

// TestChartsSayWhatTheTableSays: a violated invariant is marked on every
// chart that shows the cell, latencies come in a readable unit, and a
// swept axis labels the values swept.
func TestChartsSayWhatTheTableSays(t *testing.T) {
	charts, err := report.Charts(sweepReport())
	require.NoError(t, err)
	svg := map[string]string{}
	for _, c := range charts {
		var buf bytes.Buffer
		require.NoError(t, c.Render(&buf, "svg"))
		svg[c.Name] = buf.String()
	}
	for name, s := range svg {
		if strings.HasPrefix(name, "throughput-") || strings.HasPrefix(name, "p99-") {
			assert.Contains(t, s, "mvkv read-committed [violated]", name)
			assert.Contains(t, s, ">invariant violated<", name)
		} else {
			assert.Contains(t, s, ">invariant violated<", name, "the cross marking violated points")
		}
	}
	assert.Contains(t, svg["p99-hotkey-hot-keys256-t8"], "p99 latency (ms)")
	assert.NotContains(t, svg["p99-hotkey-hot-keys256-t8"], ".00<")
	assert.Contains(t, svg["throughput-hotkey-hot-keys1-t8"], ">10.0k<")
	threads := svg["threads-hotkey-hot-keys16-throughput"]
	assert.Contains(t, threads, ">2<")
	assert.Contains(t, threads, ">8<")
	contention := svg["contention-hotkey-abort-rate"]
	for _, hot := range []string{">1<", ">16<", ">256<"} {
		assert.Contains(t, contention, hot, "a tick at each swept hot-key count")
	}
}

// TestFootprintCharts: runs that recorded a footprint get a heap chart and
// a file chart, one line per engine and level.
func TestFootprintCharts(t *testing.T) {
	var runs []runner.Result
	for i, eng := range []string{"mvkv", "bbolt"} {
		r := runner.Result{Engine: eng, Workload: "longreader", Level: "serializable", Threads: 4, Round: 1, Ops: 10}
		for s := range 5 {
			r.Footprint = append(r.Footprint, runner.Sample{At: time.Duration(s) * time.Second, HeapBytes: uint64(s+i) << 20, FileBytes: int64(10*s+i) << 20})
		}
		runs = append(runs, r)
	}
	charts, err := report.Charts(report.New(report.Meta{}, runs))
	require.NoError(t, err)
	names := map[string]string{}
	for _, c := range charts {
		var buf bytes.Buffer
		require.NoError(t, c.Render(&buf, "svg"))
		names[c.Name] = buf.String()
	}
	for _, n := range []string{"heap-longreader-t4", "file-longreader-t4"} {
		require.Contains(t, names, n)
		assert.Contains(t, names[n], "mvkv serializable", n)
		assert.Contains(t, names[n], "bbolt serializable", n)
	}
}

// TestTimelineChart: runs of five seconds or more get a chart of each
// second's p99, one line per engine and level; shorter ones none.
func TestTimelineChart(t *testing.T) {
	var rs []runner.Result
	for _, level := range []string{"snapshot", "serializable"} {
		r := runner.Result{Engine: "mvkv", Workload: "put", Level: level, Threads: 16, Round: 1,
			Ops: 600, Elapsed: 6 * time.Second, Throughput: 100, Latency: runner.Latency{P50: time.Millisecond, P99: 3 * time.Millisecond}}
		for sec := range 6 {
			r.Timeline = append(r.Timeline, runner.Window{Second: sec, Ops: 100, P50: time.Millisecond, P99: time.Duration(sec+2) * time.Millisecond})
		}
		rs = append(rs, r)
	}
	short := rs[0]
	short.Workload, short.Timeline = "bank", short.Timeline[:2]
	rs = append(rs, short)
	charts, err := report.Charts(report.New(report.NewMeta(nil, nil), rs))
	require.NoError(t, err)
	var names []string
	for _, c := range charts {
		names = append(names, c.Name)
	}
	assert.Contains(t, names, "timeline-p99-put-t16")
	assert.NotContains(t, names, "timeline-p99-bank-t16")
	for _, c := range charts {
		if c.Name == "timeline-p99-put-t16" {
			var b bytes.Buffer
			require.NoError(t, c.Render(&b, "svg"))
			assert.Contains(t, b.String(), "mvkv serializable")
			assert.Contains(t, b.String(), "p99 latency (ms)")
		}
	}
}
