package bench

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// WritePlots draws charts of results into dir (created if needed) as
// format "svg" or "png", and returns the files written:
//
//   - throughput-WORKLOAD-tN and p99-WORKLOAD-tN: one bar per engine and
//     level, for each workload and thread count;
//   - threads-WORKLOAD-throughput and threads-WORKLOAD-p99: one line per
//     engine and level against threads, where several thread counts ran;
//   - contention-WORKLOAD-abort-rate: abort rate against the number of hot
//     keys, where a hot-key sweep ran.
func WritePlots(dir, format string, results []Result) ([]string, error) {
	if format != "svg" && format != "png" {
		return nil, fmt.Errorf("bench: plot format %q (svg or png)", format)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	save := func(p *plot.Plot, name string, width vg.Length) error {
		path := filepath.Join(dir, name+"."+format)
		if err := p.Save(width, 4*vg.Inch, path); err != nil {
			return fmt.Errorf("bench: plot %s: %w", path, err)
		}
		files = append(files, path)
		return nil
	}
	ran := slices.DeleteFunc(slices.Clone(results), func(r Result) bool { return r.Skipped != "" })

	// Bars: by level and engine, per workload, param and thread count.
	type group struct {
		workload, param string
		threads         int
	}
	var groups []group
	byGroup := map[group][]Result{}
	for _, r := range ran {
		g := group{r.Workload, r.Param, r.Threads}
		if _, ok := byGroup[g]; !ok {
			groups = append(groups, g)
		}
		byGroup[g] = append(byGroup[g], r)
	}
	for _, g := range groups {
		rs := byGroup[g]
		suffix := fmt.Sprintf("%s%s-t%d", g.workload, paramSuffix(g.param), g.threads)
		title := fmt.Sprintf("%s %s, %d threads", g.workload, g.param, g.threads)
		width := vg.Length(max(4, 1+len(rs))) * vg.Inch
		p, err := barChart(rs, "throughput: "+title, "ops/s", func(r Result) float64 { return r.Throughput })
		if err != nil {
			return files, err
		}
		if err := save(p, "throughput-"+suffix, width); err != nil {
			return files, err
		}
		p, err = barChart(rs, "p99 latency: "+title, "p99 (µs)", func(r Result) float64 { return float64(r.Latency.P99) / 1e3 })
		if err != nil {
			return files, err
		}
		if err := save(p, "p99-"+suffix, width); err != nil {
			return files, err
		}
	}

	// Lines against threads, per workload and param.
	for _, wp := range distinct(ran, func(r Result) string { return r.Workload + paramSuffix(r.Param) }) {
		rs := slices.DeleteFunc(slices.Clone(ran), func(r Result) bool { return r.Workload+paramSuffix(r.Param) != wp })
		if len(distinct(rs, func(r Result) string { return strconv.Itoa(r.Threads) })) < 2 {
			continue
		}
		x := func(r Result) float64 { return float64(r.Threads) }
		p, err := lineChart(rs, wp+": throughput by threads", "threads", "ops/s", x, func(r Result) float64 { return r.Throughput })
		if err != nil {
			return files, err
		}
		if err := save(p, "threads-"+wp+"-throughput", 6*vg.Inch); err != nil {
			return files, err
		}
		p, err = lineChart(rs, wp+": p99 latency by threads", "threads", "p99 (µs)", x, func(r Result) float64 { return float64(r.Latency.P99) / 1e3 })
		if err != nil {
			return files, err
		}
		if err := save(p, "threads-"+wp+"-p99", 6*vg.Inch); err != nil {
			return files, err
		}
	}

	// Abort rate against contention, per workload swept over hot keys, at
	// the largest thread count.
	for _, w := range distinct(ran, func(r Result) string { return r.Workload }) {
		rs := slices.DeleteFunc(slices.Clone(ran), func(r Result) bool { return r.Workload != w || hotKeys(r.Param) <= 0 })
		if len(distinct(rs, func(r Result) string { return r.Param })) < 2 {
			continue
		}
		top := 0
		for _, r := range rs {
			top = max(top, r.Threads)
		}
		rs = slices.DeleteFunc(rs, func(r Result) bool { return r.Threads != top })
		p, err := lineChart(rs, fmt.Sprintf("%s: abort rate vs contention, %d threads", w, top), "hot keys (fewer = more contention)", "aborted attempts (%)",
			func(r Result) float64 { return float64(hotKeys(r.Param)) }, func(r Result) float64 { return 100 * r.AbortRate })
		if err != nil {
			return files, err
		}
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		if err := save(p, "contention-"+w+"-abort-rate", 6*vg.Inch); err != nil {
			return files, err
		}
	}
	return files, nil
}

// HotKeysParam is the Param label of a hot-key sweep point.
func HotKeysParam(n int) string { return "hot-keys=" + strconv.Itoa(n) }

func hotKeys(param string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(param, "hot-keys="))
	if err != nil || !strings.HasPrefix(param, "hot-keys=") {
		return 0
	}
	return n
}

func paramSuffix(param string) string {
	if param == "" {
		return ""
	}
	return "-" + strings.NewReplacer("=", "", " ", "", "/", "").Replace(param)
}

func series(r Result) string { return r.Engine + " " + r.Level }

func distinct(rs []Result, key func(Result) string) []string {
	var out []string
	for _, r := range rs {
		if k := key(r); !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

func barChart(rs []Result, title, ylabel string, y func(Result) float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	vals := make(plotter.Values, len(rs))
	names := make([]string, len(rs))
	for i, r := range rs {
		vals[i] = y(r)
		names[i] = series(r)
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(24))
	if err != nil {
		return nil, err
	}
	bars.Color = plotutil.Color(0)
	p.Add(bars, plotter.NewGrid())
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = math.Pi / 6
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	return p, nil
}

func lineChart(rs []Result, title, xlabel, ylabel string, x, y func(Result) float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	var args []any
	for _, s := range distinct(rs, series) {
		var pts plotter.XYs
		for _, r := range rs {
			if series(r) == s {
				pts = append(pts, plotter.XY{X: x(r), Y: y(r)})
			}
		}
		slices.SortFunc(pts, func(a, b plotter.XY) int { return int(math.Copysign(1, a.X-b.X)) })
		args = append(args, s, pts)
	}
	if err := plotutil.AddLinePoints(p, args...); err != nil {
		return nil, err
	}
	return p, nil
}
