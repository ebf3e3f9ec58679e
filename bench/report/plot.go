package report

import (
	"bytes"
	"cmp"
	"fmt"
	"image/color"
	"io"
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
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/mvkv/mvkv/bench/workload"
)

// Chart is one drawn chart of a report, ready to be written in a format.
type Chart struct {
	// Name is the file name without extension ("throughput-ycsb-a-t16").
	Name  string
	Title string
	plot  *plot.Plot
	// legend is drawn in a column right of the plot, never over the data.
	legend plot.Legend
	width  vg.Length
}

// legendWidth is the column the legend gets; series names are short.
const (
	legendWidth = 2.3 * vg.Inch
	chartHeight = 4 * vg.Inch
)

// Render writes the chart as "svg" or "png".
func (c Chart) Render(w io.Writer, format string) error {
	width := c.width + legendWidth
	var canvas interface {
		vg.CanvasSizer
		io.WriterTo
	}
	switch format {
	case "svg":
		canvas = vgsvg.New(width, chartHeight)
	case "png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, chartHeight), vgimg.UseDPI(96))}
	default:
		return fmt.Errorf("bench: chart format %q (svg or png)", format)
	}
	dc := draw.New(canvas)
	c.plot.Draw(draw.Crop(dc, 0, -legendWidth, 0, 0))
	c.legend.Draw(draw.Crop(dc, c.width+vg.Points(8), 0, 0, -vg.Points(24)))
	_, err := canvas.WriteTo(w)
	return err
}

// WritePlots draws the report's charts (see Charts) into dir (created if
// needed) as format "svg" or "png", and returns the files written.
func WritePlots(dir, format string, rep Report) ([]string, error) {
	if format != "svg" && format != "png" {
		return nil, fmt.Errorf("bench: plot format %q (svg or png)", format)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	charts, err := Charts(rep)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, c := range charts {
		var buf bytes.Buffer
		if err := c.Render(&buf, format); err != nil {
			return files, err
		}
		path := filepath.Join(dir, c.Name+"."+format)
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return files, err
		}
		files = append(files, path)
	}
	return files, nil
}

