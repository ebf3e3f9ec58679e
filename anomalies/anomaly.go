package anomalies

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mvkv/mvkv/mvcc"
)

// Levels are the isolation levels every anomaly is run at, weakest first.
var Levels = []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable}

// Anomaly is one lesson: a story, the interleaving that tells it, and how
// to tell from an outcome whether the anomaly happened.
type Anomaly struct {
	// Name is the anomaly's common name ("lost update").
	Name string
	// Code is its name in the literature ("P4", "G2-item"); empty for a fix.
	Code string
	// Test is the test that runs it ("TestLostUpdate").
	Test string
	// Fix is true for a lesson that shows a remedy applied by hand rather
	// than the anomaly itself.
	Fix bool
	// SnapshotOnly is true for an anomaly that breaks a promise of
	// snapshots, not serializability: serializable by locking (which has
	// no snapshot) allows it.
	SnapshotOnly bool
	// Promise is what a correct run keeps and the anomaly breaks: an
	// invariant of the story ("every committed deposit is in the final
	// balance") or, for a SnapshotOnly anomaly, the promise of a snapshot.
	// Verdicts name it.
	Promise string
	// Story tells the situation in the words of its domain.
	Story string
	// Scenario is the interleaving.
	Scenario Scenario
	// Check reports whether the anomaly happened in o, with the evidence: the
	// value that shows it, or what prevented it.
	Check func(o *Outcome) (happened bool, evidence string)
	// Lesson is the verdict's paragraph: what goes wrong, which level
	// prevents it, and how.
	Lesson string
}

// Result is an anomaly run at one level and checked.
type Result struct {
	Anomaly  *Anomaly
	Outcome  *Outcome
	Happened bool
	Evidence string
}

// Run runs the anomaly's scenario at level and checks the outcome.
func (a *Anomaly) Run(level mvcc.Level, opts *Options) (*Result, error) {
	o, err := Run(&a.Scenario, level, opts)
	if err != nil {
		return nil, fmt.Errorf("%s at %v: %w", a.Name, level, err)
	}
	happened, evidence := a.Check(o)
	return &Result{Anomaly: a, Outcome: o, Happened: happened, Evidence: evidence}, nil
}

// Title is "P4 lost update", or the name alone for a fix.
func (a *Anomaly) Title() string {
	if a.Code == "" {
		return a.Name
	}
	return a.Code + " " + a.Name
}

// Verdict is the short result at this level: whether the anomaly's
// Promise was kept or broken, the evidence, and, where the dependency
// graph says more than the promise, what it says. Why the levels differ
// is the anomaly's Lesson, told once (Explanation), not at every level.
//
// An anomaly that breaks an invariant GOES WRONG where it happens. One
// that breaks only the promise of a snapshot (SnapshotOnly) breaks nothing
// at a level that makes no such promise: there it is allowed, and the
// verdict says so, and says whether the history stayed serializable.
func (r *Result) Verdict() string {
	a, target, g := r.Anomaly, r.Outcome.Target, r.Outcome.Dependencies()
	ev := capitalize(r.Evidence) + "."
	switch {
	case r.Happened && a.SnapshotOnly:
		serial := ""
		if g.Serializable() && len(g.Order) > 1 {
			serial = ", and the committed history is serializable (" + strings.Join(g.Order, " then ") + ")"
		}
		return fmt.Sprintf("Verdict at %s: allowed; nothing goes wrong. Broken: %s, which %s "+
			"does not promise; no invariant is broken%s. %s", target, a.Promise, target, serial, ev)
	case r.Happened:
		return fmt.Sprintf("Verdict at %s: GOES WRONG. Broken: %s. %s", target, a.Promise, ev)
	}
	v := fmt.Sprintf("Verdict at %s: prevented. Kept: %s. %s", target, a.Promise, ev)
	if !g.Serializable() {
		v += fmt.Sprintf(" The history is still not serializable: a %s cycle, an anomaly other "+
			"than this one, which %s allows (see the dependencies).", g.CycleKind, target)
	}
	return v
}

