package report

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/montanaflynn/stats"

	"github.com/mvkv/mvkv/bench/runner"
	"github.com/mvkv/mvkv/bench/workload"
)

// Spread is one figure measured over several rounds of a cell: the median,
// which tables and charts show, and the range (min–max), which says how
// far to trust it. One noisy round moves the median little and the range
// a lot, which is what a reader needs to see.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func spreadOf(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	// The errors are for empty input only, excluded above.
	lo, _ := stats.Min(xs)
	hi, _ := stats.Max(xs)
	return Spread{Median: Median(xs), Min: lo, Max: hi}
}

// Median is the median of xs, the mean of the middle pair when their
// number is even (0 for none): the one median of the benchmark, for
// summaries and goals alike.
func Median(xs []float64) float64 {
	med, _ := stats.Median(xs) // an error only for no values: 0
	return med
}

// Overlaps reports whether two ranges share a value: then the rounds do
// not order the two cells. With three rounds each, disjoint ranges are the
// strongest evidence three rounds can give (a Mann–Whitney U of 0).
func (s Spread) Overlaps(o Spread) bool { return s.Min <= o.Max && o.Min <= s.Max }

// Width is the range as a share of the median (0 with one round).
func (s Spread) Width() float64 {
	if s.Median == 0 {
		return 0
	}
	return (s.Max - s.Min) / s.Median
}

// Summary is one cell of the grid (workload, param, threads, engine,
// level) over its rounds. Figures are Spreads over the rounds; counts are
// totals; the invariant is the worst round's.
type Summary struct {
	Workload string `json:"workload"`
	Param    string `json:"param,omitempty"`
	Threads  int    `json:"threads"`
	Engine   string `json:"engine"`
	Level    string `json:"level"`
	Durable  bool   `json:"durable"`
	Skipped  string `json:"skipped,omitempty"`
	Note     string `json:"note,omitempty"`
	Rounds   int    `json:"rounds"`

	Throughput Spread `json:"ops_per_sec"`
	// Latency percentiles in nanoseconds.
	P50       Spread           `json:"p50_ns"`
	P99       Spread           `json:"p99_ns"`
	P999      Spread           `json:"p999_ns"`
	AbortRate Spread           `json:"abort_rate"`
	Aborts    map[string]int64 `json:"aborts,omitempty"`

	Errors     int64  `json:"errors"`
	FirstError string `json:"first_error,omitempty"`

	VersionsReport bool   `json:"versions_reported"`
	VersionsPeak   int64  `json:"versions_peak,omitempty"`
	VersionsAfter  int64  `json:"versions_after_vacuum,omitempty"`
	VacuumError    string `json:"vacuum_error,omitempty"`

	Invariant workload.Invariant `json:"invariant"`

	// Timeline is the last round's measured window second by second (see
	// runner.Result.Timeline).
	Timeline []runner.Window `json:"timeline,omitempty"`
}

// Group names the cells a reader compares with one another: one workload,
// parameter and thread count.
func (s Summary) Group() string {
	g := s.Workload
	if s.Param != "" {
		g += " " + s.Param
	}
	return fmt.Sprintf("%s, %d threads", g, s.Threads)
}

// Series names the row within its group.
func (s Summary) Series() string { return s.Engine + " " + s.Level }

// Summarize folds the rounds of each cell into one Summary, in the order
// the cells first appear.
func Summarize(results []runner.Result) []Summary {
	type key struct {
		workload, param, engine, level string
		threads                        int
	}
	var order []key
	cells := map[key][]runner.Result{}
	for _, r := range results {
		k := key{r.Workload, r.Param, r.Engine, r.Level, r.Threads}
		if _, ok := cells[k]; !ok {
			order = append(order, k)
		}
		cells[k] = append(cells[k], r)
	}
	out := make([]Summary, 0, len(order))
	for _, k := range order {
		out = append(out, summarizeCell(cells[k]))
	}
	return out
}

func summarizeCell(rs []runner.Result) Summary {
	first := rs[0]
	s := Summary{
		Workload: first.Workload, Param: first.Param, Threads: first.Threads, Engine: first.Engine, Level: first.Level,
		Durable: first.Durable, Skipped: first.Skipped, Note: first.Note, Invariant: first.Invariant,
	}
	if s.Skipped != "" {
		return s
	}
	s.Rounds = len(rs)
	s.Timeline = rs[len(rs)-1].Timeline
	figure := func(f func(runner.Result) float64) Spread {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = f(r)
		}
		return spreadOf(xs)
	}
	s.Throughput = figure(func(r runner.Result) float64 { return r.Throughput })
	s.P50 = figure(func(r runner.Result) float64 { return float64(r.Latency.P50) })
	s.P99 = figure(func(r runner.Result) float64 { return float64(r.Latency.P99) })
	s.P999 = figure(func(r runner.Result) float64 { return float64(r.Latency.P999) })
	s.AbortRate = figure(func(r runner.Result) float64 { return r.AbortRate })
	var violations int64
	for _, r := range rs {
		for c, n := range r.Aborts {
			if s.Aborts == nil {
				s.Aborts = map[string]int64{}
			}
			s.Aborts[c] += n
		}
		s.Errors += r.Errors
		if s.FirstError == "" {
			s.FirstError = r.FirstError
		}
		s.VersionsReport = s.VersionsReport || r.VersionsReport
		s.VersionsPeak = max(s.VersionsPeak, r.VersionsPeak)
		s.VersionsAfter = max(s.VersionsAfter, r.VersionsAfter)
		if s.VacuumError == "" {
			s.VacuumError = r.VacuumError
		}
		violations += r.Invariant.Violations
		if s.Invariant.Holds && !r.Invariant.Holds {
			s.Invariant = r.Invariant // the first failing round's account
		}
	}
	s.Invariant.Violations = violations
	return s
}

// Tie is a run of rows of one group, in throughput order, each of whose
// throughput range overlaps the next one's: the rounds do not say which
// of them is faster.
type Tie struct {
	Group string   `json:"group"`
	Rows  []string `json:"rows"`
}

// Ties lists, per group, the runs of neighbours in throughput order whose
// ranges overlap. Cells measured once have no range and are not listed:
// the caller says that none of them can be ranked.
func Ties(sums []Summary) []Tie {
	var ties []Tie
	groups := map[string][]Summary{}
	var order []string
	for _, s := range sums {
		if s.Skipped != "" || s.Rounds < 2 {
			continue
		}
		g := s.Group()
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], s)
	}
	for _, g := range order {
		rows := slices.Clone(groups[g])
		slices.SortStableFunc(rows, func(a, b Summary) int { return cmp.Compare(b.Throughput.Median, a.Throughput.Median) })
		var run []string
		for i := range rows {
			if i > 0 && rows[i-1].Throughput.Overlaps(rows[i].Throughput) {
				if len(run) == 0 {
					run = append(run, rows[i-1].Series())
				}
				run = append(run, rows[i].Series())
				continue
			}
			if len(run) > 0 {
				ties = append(ties, Tie{Group: g, Rows: run})
				run = nil
			}
		}
		if len(run) > 0 {
			ties = append(ties, Tie{Group: g, Rows: run})
		}
	}
	return ties
}
