package anomalies

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/mvkv/mvkv/internal/elle"
)

// Graph is the dependency graph of a run's committed transactions (Adya,
// 1999), as internal/elle's checker finds it in the recorded history:
//
//	T1 -ww(k)-> T2   T2 overwrote the version of k that T1 wrote
//	T1 -wr(k)-> T2   T2 read the version of k that T1 wrote
//	T1 -rw(k)-> T2   T1 read a version of k that T2 then overwrote
//	                 (an anti-dependency; a scan that missed a key T2
//	                 inserted is one too, the phantom's)
//
// A history is serializable exactly when the graph has no cycle.
//
// How the history is read: every committed write is a version, and a
// key's versions are ordered as their writers committed (the setup's value,
// or the key's absence, first). A read is attributed to the version whose
// value it returned, the latest one committed before the read returned
// when several versions hold that value. A scan reads every key of its
// range that appears anywhere in the run: the keys it found at the values
// it found, the others as absent. The final data is read last by an
// observer, as Elle's final reads are, so that every version is known; the
// observer is left out of the graph. The versions of each key are then
// written as elle's growing lists and checked by elle.Check, the checker
// of the list-append histories, so the cycles named here are its cycles.
type Graph struct {
	// Nodes are the committed sessions, by name.
	Nodes []string
	// Aborted are the sessions that did not commit (not in the graph).
	Aborted []string
	// Edges are the dependencies between committed sessions, ordered by
	// From, To and Kind.
	Edges []Dependency
	// Cycle is the cycle that makes the history non-serializable, its
	// edges in order (the last leads back to the first), the weakest
	// anomaly first when there are several; nil when there is none.
	Cycle []Dependency
	// CycleKind is Adya's name for the cycle ("G2-item"); "" without one.
	CycleKind string
	// Order is, when there is no cycle, a serial order of the committed
	// sessions that the history is equivalent to.
	Order []string
	// Findings are the other anomalies the checker reported, as text.
	Findings []string
}

// Dependency is one edge of the graph.
type Dependency struct {
	From, To string
	// Kind is "ww", "wr" or "rw".
	Kind string
	// Key is a key that caused it.
	Key string
}

func (d Dependency) String() string { return d.From + " -" + d.Kind + "(" + d.Key + ")-> " + d.To }

// Serializable reports whether the committed transactions have no
// dependency cycle.
func (g *Graph) Serializable() bool { return g.Cycle == nil }

// Summary says in one sentence what the graph shows.
func (g *Graph) Summary() string {
	if g.Cycle != nil {
		parts := make([]string, len(g.Cycle))
		for i, d := range g.Cycle {
			parts[i] = d.From + " -" + d.Kind + "(" + d.Key + ")->"
		}
		return fmt.Sprintf("Dependency cycle (%s): %s %s, so no serial order of the committed "+
			"transactions explains this history.", g.CycleKind, strings.Join(parts, " "), g.Cycle[0].From)
	}
	switch len(g.Nodes) {
	case 0:
		return "No transaction committed: nothing to order."
	case 1:
		return "Only " + g.Nodes[0] + " committed: no cycle is possible."
	}
	return "No dependency cycle: the committed transactions are serializable, as " +
		strings.Join(g.Order, " then ") + "."
}

// observerID is the final read's transaction in the elle history.
const observerID = 0

// Dependencies returns the dependency graph of the run's committed
// transactions, computed when the run ended (an Outcome made otherwise
// gets the graph of what it holds).
func (o *Outcome) Dependencies() *Graph {
	if o.graph == nil {
		return dependencies(o)
	}
	return o.graph
}

// keyVersion is one committed (or, for a failed writer, attempted) version
// of a key, as elle's list: the elements of every earlier version and its
// own last.
type keyVersion struct {
	writer string // "" for the initial version
	value  string
	seq    int64 // when its writer committed; 0 for the initial version
	list   []int
}

