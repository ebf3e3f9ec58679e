package crossengine

import (
	"fmt"
	"io"
	"strings"

	"github.com/mvkv/mvkv/anomalies"
)

// Matrix renders results as a Markdown table: one row per anomaly (in the
// order first seen), one column per target, in the order given. A target
// whose engine has a footnote in notes gets it in its header.
func Matrix(targets []anomalies.Target, results []*anomalies.Result) string {
	type row struct {
		a     *anomalies.Anomaly
		cells map[string]string
	}
	var rows []*row
	byAnomaly := make(map[*anomalies.Anomaly]*row)
	for _, r := range results {
		rw := byAnomaly[r.Anomaly]
		if rw == nil {
			rw = &row{a: r.Anomaly, cells: make(map[string]string)}
			byAnomaly[r.Anomaly] = rw
			rows = append(rows, rw)
		}
		rw.cells[r.Outcome.Target] = cell(r)
	}
	var b strings.Builder
	b.WriteString("| anomaly |")
	for _, t := range targets {
		fmt.Fprintf(&b, " %s<br>%s |", t.Engine, t.Level)
	}
	b.WriteString("\n| --- |")
	for range targets {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	for _, rw := range rows {
		name := rw.a.Title()
		if rw.a.Fix {
			name = "*" + name + "*"
		}
		fmt.Fprintf(&b, "| %s |", name)
		for _, t := range targets {
			c := rw.cells[t.Name()]
			if c == "" {
				c = "not run"
			}
			fmt.Fprintf(&b, " %s |", c)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// cell is Result.Cell, shortened to fit ten columns.
func cell(r *anomalies.Result) string {
	c := r.Cell()
	c = strings.ReplaceAll(c, "prevented (", "")
	c = strings.TrimSuffix(c, ")")
	c = strings.ReplaceAll(c, "**possible**", "**yes**")
	if c == "prevented" || c == "" {
		return "–"
	}
	return c
}

// Report is the lesson for a run on another engine: the story, the
// timeline, the data left behind, the dependency graph's verdict on the
// history, the verdict and what the engine does about it (the lesson's own
// paragraph is about mvkv).
func Report(r *anomalies.Result, engine string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "=== %s at %s\n", r.Anomaly.Title(), r.Outcome.Target)
	b.WriteString(r.Anomaly.Story)
	b.WriteString("\n\n")
	b.WriteString(anomalies.Timeline(r.Outcome))
	b.WriteString("\nState after:\n")
	b.WriteString(anomalies.State(r.Outcome.Final))
	fmt.Fprintf(&b, "\nDependencies: %s\n%s\n", r.Outcome.Dependencies().Summary(), r.Verdict())
	if note := Lesson(r.Anomaly, engine); note != "" {
		b.WriteString(note)
		b.WriteString("\n")
	}
	return b.String()
}

// WriteHTML writes the page of package anomalies (anomalies.WriteHTML) for
// runs on several engines: the table engine-level × anomaly, and for each
// run its timeline, its dependency graph, the verdict and, under it, what
// the run's engine does about the lesson (Lesson).
func WriteHTML(w io.Writer, targets []anomalies.Target, results []*anomalies.Result) error {
	engine := make(map[string]string, len(targets))
	for _, t := range targets {
		engine[t.Name()] = t.Engine
	}
	return anomalies.WriteHTML(w, results, anomalies.PageOptions{
		Title: "mvkv, PostgreSQL and etcd: anomalies, level by level",
		Intro: "The anomaly lessons of mvkv, unchanged, on PostgreSQL and etcd at each of their " +
			"levels. Each cell links to its run: the timeline, the dependency graph of the " +
			"committed transactions as the history checker finds it, the data left behind, the " +
			"verdict and, for another engine, what it does about the lesson.",
		Note: func(r *anomalies.Result) string {
			if e := engine[r.Outcome.Target]; e != "mvkv" {
				return Lesson(r.Anomaly, e)
			}
			return ""
		},
	})
}
