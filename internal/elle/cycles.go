package elle

import (
	"fmt"
	"strings"
)

// Cycle search.
//
// Tarjan's algorithm splits the graph into strongly connected components;
// only edges inside one can lie on a cycle. For each such edge a -> b a
// breadth-first search looks for the shortest way back from b to a through
// the edge types the anomaly allows, so every reported cycle is short and
// readable, and is classified by the weakest anomaly it proves:
//
//	G0:       a ww edge closed by ww edges
//	G1c:      a wr edge closed by ww/wr edges
//	G-single: an rw edge closed by ww/wr edges (exactly one rw)
//	G2-item:  an rw edge closed through at least one more rw edge

// maxExamples bounds how many cycles of one kind a report spells out.
const maxExamples = 4

// sccs returns the strongly connected components with more than one node.
func (g *graph) sccs() [][]int {
	index := make(map[int]int)
	low := make(map[int]int)
	onStack := make(map[int]bool)
	var stack []int
	var out [][]int
	next := 0
	var visit func(v int)
	visit = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, e := range g.out[v] {
			w := e.to
			if _, seen := index[w]; !seen {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var comp []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			if len(comp) > 1 {
				out = append(out, comp)
			}
		}
	}
	for _, n := range g.nodes() {
		if _, seen := index[n]; !seen {
			visit(n)
		}
	}
	return out
}

// step is one edge of a cycle, with the type it is used as.
type step struct {
	e *edge
	t EdgeType
}

// path finds the shortest path from -> to inside comp using only edges
// with a type in allowed; nil when there is none.
func (g *graph) path(from, to int, allowed EdgeType, comp map[int]bool) []step {
	prev := map[int]step{from: {}}
	queue := []int{from}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		if v == to {
			var p []step
			for v != from {
				s := prev[v]
				p = append(p, s)
				v = s.e.from
			}
			for i, j := 0, len(p)-1; i < j; i, j = i+1, j-1 {
				p[i], p[j] = p[j], p[i]
			}
			return p
		}
		for _, e := range g.out[v] {
			if !comp[e.to] || e.types&allowed == 0 {
				continue
			}
			if _, seen := prev[e.to]; seen {
				continue
			}
			prev[e.to] = step{e: e, t: weakest(e.types & allowed)}
			queue = append(queue, e.to)
		}
	}
	return nil
}

// weakest picks the type to show for a multi-typed edge: the one that
// makes the cycle's anomaly the weakest (ww before wr before rw).
func weakest(t EdgeType) EdgeType {
	for _, x := range []EdgeType{WW, WR, RW} {
		if t&x != 0 {
			return x
		}
	}
	return 0
}

// findCycles reports the cycles of the graph, by kind.
func (a *analysis) findCycles(g *graph) {
	searches := []struct {
		kind    Kind
		first   EdgeType // the type of the edge that opens the cycle
		closing EdgeType // the types allowed on the way back
	}{
		{G0, WW, WW},
		{G1c, WR, WW | WR},
		{GSingle, RW, WW | WR},
		{G2Item, RW, WW | WR | RW},
	}
	for _, comp := range g.sccs() {
		in := make(map[int]bool, len(comp))
		for _, n := range comp {
			in[n] = true
		}
		// An rw edge closed without rw is G-single; G2-item is reported
		// only for rw edges that no G-single cycle explains.
		single := make(map[*edge]bool)
		counts := make(map[Kind]int)
		for _, s := range searches {
			for _, n := range comp {
				for _, e := range g.out[n] {
					if !in[e.to] || e.types&s.first == 0 {
						continue
					}
					if s.kind == G2Item && (single[e] || counts[G2Item] >= maxExamples) {
						continue
					}
					if s.kind != GSingle && counts[s.kind] >= maxExamples {
						continue
					}
					back := g.path(e.to, e.from, s.closing, in)
					if back == nil {
						continue
					}
					if s.kind == GSingle {
						single[e] = true
					}
					if s.kind == G1c && onlyWW(e, back) {
						continue // a G0 cycle, reported as such
					}
					if counts[s.kind] >= maxExamples {
						continue
					}
					counts[s.kind]++
					cyc := append([]step{{e: e, t: s.first}}, back...)
					a.reportCycle(s.kind, cyc)
				}
			}
		}
	}
}

func onlyWW(first *edge, back []step) bool {
	if first.types&WW == 0 {
		return false
	}
	for _, s := range back {
		if s.e.types&WW == 0 {
			return false
		}
	}
	return true
}

func (a *analysis) reportCycle(kind Kind, cyc []step) {
	var b strings.Builder
	txns := make([]int, 0, len(cyc))
	edges := make([]Edge, 0, len(cyc))
	for i, s := range cyc {
		if i == 0 {
			fmt.Fprintf(&b, "T%d", a.h[s.e.from].ID)
		}
		key := s.e.keys[typeIndex(s.t)]
		fmt.Fprintf(&b, " -%s(%s)-> T%d", s.t, key, a.h[s.e.to].ID)
		txns = append(txns, s.e.from)
		edges = append(edges, Edge{From: a.h[s.e.from].ID, To: a.h[s.e.to].ID, Type: s.t, Key: key})
	}
	a.report(kind, txns, "%s", b.String())
	a.found[len(a.found)-1].Cycle = edges
}