func dependencies(o *Outcome) *Graph {
	ids := make(map[string]int, len(o.Sessions))
	names := map[int]string{observerID: "final read"}
	for i, s := range o.Sessions {
		ids[s], names[i+1] = i+1, s
	}
	// Every key the run touched.
	keys := map[string]bool{}
	for _, kv := range o.setup {
		keys[kv.Key] = true
	}
	for _, kv := range o.Final {
		keys[kv.Key] = true
	}
	commitSeq := map[string]int64{}
	for _, s := range o.Sessions {
		for _, op := range o.ops(s) {
			switch op.kind {
			case opRead, opWrite:
				keys[op.key] = true
			case opScan:
				for _, kv := range op.found {
					keys[kv.Key] = true
				}
			case opCommit:
				commitSeq[s] = op.seq
			}
		}
	}
	allKeys := make([]string, 0, len(keys))
	for k := range keys {
		allKeys = append(allKeys, k)
	}
	slices.Sort(allKeys)

	// The versions of each key: the initial one, then each committed
	// writer's last write, in commit order.
	versions := map[string][]keyVersion{}
	next := map[string]int{}
	for _, k := range allKeys {
		versions[k] = []keyVersion{{value: Absent}}
	}
	for _, kv := range o.setup {
		versions[kv.Key][0].value = kv.Value
	}
	committed := slices.Clone(o.Sessions)
	committed = slices.DeleteFunc(committed, func(s string) bool { return !o.Committed(s) })
	slices.SortStableFunc(committed, func(a, b string) int { return int(commitSeq[a] - commitSeq[b]) })
	element := map[string]map[string]int{} // session -> key -> element of its last write
	for _, s := range o.Sessions {
		element[s] = map[string]int{}
		for _, op := range o.ops(s) {
			if op.kind == opWrite && element[s][op.key] == 0 {
				next[op.key]++
				element[s][op.key] = next[op.key]
			}
		}
	}
	for _, s := range committed {
		for k, v := range lastWrites(o.ops(s)) {
			vs := versions[k]
			prev := vs[len(vs)-1]
			versions[k] = append(vs, keyVersion{writer: s, value: v, seq: commitSeq[s],
				list: append(slices.Clone(prev.list), element[s][k])})
		}
	}
	// The version a read returned: the latest one holding its value
	// committed before the read returned; failing that, the first one
	// committed after (only a dirty read could see it); failing that, an
	// element nobody wrote, which elle reports as a garbage read.
	seen := func(key, value string, at int64) []int {
		var before, after *keyVersion
		for i := range versions[key] {
			v := &versions[key][i]
			switch {
			case v.value != value:
			case v.seq < at:
				before = v
			case after == nil:
				after = v
			}
		}
		switch {
		case before != nil:
			return before.list
		case after != nil:
			return after.list
		}
		return []int{math.MinInt32}
	}

	var h elle.History
	for _, s := range o.Sessions {
		t := elle.Txn{ID: ids[s], Status: elle.Failed}
		if o.Committed(s) {
			t.Status = elle.OK
		}
		ops := o.ops(s)
		last := lastWriteIndex(ops)
		wrote := map[string]bool{}
		for i, op := range ops {
			switch op.kind {
			case opRead:
				if !wrote[op.key] {
					t.Ops = append(t.Ops, elle.R(op.key, seen(op.key, op.value, op.seq)))
				}
			case opScan:
				found := make(map[string]string, len(op.found))
				for _, kv := range op.found {
					found[kv.Key] = kv.Value
				}
				for _, k := range allKeys {
					if !op.inRange(k) || wrote[k] {
						continue
					}
					v, ok := found[k]
					if !ok {
						v = Absent
					}
					t.Ops = append(t.Ops, elle.R(k, seen(k, v, op.seq)))
				}
			case opWrite:
				wrote[op.key] = true
				if last[op.key] == i {
					t.Ops = append(t.Ops, elle.A(op.key, element[s][op.key]))
				}
			}
		}
		h = append(h, t)
	}
	final := elle.Txn{ID: observerID, Status: elle.OK}
	for _, k := range allKeys {
		final.Ops = append(final.Ops, elle.R(k, seen(k, o.Get(k), math.MaxInt64)))
	}
	h = append(h, final)

	return graphOf(elle.Check(h), names, committed, o.Sessions)
}

// graphOf turns elle's report into a Graph named by session.
func graphOf(rep elle.Report, names map[int]string, committed, sessions []string) *Graph {
	g := &Graph{Nodes: slices.Sorted(slices.Values(committed))}
	for _, s := range sessions {
		if !slices.Contains(committed, s) {
			g.Aborted = append(g.Aborted, s)
		}
	}
	dep := func(e elle.Edge) Dependency {
		return Dependency{From: names[e.From], To: names[e.To], Kind: e.Type.String(), Key: e.Key}
	}
	for _, e := range rep.Graph {
		if e.From != observerID && e.To != observerID {
			g.Edges = append(g.Edges, dep(e))
		}
	}
	for _, k := range elle.Kinds {
		for _, a := range rep.Anomalies {
			if a.Kind != k {
				continue
			}
			if a.Cycle == nil {
				if !slices.Contains(a.Txns, observerID) {
					g.Findings = append(g.Findings, fmt.Sprintf("%s (%s)", a.Kind, txnNames(a.Txns, names)))
				}
				continue
			}
			if g.Cycle != nil || slices.Contains(a.Txns, observerID) {
				continue
			}
			for _, e := range a.Cycle {
				g.Cycle = append(g.Cycle, dep(e))
			}
			g.CycleKind = string(a.Kind)
		}
	}
	if g.Cycle == nil {
		g.Order = topoOrder(g.Nodes, g.Edges)
	}
	return g
}

func txnNames(ids []int, names map[int]string) string {
	var ns []string
	for _, id := range ids {
		if n := names[id]; !slices.Contains(ns, n) {
			ns = append(ns, n)
		}
	}
	return strings.Join(ns, ", ")
}

// topoOrder orders acyclic nodes so that every edge goes forward, by name
// among the free ones.
func topoOrder(nodes []string, edges []Dependency) []string {
	in := make(map[string]int, len(nodes))
	for _, e := range edges {
		in[e.To]++
	}
	var order []string
	done := map[string]bool{}
	for len(order) < len(nodes) {
		progress := false
		for _, n := range nodes {
			if done[n] || in[n] > 0 {
				continue
			}
			done[n], progress = true, true
			order = append(order, n)
			for _, e := range edges {
				if e.From == n {
					in[e.To]--
				}
			}
			break
		}
		if !progress {
			return nil
		}
	}
	return order
}

// lastWrites maps each key the operations wrote to the last value written.
func lastWrites(ops []recordedOp) map[string]string {
	m := map[string]string{}
	for _, op := range ops {
		if op.kind == opWrite {
			m[op.key] = op.value
		}
	}
	return m
}

// lastWriteIndex maps each key written to the index of its last write.
func lastWriteIndex(ops []recordedOp) map[string]int {
	m := map[string]int{}
	for i, op := range ops {
		if op.kind == opWrite {
			m[op.key] = i
		}
	}
	return m
}

// ops returns what the session's store acknowledged, in order.
func (o *Outcome) ops(session string) []recordedOp {
	if s := o.sessions[session]; s != nil {
		return s.ops
	}
	return nil
}