// Charts draws the report's charts. Each shows the median over the rounds
// with a bar from min to max, and marks every cell whose invariant failed,
// so a row that is fast because it loses updates never looks like a win:
//
//   - throughput-WORKLOAD-tN and p99-WORKLOAD-tN: one bar per engine and
//     level, for each workload and thread count;
//   - threads-WORKLOAD-throughput and threads-WORKLOAD-p99: one line per
//     engine and level against threads, where several thread counts ran;
//   - contention-WORKLOAD-abort-rate: abort rate against the number of hot
//     keys, where a hot-key sweep ran;
//   - heap-... and file-...: the Go heap and the engines' files over time,
//     where runs recorded a footprint (footprint.go);
//   - cores-WORKLOAD-throughput: one line per engine and level against
//     GOMAXPROCS, where a core sweep (-cpu) ran; the no-op engine's line is
//     the harness's ceiling;
//   - timeline-p99-WORKLOAD-tN: the p99 latency of each second of the
//     last round, one line per engine and level, where runs lasted at
//     least minTimeline seconds: a stall shows as a spike.
func Charts(rep Report) ([]Chart, error) {
	ran := slices.DeleteFunc(slices.Clone(rep.Summaries), func(s Summary) bool { return s.Skipped != "" })
	var charts []Chart
	throughput := figure{"ops/s", func(s Summary) Spread { return s.Throughput }, humanRate}
	p99 := latencyFigure("p99 latency", ran)

	for _, g := range distinct(ran, Summary.Group) {
		rs := slices.DeleteFunc(slices.Clone(ran), func(s Summary) bool { return s.Group() != g })
		suffix := fmt.Sprintf("%s%s-t%d", rs[0].Workload, paramSuffix(rs[0].Param), rs[0].Threads)
		width := vg.Length(max(4, 1+len(rs))) * vg.Inch
		for _, f := range []struct {
			name string
			fig  figure
		}{{"throughput", throughput}, {"p99", p99}} {
			p, leg, err := barChart(rs, f.fig)
			if err != nil {
				return nil, err
			}
			p.Title.Text = f.name + ": " + g
			charts = append(charts, Chart{Name: f.name + "-" + suffix, Title: p.Title.Text, plot: p, legend: leg, width: width})
		}
	}

	for _, wp := range distinct(ran, func(s Summary) string { return s.Workload + paramSuffix(s.Param) }) {
		rs := slices.DeleteFunc(slices.Clone(ran), func(s Summary) bool { return s.Workload+paramSuffix(s.Param) != wp })
		if len(distinct(rs, func(s Summary) string { return strconv.Itoa(s.Threads) })) < 2 {
			continue
		}
		x := func(s Summary) float64 { return float64(s.Threads) }
		for _, f := range []struct {
			name string
			fig  figure
		}{{"throughput", throughput}, {"p99", p99}} {
			p, leg, err := lineChart(rs, "threads", x, f.fig)
			if err != nil {
				return nil, err
			}
			p.Title.Text = wp + ": " + f.name + " by threads"
			charts = append(charts, Chart{Name: "threads-" + wp + "-" + f.name, Title: p.Title.Text, plot: p, legend: leg, width: 6 * vg.Inch})
		}
	}

	// Throughput against cores, per workload swept over GOMAXPROCS.
	for _, w := range distinct(ran, func(s Summary) string { return s.Workload }) {
		rs := slices.DeleteFunc(slices.Clone(ran), func(s Summary) bool { return s.Workload != w || cpus(s.Param) <= 0 })
		if len(distinct(rs, func(s Summary) string { return strconv.Itoa(cpus(s.Param)) })) < 2 {
			continue
		}
		p, leg, err := lineChart(rs, "cores (GOMAXPROCS)", func(s Summary) float64 { return float64(cpus(s.Param)) }, throughput)
		if err != nil {
			return nil, err
		}
		p.Title.Text = w + ": throughput by cores"
		charts = append(charts, Chart{Name: "cores-" + w + "-throughput", Title: p.Title.Text, plot: p, legend: leg, width: 6 * vg.Inch})
	}

	// Abort rate against contention, per workload swept over hot keys, at
	// the largest thread count.
	for _, w := range distinct(ran, func(s Summary) string { return s.Workload }) {
		rs := slices.DeleteFunc(slices.Clone(ran), func(s Summary) bool { return s.Workload != w || hotKeys(s.Param) <= 0 })
		if len(distinct(rs, func(s Summary) string { return s.Param })) < 2 {
			continue
		}
		top := slices.MaxFunc(rs, func(a, b Summary) int { return cmp.Compare(a.Threads, b.Threads) }).Threads
		rs = slices.DeleteFunc(rs, func(s Summary) bool { return s.Threads != top })
		aborts := figure{"aborted attempts (%)", func(s Summary) Spread {
			return Spread{Median: 100 * s.AbortRate.Median, Min: 100 * s.AbortRate.Min, Max: 100 * s.AbortRate.Max}
		}, func(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) + "%" }}
		p, leg, err := lineChart(rs, "hot keys (fewer = more contention)", func(s Summary) float64 { return float64(hotKeys(s.Param)) }, aborts)
		if err != nil {
			return nil, err
		}
		p.Title.Text = fmt.Sprintf("%s: abort rate vs contention, %d threads", w, top)
		charts = append(charts, Chart{Name: "contention-" + w + "-abort-rate", Title: p.Title.Text, plot: p, legend: leg, width: 6 * vg.Inch})
	}

	for _, g := range distinct(ran, Summary.Group) {
		rs := slices.DeleteFunc(slices.Clone(ran), func(s Summary) bool { return s.Group() != g || len(s.Timeline) < minTimeline })
		if len(rs) == 0 {
			continue
		}
		p, leg, err := timelineChart(rs)
		if err != nil {
			return nil, err
		}
		p.Title.Text = "p99 latency, second by second: " + g
		suffix := fmt.Sprintf("%s%s-t%d", rs[0].Workload, paramSuffix(rs[0].Param), rs[0].Threads)
		charts = append(charts, Chart{Name: "timeline-p99-" + suffix, Title: p.Title.Text, plot: p, legend: leg, width: 7 * vg.Inch})
	}
	fp, err := footprintCharts(rep)
	return append(charts, fp...), err
}

// minTimeline is the shortest run, in seconds, that gets a timeline chart.
const minTimeline = 5

