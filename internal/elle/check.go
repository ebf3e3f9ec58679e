package elle

import (
	"fmt"
	"strings"
)

// Kind names an anomaly.
type Kind string

// The anomalies Check reports.
const (
	G0                Kind = "G0"
	G1a               Kind = "G1a"
	G1b               Kind = "G1b"
	G1c               Kind = "G1c"
	GSingle           Kind = "G-single"
	G2Item            Kind = "G2-item"
	LostUpdate        Kind = "lost-update"
	IncompatibleOrder Kind = "incompatible-order"
	DuplicateElements Kind = "duplicate-elements"
	GarbageRead       Kind = "garbage-read"
	Internal          Kind = "internal"
)

// Kinds lists every kind, weakest guarantee broken first.
var Kinds = []Kind{G0, G1a, G1b, G1c, GSingle, LostUpdate, G2Item, IncompatibleOrder, DuplicateElements, GarbageRead, Internal}

// Anomaly is one finding.
type Anomaly struct {
	Kind Kind
	// Txns are the IDs of the transactions involved (for a cycle, in
	// cycle order).
	Txns []int
	// Detail explains it, e.g. "T3 -rw(x)-> T5 -wr(y)-> T3".
	Detail string
	// Cycle is, for a cycle (G0, G1c, G-single, G2-item), its edges in
	// order, each with the one type the cycle uses it as; the last edge
	// leads back to the first one's From. Empty for other kinds.
	Cycle []Edge
}

func (a Anomaly) String() string { return string(a.Kind) + ": " + a.Detail }

// Report is what Check found.
type Report struct {
	Anomalies []Anomaly
	// Txns and Committed count the transactions checked.
	Txns, Committed int
	// Edges counts the dependency edges of the graph: the pairs of
	// transactions with at least one dependency.
	Edges int
	// Graph is the dependency graph of the committed transactions, one
	// Edge per pair and type, ordered by From, To and Type: what a picture
	// of the history draws.
	Graph []Edge
}

// Has reports whether an anomaly of kind k was found.
func (r Report) Has(k Kind) bool {
	for _, a := range r.Anomalies {
		if a.Kind == k {
			return true
		}
	}
	return false
}

// Count returns how many anomalies of kind k were reported. Cycles are
// reported at most a few per kind and per strongly connected component.
func (r Report) Count(k Kind) int {
	n := 0
	for _, a := range r.Anomalies {
		if a.Kind == k {
			n++
		}
	}
	return n
}

// Kinds returns the kinds found, in the order of the package's Kinds.
func (r Report) Kinds() []Kind {
	var ks []Kind
	for _, k := range Kinds {
		if r.Has(k) {
			ks = append(ks, k)
		}
	}
	return ks
}

// Valid reports whether nothing was found.
func (r Report) Valid() bool { return len(r.Anomalies) == 0 }

// String summarizes the report: counts by kind, then up to limit examples
// of each.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d transactions (%d committed), %d dependency edges", r.Txns, r.Committed, r.Edges)
	if r.Valid() {
		b.WriteString(": no anomalies")
		return b.String()
	}
	for _, k := range r.Kinds() {
		fmt.Fprintf(&b, "\n  %s: %d", k, r.Count(k))
		shown := 0
		for _, a := range r.Anomalies {
			if a.Kind == k && shown < 3 {
				fmt.Fprintf(&b, "\n    %s", a.Detail)
				shown++
			}
		}
	}
	return b.String()
}

// Check analyzes a list-append history and reports every anomaly it can
// prove. It trusts nothing but the history: what each transaction did, in
// order, what its reads returned, and whether it committed.
func Check(h History) Report {
	a := &analysis{h: h}
	a.indexWrites()
	a.checkReads()
	a.checkInternal()
	a.checkForks()
	a.checkLostUpdates()
	g := a.buildGraph()
	a.findCycles(g)
	r := Report{Anomalies: a.found, Txns: len(h), Edges: len(g.edges), Graph: a.exported(g)}
	for _, t := range h {
		if t.Status == OK {
			r.Committed++
		}
	}
	return r
}
