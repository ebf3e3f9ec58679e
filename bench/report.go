package bench

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable writes results as an aligned text table, then one note per
// engine (how it maps onto the levels) and the reasons of skipped runs.
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tparam\tthreads\tengine\tlevel\tops/s\tp50\tp99\tp99.9\taborts\tversions peak→vacuumed\tinvariant\t")
	notes := map[string]string{}
	skipped := map[string]string{} // engine -> the levels it could not run
	for _, r := range results {
		notes[r.Engine] = r.Note
		if r.Skipped != "" {
			skipped[r.Engine] = r.Level
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Workload, r.Param, r.Threads, r.Engine, r.Level,
			humanRate(r.Throughput), humanDur(r.Latency.P50), humanDur(r.Latency.P99), humanDur(r.Latency.P999),
			abortCell(r), versionsCell(r), invariantCell(r.Invariant))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	engines := make([]string, 0, len(notes))
	for e := range notes {
		engines = append(engines, e)
	}
	sort.Strings(engines)
	fmt.Fprintln(w)
	for _, e := range engines {
		if lv := skipped[e]; lv != "" {
			fmt.Fprintf(w, "%s (%s: n/a): %s\n", e, lv, notes[e])
			continue
		}
		fmt.Fprintf(w, "%s: %s\n", e, notes[e])
	}
	for _, r := range results {
		if r.Errors > 0 {
			fmt.Fprintf(w, "errors: %s %s %s: %d failed operations, first: %s\n", r.Workload, r.Engine, r.Level, r.Errors, r.FirstError)
		}
		if r.Invariant.Broken() {
			fmt.Fprintf(w, "BROKEN: %s %s %s: %s: %s\n", r.Workload, r.Engine, r.Level, r.Invariant.Name, r.Invariant.Detail)
		}
	}
	return nil
}

func humanRate(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case v >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func humanDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d)
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func abortCell(r Result) string {
	if r.AbortRate == 0 {
		return "0"
	}
	causes := make([]string, 0, len(r.Aborts))
	for c, n := range r.Aborts {
		causes = append(causes, fmt.Sprintf("%s %d", c, n))
	}
	slices.Sort(causes)
	return fmt.Sprintf("%.1f%% (%s)", 100*r.AbortRate, strings.Join(causes, ", "))
}

func versionsCell(r Result) string {
	if !r.VersionsReport {
		return "-"
	}
	if r.VacuumError != "" {
		return fmt.Sprintf("%d→(no vacuum)", r.VersionsPeak)
	}
	return fmt.Sprintf("%d→%d", r.VersionsPeak, r.VersionsAfter)
}

func invariantCell(inv Invariant) string {
	switch {
	case inv.Name == "":
		return "-"
	case inv.Holds:
		return "holds"
	case inv.MustHold:
		return fmt.Sprintf("BROKEN (%d)", inv.Violations)
	}
	return fmt.Sprintf("violated %d× (allowed)", inv.Violations)
}

// WriteJSON writes results as one indented JSON array.
func WriteJSON(w io.Writer, results []Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if results == nil {
		results = []Result{}
	}
	return enc.Encode(results)
}

// csvHeader is the column order of WriteCSV.
var csvHeader = []string{
	"workload", "param", "threads", "engine", "level", "durable", "skipped",
	"ops", "elapsed_s", "ops_per_sec", "mean_us", "p50_us", "p95_us", "p99_us", "p999_us", "max_us",
	"attempts", "abort_rate", "aborts", "retried", "gave_up", "errors",
	"versions_peak", "versions_end", "versions_after_vacuum", "vacuum_removed",
	"gc_cycles", "gc_pause_us", "invariant", "invariant_holds", "invariant_must_hold", "invariant_violations",
}

// WriteCSV writes results as CSV with a header row; latencies in
// microseconds.
func WriteCSV(w io.Writer, results []Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	us := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e3, 'f', 3, 64) }
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, r := range results {
		causes := make([]string, 0, len(r.Aborts))
		for c, n := range r.Aborts {
			causes = append(causes, c+"="+i(n))
		}
		slices.Sort(causes)
		err := cw.Write([]string{
			r.Workload, r.Param, strconv.Itoa(r.Threads), r.Engine, r.Level, strconv.FormatBool(r.Durable), r.Skipped,
			i(r.Ops), strconv.FormatFloat(r.Elapsed.Seconds(), 'f', 3, 64), strconv.FormatFloat(r.Throughput, 'f', 1, 64),
			us(r.Latency.Mean), us(r.Latency.P50), us(r.Latency.P95), us(r.Latency.P99), us(r.Latency.P999), us(r.Latency.Max),
			i(r.Attempts), strconv.FormatFloat(r.AbortRate, 'f', 4, 64), strings.Join(causes, ";"), i(r.Retried), i(r.GaveUp), i(r.Errors),
			i(r.VersionsPeak), i(r.VersionsEnd), i(r.VersionsAfter), i(r.VacuumRemoved),
			strconv.FormatUint(uint64(r.GCCycles), 10), us(r.GCPause),
			r.Invariant.Name, strconv.FormatBool(r.Invariant.Holds), strconv.FormatBool(r.Invariant.MustHold), i(r.Invariant.Violations),
		})
		if err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
