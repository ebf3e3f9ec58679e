package report

import (
	"fmt"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/mvkv/mvkv/bench/runner"
)

// footprintCharts draws, for each workload and thread count whose runs
// recorded a footprint (longreader), the Go heap and the engines' file
// sizes over the measured window, one line per engine and level (its
// first round): what a long snapshot costs each engine, in memory and on
// disk.
//
//   - heap-WORKLOAD-tN and file-WORKLOAD-tN.
func footprintCharts(rep Report) ([]Chart, error) {
	var runs []runner.Result
	for _, r := range rep.Runs {
		if len(r.Footprint) > 0 && r.Round <= 1 {
			runs = append(runs, r)
		}
	}
	group := func(r runner.Result) string {
		return fmt.Sprintf("%s%s-t%d", r.Workload, paramSuffix(r.Param), r.Threads)
	}
	var groups []string
	for _, r := range runs {
		if g := group(r); !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	var charts []Chart
	for _, g := range groups {
		var rs []runner.Result
		for _, r := range runs {
			if group(r) == g {
				rs = append(rs, r)
			}
		}
		for _, f := range []struct {
			name, label string
			value       func(runner.Sample) float64
		}{
			{"heap", "Go heap (MiB)", func(s runner.Sample) float64 { return float64(s.HeapBytes) / (1 << 20) }},
			{"file", "files on disk (MiB)", func(s runner.Sample) float64 { return float64(s.FileBytes) / (1 << 20) }},
		} {
			p := newPlot(f.label, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) })
			p.Y.Tick.Marker = plot.DefaultTicks{}
			p.X.Label.Text = "seconds into the run"
			leg := p.Legend
			for i, r := range rs {
				xys := make(plotter.XYs, len(r.Footprint))
				for j, s := range r.Footprint {
					xys[j] = plotter.XY{X: s.At.Seconds(), Y: f.value(s)}
				}
				line, err := plotter.NewLine(xys)
				if err != nil {
					return nil, err
				}
				line.Color = plotutil.Color(i)
				line.Dashes = plotutil.Dashes(i)
				p.Add(line)
				leg.Add(r.Engine+" "+r.Level, line)
			}
			p.Legend = plot.NewLegend()
			p.Title.Text = f.name + " over time: " + g
			charts = append(charts, Chart{Name: f.name + "-" + g, Title: p.Title.Text, plot: p, legend: leg, width: 6 * vg.Inch})
		}
	}
	return charts, nil
}