// Cell is what the matrix shows for this result: "possible" or
// "prevented", with how it was prevented when a transaction had to wait,
// was chosen as a deadlock victim, or was aborted otherwise.
func (r *Result) Cell() string {
	if r.Happened {
		return "**possible**"
	}
	var how []string
	blocked, aborted, victim := false, false, false
	for _, s := range r.Outcome.Sessions {
		blocked = blocked || r.Outcome.WasBlocked(s)
		if r.Outcome.Conflicted(s) {
			if errors.Is(r.Outcome.Err(s), mvcc.ErrDeadlock) {
				victim = true
			} else {
				aborted = true
			}
		}
	}
	if blocked {
		how = append(how, "waits")
	}
	if victim {
		how = append(how, "deadlock victim")
	}
	if aborted {
		how = append(how, "aborts")
	}
	if len(how) == 0 {
		return "prevented"
	}
	return "prevented (" + strings.Join(how, ", ") + ")"
}

// Intro opens the lesson, once for all levels: the title and the story,
// wrapped for a terminal.
func (a *Anomaly) Intro() string {
	return "=== " + a.Title() + "\n" + wrap(a.Story, 88) + "\n"
}

// Explanation closes the lesson, once for all levels: what goes wrong,
// which level prevents it, and how.
func (a *Anomaly) Explanation() string {
	return wrap("Why: "+a.Lesson, 88) + "\n"
}

// LevelReport is what one level adds to the lesson: the timeline, the data
// left behind, what the dependency graph shows, and the verdict.
func (r *Result) LevelReport() string {
	var b strings.Builder
	fmt.Fprintf(&b, "At %s:\n", r.Outcome.Target)
	b.WriteString(Timeline(r.Outcome))
	b.WriteString("\nState after:\n")
	b.WriteString(State(r.Outcome.Final))
	b.WriteString("\n")
	b.WriteString(wrap("Dependencies: "+r.Outcome.Dependencies().Summary(), 88))
	b.WriteString("\n")
	b.WriteString(wrap(r.Verdict(), 88))
	b.WriteString("\n")
	return b.String()
}

// Report is the whole lesson at one level, as `go test -v -run
// 'TestX$/level'` prints it: the intro, the level's report, the
// explanation.
func (r *Result) Report() string {
	return r.Anomaly.Intro() + "\n" + r.LevelReport() + "\n" + r.Anomaly.Explanation()
}

// Matrix renders results as a Markdown table, one row per anomaly and one
// column per target (Outcome.Target: the level on mvkv, or Locking), both
// in the order first seen.
func Matrix(results []*Result) string {
	type row struct {
		a     *Anomaly
		cells map[string]string
	}
	var rows []*row
	var columns []string
	byName := make(map[*Anomaly]*row)
	for _, r := range results {
		rw := byName[r.Anomaly]
		if rw == nil {
			rw = &row{a: r.Anomaly, cells: make(map[string]string)}
			byName[r.Anomaly] = rw
			rows = append(rows, rw)
		}
		if !slices.Contains(columns, r.Outcome.Target) {
			columns = append(columns, r.Outcome.Target)
		}
		rw.cells[r.Outcome.Target] = r.Cell()
	}
	var b strings.Builder
	b.WriteString("| anomaly | test |")
	for _, c := range columns {
		fmt.Fprintf(&b, " %s |", c)
	}
	b.WriteString("\n| --- | --- |")
	for range columns {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	for _, rw := range rows {
		name := rw.a.Title()
		if rw.a.Fix {
			name = "*" + name + "*"
		}
		fmt.Fprintf(&b, "| %s | `%s` |", name, rw.a.Test)
		for _, col := range columns {
			c := rw.cells[col]
			if c == "" {
				c = "not run"
			}
			fmt.Fprintf(&b, " %s |", c)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// wrap breaks text into lines of at most width columns at spaces.
func wrap(text string, width int) string {
	var b strings.Builder
	for pi, para := range strings.Split(text, "\n") {
		if pi > 0 {
			b.WriteString("\n")
		}
		n := 0
		for i, w := range strings.Fields(para) {
			if i > 0 && n+1+len(w) > width {
				b.WriteString("\n")
				n = 0
			} else if i > 0 {
				b.WriteString(" ")
				n++
			}
			b.WriteString(w)
			n += len(w)
		}
	}
	return b.String()
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
