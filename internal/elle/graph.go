package elle

import (
	"cmp"
	"fmt"
	"slices"
)

// EdgeType is a dependency between two transactions.
type EdgeType uint8

const (
	// WW: the target wrote the version right after one the source wrote.
	WW EdgeType = 1 << iota
	// WR: the target read a version the source wrote.
	WR
	// RW: the source read a version the target overwrote.
	RW
)

func (e EdgeType) String() string {
	switch e {
	case WW:
		return "ww"
	case WR:
		return "wr"
	case RW:
		return "rw"
	}
	return "?"
}

// Edge is one dependency of one type between two transactions, named by
// their IDs, with a key that caused it.
type Edge struct {
	From, To int
	Type     EdgeType
	Key      string
}

func (e Edge) String() string { return fmt.Sprintf("T%d -%s(%s)-> T%d", e.From, e.Type, e.Key, e.To) }

// exported lists g's edges by transaction ID, one per type, in order.
func (a *analysis) exported(g *graph) []Edge {
	var out []Edge
	for _, e := range g.edges {
		for _, t := range []EdgeType{WW, WR, RW} {
			if e.types&t != 0 {
				out = append(out, Edge{From: a.h[e.from].ID, To: a.h[e.to].ID, Type: t, Key: e.keys[typeIndex(t)]})
			}
		}
	}
	slices.SortFunc(out, func(x, y Edge) int {
		if c := cmp.Compare(x.From, y.From); c != 0 {
			return c
		}
		if c := cmp.Compare(x.To, y.To); c != 0 {
			return c
		}
		return cmp.Compare(x.Type, y.Type)
	})
	return out
}

// edge is every dependency from one transaction to another, with a key
// that caused each type (for reports).
type edge struct {
	from, to int
	types    EdgeType
	keys     [3]string // by type: ww, wr, rw
}

func typeIndex(t EdgeType) int {
	switch t {
	case WW:
		return 0
	case WR:
		return 1
	}
	return 2
}

// graph is the dependency graph over transaction indices.
type graph struct {
	out   map[int][]*edge
	edges map[[2]int]*edge
}

func newGraph() *graph {
	return &graph{out: make(map[int][]*edge), edges: make(map[[2]int]*edge)}
}

func (g *graph) add(from, to int, t EdgeType, key string) {
	if from == to {
		return
	}
	e := g.edges[[2]int{from, to}]
	if e == nil {
		e = &edge{from: from, to: to}
		g.edges[[2]int{from, to}] = e
		g.out[from] = append(g.out[from], e)
	}
	if e.types&t == 0 {
		e.types |= t
		e.keys[typeIndex(t)] = key
	}
}

// nodes returns the transactions with an outgoing or incoming edge, sorted.
func (g *graph) nodes() []int {
	set := make(map[int]bool)
	for k := range g.edges {
		set[k[0]], set[k[1]] = true, true
	}
	ns := make([]int, 0, len(set))
	for n := range set {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}

// buildGraph derives ww, wr and rw edges from the version tries. Only what
// the tries prove is used: a version's writer follows its parent's writer
// (ww), its readers follow its writer (wr), and the readers of its parent
// precede its writer (rw). Failed transactions are not in the graph; their
// visible writes were reported as G1a.
func (a *analysis) buildGraph() *graph {
	g := newGraph()
	for _, key := range sortedKeys(a.roots) {
		var walk func(v *version, vw int)
		walk = func(v *version, vw int) {
			for _, c := range v.children {
				cw := -1
				if w, ok := a.writers[key][c.elem]; ok && a.h[w.txn].Status != Failed {
					cw = w.txn
				}
				if cw >= 0 {
					if vw >= 0 {
						g.add(vw, cw, WW, key)
					}
					for _, r := range c.readers {
						g.add(cw, r, WR, key)
					}
					for _, r := range v.readers {
						g.add(r, cw, RW, key)
					}
				}
				walk(c, cw)
			}
		}
		walk(a.roots[key], -1)
	}
	return g
}