// timelineChart draws each series' per-second p99 against the second.
func timelineChart(rs []Summary) (*plot.Plot, plot.Legend, error) {
	var top float64
	for _, s := range rs {
		for _, w := range s.Timeline {
			top = max(top, float64(w.P99))
		}
	}
	unit, div := latencyUnit(top)
	p := newPlot("p99 latency ("+unit+")", func(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) })
	p.X.Label.Text = "second of the run"
	leg := p.Legend
	for i, s := range rs {
		xys := make(plotter.XYs, 0, len(s.Timeline))
		for _, w := range s.Timeline {
			if w.Ops > 0 {
				xys = append(xys, plotter.XY{X: float64(w.Second), Y: float64(w.P99) / div})
			}
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return nil, leg, err
		}
		line.Color = plotutil.Color(i)
		p.Add(line)
		leg.Add(s.Series()+stateStyle[stateOf(s.Invariant)].mark, line)
	}
	p.Legend = plot.NewLegend()
	return p, leg, nil
}

// figure is what a chart draws on its y axis: a label, the Spread of each
// cell, and how tick labels are written.
type figure struct {
	label string
	value func(Summary) Spread
	tick  func(float64) string
}

// latencyFigure draws latencies in the unit that suits the largest, so
// ticks read "25" with "(ms)" on the axis, not 25000.00 µs.
func latencyFigure(label string, rs []Summary) figure {
	top := 0.0
	for _, s := range rs {
		top = max(top, s.P99.Max)
	}
	unit, div := latencyUnit(top)
	return figure{label + " (" + unit + ")", func(s Summary) Spread {
		return Spread{Median: s.P99.Median / div, Min: s.P99.Min / div, Max: s.P99.Max / div}
	}, func(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }}
}

// latencyUnit is the unit, and its size in nanoseconds, that latencies
// up to top nanoseconds are drawn in.
func latencyUnit(top float64) (string, float64) {
	switch {
	case top >= 1e9:
		return "s", 1e9
	case top >= 1e6:
		return "ms", 1e6
	}
	return "µs", 1e3
}

// labelTicks places ticks as gonum does and writes their labels with
// format.
type labelTicks func(float64) string

func (f labelTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = f(ts[i].Value)
		}
	}
	return ts
}

// valueTicks labels exactly the swept values (threads 1, 4, 16, 64), which
// on a log axis is what a reader looks for; gonum's log ticks label only
// powers of ten.
type valueTicks []float64

func (v valueTicks) Ticks(_, _ float64) []plot.Tick {
	ts := make([]plot.Tick, len(v))
	for i, x := range v {
		ts[i] = plot.Tick{Value: x, Label: strconv.FormatFloat(x, 'g', -1, 64)}
	}
	return ts
}

// invariantState orders how a cell's invariant came out.
type invariantState int

const (
	invariantHolds   invariantState = iota // or the workload has none
	invariantAllowed                       // violated where the level allows it
	invariantBroken                        // violated where the level promises it
)

func stateOf(inv workload.Invariant) invariantState {
	switch {
	case inv.Name == "" || inv.Holds:
		return invariantHolds
	case inv.MustHold:
		return invariantBroken
	}
	return invariantAllowed
}

var (
	colorHolds   = color.RGBA{R: 0x3b, G: 0x6e, B: 0xa8, A: 0xff}
	colorAllowed = color.RGBA{R: 0xe0, G: 0x8a, B: 0x1e, A: 0xff}
	colorBroken  = color.RGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0xff}
)

var stateStyle = map[invariantState]struct {
	color  color.Color
	mark   string
	legend string
}{
	invariantHolds:   {colorHolds, "", "invariant holds"},
	invariantAllowed: {colorAllowed, " [violated]", "invariant violated"},
	invariantBroken:  {colorBroken, " [BROKEN]", "invariant BROKEN"},
}

func newPlot(ylabel string, tick func(float64) string) *plot.Plot {
	p := plot.New()
	p.Y.Label.Text = ylabel
	p.Y.Tick.Marker = labelTicks(tick)
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = true, true
	return p
}

// spreadBars are the min–max bars of points.
type spreadBars struct {
	plotter.XYs
	plotter.YErrors
}

func newSpreadBars(xs []float64, sp []Spread) (*plotter.YErrorBars, error) {
	b := spreadBars{XYs: make(plotter.XYs, len(xs)), YErrors: make(plotter.YErrors, len(xs))}
	for i, x := range xs {
		b.XYs[i] = plotter.XY{X: x, Y: sp[i].Median}
		b.YErrors[i].Low, b.YErrors[i].High = sp[i].Median-sp[i].Min, sp[i].Max-sp[i].Median
	}
	return plotter.NewYErrorBars(b)
}

