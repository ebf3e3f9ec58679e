package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mvkv/mvkv/bench/workload"
)

// WriteTable writes the report as text: a line of context, one aligned
// table per group (workload, parameter, threads) with the median of each
// figure and the range of throughput, then notes: how each engine maps
// onto the levels, skipped levels, errors, broken invariants and rows the
// rounds cannot rank. It stays within about 110 columns.
func WriteTable(w io.Writer, rep Report) error {
	fmt.Fprintln(w, contextLine(rep.Meta, rep))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	group := ""
	for _, s := range rep.Summaries {
		if s.Skipped != "" {
			continue
		}
		if g := s.Group(); g != group {
			group = g
			fmt.Fprintf(tw, "\n%s\n", g)
			fmt.Fprintln(tw, "engine\tlevel\tops/s\t(min–max)\tp50\tp99\tp99.9\taborts\tversions\tinvariant")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			s.Engine, s.Level, humanRate(s.Throughput.Median), rangeCell(s.Throughput),
			humanDur(nanos(s.P50.Median)), humanDur(nanos(s.P99.Median)), humanDur(nanos(s.P999.Median)),
			abortCell(s), versionsCell(s), invariantCell(s.Invariant))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, n := range notes(rep) {
		fmt.Fprintln(w, n)
	}
	return nil
}

// contextLine says when, where and how the figures were measured.
func contextLine(m Meta, rep Report) string {
	var b strings.Builder
	if !m.Date.IsZero() {
		b.WriteString(m.Date.Format("2006-01-02 15:04 MST") + ", ")
	}
	if m.Commit != "" {
		b.WriteString("commit " + m.Commit + ", ")
	}
	fmt.Fprintf(&b, "%s %s/%s, %d CPUs", m.GoVersion, m.OS, m.Arch, m.CPUs)
	if d := m.Settings["duration"]; d != "" {
		fmt.Fprintf(&b, "; each cell: %s rounds of %s after a %s warm-up", m.Settings["rounds"], d, m.Settings["warmup"])
	}
	rounds := 0
	for _, s := range rep.Summaries {
		rounds = max(rounds, s.Rounds)
	}
	if rounds > 1 {
		b.WriteString("; figures are medians over the rounds")
	}
	return b.String()
}

// notes are the lines under the table, in the order a reader needs them.
func notes(rep Report) []string {
	var out []string
	engines := map[string]string{}
	skipped := map[string][]string{}
	for _, s := range rep.Summaries {
		engines[s.Engine] = s.Note
		if s.Skipped != "" && !slices.Contains(skipped[s.Engine], s.Level) {
			skipped[s.Engine] = append(skipped[s.Engine], s.Level)
		}
	}
	for _, e := range slices.Sorted(maps.Keys(engines)) {
		if lv := skipped[e]; len(lv) > 0 {
			out = append(out, fmt.Sprintf("%s (%s: n/a): %s", e, strings.Join(lv, ", "), engines[e]))
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s", e, engines[e]))
	}
	for _, s := range rep.Summaries {
		if s.Errors > 0 {
			out = append(out, fmt.Sprintf("errors: %s, %s: %d failed operations, first: %s", s.Group(), s.Series(), s.Errors, s.FirstError))
		}
		if s.Invariant.Broken() {
			out = append(out, fmt.Sprintf("BROKEN: %s, %s: %s: %s", s.Group(), s.Series(), s.Invariant.Name, s.Invariant.Detail))
		}
	}
	if over := oversubscribed(rep); len(over) > 0 {
		out = append(out, fmt.Sprintf("cpu=%s: more than this machine's %d CPUs, so those runs share its cores and cannot show scaling; judge cores only up to %d",
			strings.Join(over, ","), rep.Meta.CPUs, rep.Meta.CPUs))
	}
	if rep.singleRound() {
		out = append(out, "one round per cell: no spread measured, so no two rows can be ranked; run -rounds 3 or more")
	}
	for _, t := range rep.Ties {
		out = append(out, fmt.Sprintf("too close to rank (ops/s ranges overlap): %s: %s", t.Group, strings.Join(t.Rows, " ≈ ")))
	}
	return out
}

// oversubscribed lists the GOMAXPROCS values of a -cpu sweep above the
// machine's CPUs, in the order they ran.
func oversubscribed(rep Report) []string {
	var over []string
	for _, r := range rep.Runs {
		if r.Procs > rep.Meta.CPUs && rep.Meta.CPUs > 0 && paramValue(r.Param, "cpu") == r.Procs {
			if v := strconv.Itoa(r.Procs); !slices.Contains(over, v) {
				over = append(over, v)
			}
		}
	}
	return over
}

func nanos(v float64) time.Duration { return time.Duration(v) }

// humanRate writes a rate with three significant digits and a k or M
// suffix.
func humanRate(v float64) string {
	switch {
	case v >= 1e6:
		return sig3(v/1e6) + "M"
	case v >= 1e3:
		return sig3(v/1e3) + "k"
	}
	return sig3(v)
}

func sig3(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// rangeCell writes a spread's range, sharing the suffix where both ends
// have it ("110–130k").
func rangeCell(s Spread) string {
	lo, hi := humanRate(s.Min), humanRate(s.Max)
	if s.Min == s.Max {
		return "(" + lo + ")"
	}
	if n := len(hi) - 1; n > 0 && (hi[n] == 'k' || hi[n] == 'M') && strings.HasSuffix(lo, hi[n:]) {
		lo = lo[:len(lo)-1]
	}
	return "(" + lo + "–" + hi + ")"
}

func humanDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d)
	case d < time.Millisecond:
		return sig3(float64(d)/1e3) + "µs"
	case d < time.Second:
		return sig3(float64(d)/1e6) + "ms"
	}
	return sig3(d.Seconds()) + "s"
}

// abortCauses abbreviates the abort causes for the table.
var abortCauses = map[string]string{"write-write": "ww", "serialization": "ser", "deadlock": "dl"}

func abortCell(s Summary) string {
	if s.AbortRate.Median == 0 && len(s.Aborts) == 0 {
		return "0"
	}
	causes := make([]string, 0, len(s.Aborts))
	for _, c := range slices.Sorted(maps.Keys(s.Aborts)) {
		if a, ok := abortCauses[c]; ok {
			c = a
		}
		causes = append(causes, c)
	}
	return fmt.Sprintf("%.1f%% %s", 100*s.AbortRate.Median, strings.Join(causes, ","))
}

func versionsCell(s Summary) string {
	if !s.VersionsReport {
		return "-"
	}
	if s.VacuumError != "" {
		return fmt.Sprintf("%d→(none)", s.VersionsPeak)
	}
	return fmt.Sprintf("%d→%d", s.VersionsPeak, s.VersionsAfter)
}

func invariantCell(inv workload.Invariant) string {
	switch {
	case inv.Name == "":
		return "-"
	case inv.Holds:
		return "holds"
	case inv.MustHold:
		return fmt.Sprintf("BROKEN %d×", inv.Violations)
	}
	return fmt.Sprintf("violated %d× (allowed)", inv.Violations)
}

// WriteJSON writes the report as one indented JSON object: meta,
// summaries (one per cell), ties, and runs (every round).
func WriteJSON(w io.Writer, rep Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// csvHeader is the column order of WriteCSV.
var csvHeader = []string{
	"workload", "param", "threads", "engine", "level", "durable", "skipped", "rounds",
	"ops_per_sec", "ops_per_sec_min", "ops_per_sec_max",
	"p50_us", "p50_us_min", "p50_us_max", "p99_us", "p99_us_min", "p99_us_max", "p999_us", "p999_us_min", "p999_us_max",
	"abort_rate", "aborts", "errors", "versions_peak", "versions_after_vacuum",
	"invariant", "invariant_holds", "invariant_must_hold", "invariant_violations",
	"date", "commit", "go_version", "cpus", "gomaxprocs", "settings",
}

// WriteCSV writes one row per cell (medians and ranges over its rounds;
// latencies in microseconds), each row carrying the context, so that rows
// from several files can be pooled.
func WriteCSV(w io.Writer, rep Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	m := rep.Meta
	settings := make([]string, 0, len(m.Settings))
	for _, k := range slices.Sorted(maps.Keys(m.Settings)) {
		settings = append(settings, k+"="+m.Settings[k])
	}
	f := func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	us := func(s Spread) []string { return []string{f(s.Median/1e3, 3), f(s.Min/1e3, 3), f(s.Max/1e3, 3)} }
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	date := ""
	if !m.Date.IsZero() {
		date = m.Date.Format(time.RFC3339)
	}
	for _, s := range rep.Summaries {
		causes := make([]string, 0, len(s.Aborts))
		for _, c := range slices.Sorted(maps.Keys(s.Aborts)) {
			causes = append(causes, c+"="+i(s.Aborts[c]))
		}
		row := []string{s.Workload, s.Param, strconv.Itoa(s.Threads), s.Engine, s.Level, strconv.FormatBool(s.Durable), s.Skipped,
			strconv.Itoa(s.Rounds), f(s.Throughput.Median, 1), f(s.Throughput.Min, 1), f(s.Throughput.Max, 1)}
		row = append(row, us(s.P50)...)
		row = append(row, us(s.P99)...)
		row = append(row, us(s.P999)...)
		row = append(row, f(s.AbortRate.Median, 4), strings.Join(causes, ";"), i(s.Errors), i(s.VersionsPeak), i(s.VersionsAfter),
			s.Invariant.Name, strconv.FormatBool(s.Invariant.Holds), strconv.FormatBool(s.Invariant.MustHold), i(s.Invariant.Violations),
			date, m.Commit, m.GoVersion, strconv.Itoa(m.CPUs), strconv.Itoa(m.GOMAXPROCS), strings.Join(settings, " "))
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