func barChart(rs []Summary, f figure) (*plot.Plot, plot.Legend, error) {
	p := newPlot(f.label, f.tick)
	names := make([]string, len(rs))
	xs := make([]float64, len(rs))
	sp := make([]Spread, len(rs))
	seen := map[invariantState]plot.Thumbnailer{}
	for i, s := range rs {
		st := stateOf(s.Invariant)
		style := stateStyle[st]
		names[i] = s.Series() + style.mark
		xs[i], sp[i] = float64(i), f.value(s)
		bar, err := plotter.NewBarChart(plotter.Values{sp[i].Median}, vg.Points(24))
		if err != nil {
			return nil, plot.Legend{}, err
		}
		bar.XMin, bar.Color, bar.LineStyle.Width = float64(i), style.color, 0
		p.Add(bar)
		if _, ok := seen[st]; !ok {
			seen[st] = bar
		}
	}
	if errs, err := newSpreadBars(xs, sp); err == nil {
		p.Add(errs)
	}
	leg := p.Legend
	for _, st := range []invariantState{invariantHolds, invariantAllowed, invariantBroken} {
		if th, ok := seen[st]; ok {
			leg.Add(stateStyle[st].legend, th)
		}
	}
	leg.Add("bar: median of rounds")
	leg.Add("whisker: min to max")
	p.Legend = plot.NewLegend()
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = math.Pi / 6
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	return p, leg, nil
}

func lineChart(rs []Summary, xlabel string, x func(Summary) float64, f figure) (*plot.Plot, plot.Legend, error) {
	p := newPlot(f.label, f.tick)
	p.X.Label.Text = xlabel
	leg := p.Legend
	var xvals []float64
	var bad plotter.XYs
	for i, name := range distinct(rs, Summary.Series) {
		var pts []Summary
		for _, s := range rs {
			if s.Series() == name {
				pts = append(pts, s)
			}
		}
		slices.SortFunc(pts, func(a, b Summary) int { return cmp.Compare(x(a), x(b)) })
		xs := make([]float64, len(pts))
		sp := make([]Spread, len(pts))
		xys := make(plotter.XYs, len(pts))
		for j, s := range pts {
			xs[j], sp[j] = x(s), f.value(s)
			xys[j] = plotter.XY{X: xs[j], Y: sp[j].Median}
			if !slices.Contains(xvals, xs[j]) {
				xvals = append(xvals, xs[j])
			}
			if stateOf(s.Invariant) != invariantHolds {
				bad = append(bad, xys[j])
			}
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, leg, err
		}
		line.Color, points.Color = plotutil.Color(i), plotutil.Color(i)
		points.Shape = plotutil.Shape(i)
		errs, err := newSpreadBars(xs, sp)
		if err != nil {
			return nil, leg, err
		}
		errs.Color = plotutil.Color(i)
		p.Add(line, points, errs)
		leg.Add(name, line, points)
	}
	if len(bad) > 0 {
		marks, err := plotter.NewScatter(bad)
		if err != nil {
			return nil, leg, err
		}
		marks.Shape, marks.Color, marks.Radius = draw.CrossGlyph{}, colorBroken, vg.Points(7)
		p.Add(marks)
		leg.Add("invariant violated", marks)
	}
	slices.Sort(xvals)
	p.X.Tick.Marker = valueTicks(xvals)
	if len(xvals) > 1 && xvals[0] > 0 && xvals[len(xvals)-1]/xvals[0] >= 8 {
		p.X.Scale = plot.LogScale{}
	}
	p.Legend = plot.NewLegend()
	return p, leg, nil
}

// HotKeysParam is the Param label of a hot-key sweep point.
func HotKeysParam(n int) string { return "hot-keys=" + strconv.Itoa(n) }

// CPUParam is the Param label of a core-sweep point (GOMAXPROCS n); it
// follows any other parameter, after a space.
func CPUParam(n int) string { return "cpu=" + strconv.Itoa(n) }

// paramValue returns the number after name= in param's space-separated
// parts, 0 when absent.
func paramValue(param, name string) int {
	for _, f := range strings.Fields(param) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return 0
}

func hotKeys(param string) int { return paramValue(param, "hot-keys") }

func cpus(param string) int { return paramValue(param, "cpu") }

func paramSuffix(param string) string {
	if param == "" {
		return ""
	}
	return "-" + strings.NewReplacer("=", "", " ", "", "/", "").Replace(param)
}

func distinct(rs []Summary, key func(Summary) string) []string {
	var out []string
	for _, r := range rs {
		if k := key(r); !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}
