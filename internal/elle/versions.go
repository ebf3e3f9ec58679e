package elle

import (
	"fmt"
	"slices"
)

// Version order recovery.
//
// Every list a committed transaction read is a version of its key, and so
// is every prefix of it: [1 2 3] was written on top of [1 2], which was
// written on top of [1]. The observed lists of a key, inserted into a trie
// of elements, therefore give the version order: a chain when the history
// is sane, a tree with a fork where two transactions wrote on top of the
// same version and both survived in some read (a lost update on an engine
// that applies appends as read-then-write). The trie's parent relation is
// the part of the version order we can prove; Check builds edges from it
// alone, never from guesses.

// version is one node of a key's trie: the list made of the elements on the
// path from the root.
type version struct {
	key      string
	elem     int // last element; unset at the root
	root     bool
	parent   *version
	children []*version
	// readers are the committed transactions whose read of key returned
	// exactly this list, once their own trailing appends are removed.
	readers []int
}

func (v *version) child(e int) *version {
	for _, c := range v.children {
		if c.elem == e {
			return c
		}
	}
	c := &version{key: v.key, elem: e, parent: v}
	v.children = append(v.children, c)
	return c
}

// list rebuilds the version's list, for reports.
func (v *version) list() []int {
	var l []int
	for n := v; !n.root; n = n.parent {
		l = append(l, n.elem)
	}
	slices.Reverse(l)
	return l
}

// writeRef says who appended an element and whether it was that
// transaction's last append to the key.
type writeRef struct {
	txn  int // index into the history
	last bool
}

// analysis holds what Check derives from a history before building the
// graph.
type analysis struct {
	h       History
	writers map[string]map[int]writeRef // key -> element -> writer
	roots   map[string]*version         // key -> trie root
	found   []Anomaly
}

func (a *analysis) report(kind Kind, txns []int, format string, args ...any) {
	ids := make([]int, len(txns))
	for i, t := range txns {
		ids[i] = a.h[t].ID
	}
	a.found = append(a.found, Anomaly{Kind: kind, Txns: ids, Detail: fmt.Sprintf(format, args...)})
}

func (a *analysis) root(key string) *version {
	r, ok := a.roots[key]
	if !ok {
		r = &version{key: key, root: true}
		a.roots[key] = r
	}
	return r
}

// indexWrites records the writer of every appended element.
func (a *analysis) indexWrites() {
	a.writers = make(map[string]map[int]writeRef)
	for ti, t := range a.h {
		lastOf := make(map[string]int)
		for _, o := range t.Ops {
			if o.Kind == Append {
				lastOf[o.Key] = o.Value
			}
		}
		for _, o := range t.Ops {
			if o.Kind != Append {
				continue
			}
			m := a.writers[o.Key]
			if m == nil {
				m = make(map[int]writeRef)
				a.writers[o.Key] = m
			}
			if prev, dup := m[o.Value]; dup {
				a.report(DuplicateElements, []int{prev.txn, ti}, "element %d appended to %s twice", o.Value, o.Key)
				continue
			}
			m[o.Value] = writeRef{txn: ti, last: lastOf[o.Key] == o.Value}
		}
	}
}

// checkReads inspects every read of a committed transaction: duplicates,
// garbage, aborted and intermediate reads; and files each read into its
// key's trie.
func (a *analysis) checkReads() {
	a.roots = make(map[string]*version)
	for ti, t := range a.h {
		if t.Status != OK {
			continue
		}
		for _, o := range t.Ops {
			if o.Kind != Read {
				continue
			}
			a.checkRead(ti, o)
		}
	}
}

func (a *analysis) checkRead(ti int, o Op) {
	seen := make(map[int]bool, len(o.List))
	for _, e := range o.List {
		if seen[e] {
			a.report(DuplicateElements, []int{ti}, "read of %s returned %v: %d twice", o.Key, o.List, e)
			return
		}
		seen[e] = true
		w, ok := a.writers[o.Key][e]
		switch {
		case !ok:
			a.report(GarbageRead, []int{ti}, "read of %s returned %v: nobody appended %d", o.Key, o.List, e)
		case w.txn != ti && a.h[w.txn].Status == Failed:
			a.report(G1a, []int{w.txn, ti}, "read of %s returned %v: %d was appended by a failed transaction", o.Key, o.List, e)
		}
	}
	if n := len(o.List); n > 0 {
		e := o.List[n-1]
		if w, ok := a.writers[o.Key][e]; ok && w.txn != ti && !w.last {
			a.report(G1b, []int{w.txn, ti}, "read of %s returned %v, which ends in %d, an intermediate append of its writer", o.Key, o.List, e)
		}
	}
	// The version read from others: the list without the reader's own
	// trailing (uncommitted at the time) appends.
	k := len(o.List)
	for k > 0 && a.ownSuffix(ti, o.Key, o.List[k-1:k]) {
		k--
	}
	v := a.root(o.Key)
	external := v
	for i, e := range o.List {
		v = v.child(e)
		if i+1 == k {
			external = v
		}
	}
	external.readers = append(external.readers, ti)
}

// ownSuffix reports whether every element of tail was appended by txn ti.
func (a *analysis) ownSuffix(ti int, key string, tail []int) bool {
	for _, e := range tail {
		if w, ok := a.writers[key][e]; !ok || w.txn != ti {
			return false
		}
	}
	return true
}

// checkInternal finds committed transactions whose reads contradict their
// own earlier operations: after a read of L and appends a, b, a read of the
// same key must return L+a+b. (A read with no append since the previous
// one may differ at read committed, so it is not checked here; the graph
// catches what that allows.)
func (a *analysis) checkInternal() {
	for ti, t := range a.h {
		if t.Status != OK {
			continue
		}
		type state struct {
			list  []int
			known bool
			dirty bool
		}
		st := make(map[string]*state)
		for _, o := range t.Ops {
			s := st[o.Key]
			if s == nil {
				s = &state{}
				st[o.Key] = s
			}
			switch o.Kind {
			case Read:
				if s.known && s.dirty && !slices.Equal(s.list, o.List) {
					a.report(Internal, []int{ti}, "read of %s returned %v, expected %v after its own appends", o.Key, o.List, s.list)
				}
				s.list, s.known, s.dirty = slices.Clone(o.List), true, false
			case Append:
				if s.known {
					s.list = append(s.list, o.Value)
					s.dirty = true
				}
			}
		}
	}
}

// checkForks reports every version with two successors.
func (a *analysis) checkForks() {
	for _, key := range sortedKeys(a.roots) {
		var walk func(v *version)
		walk = func(v *version) {
			if len(v.children) > 1 {
				var txns []int
				var elems []int
				for _, c := range v.children {
					elems = append(elems, c.elem)
					if w, ok := a.writers[key][c.elem]; ok {
						txns = append(txns, w.txn)
					}
				}
				a.report(IncompatibleOrder, txns, "versions of %s fork after %v: lists continue with %v", key, v.list(), elems)
			}
			for _, c := range v.children {
				walk(c)
			}
		}
		walk(a.roots[key])
	}
}

// checkLostUpdates finds committed transactions that read the same version
// of a key and then both appended to it: one of the two appends was
// written over by the other.
func (a *analysis) checkLostUpdates() {
	type slot struct {
		key  string
		list string
	}
	groups := make(map[slot][]int)
	var order []slot
	for ti, t := range a.h {
		if t.Status != OK {
			continue
		}
		lastRead := make(map[string][]int)
		hasRead := make(map[string]bool)
		done := make(map[string]bool)
		for _, o := range t.Ops {
			switch o.Kind {
			case Read:
				if !done[o.Key] {
					lastRead[o.Key], hasRead[o.Key] = o.List, true
				}
			case Append:
				if done[o.Key] || !hasRead[o.Key] {
					done[o.Key] = true
					continue
				}
				done[o.Key] = true
				s := slot{o.Key, fmt.Sprint(lastRead[o.Key])}
				if _, ok := groups[s]; !ok {
					order = append(order, s)
				}
				groups[s] = append(groups[s], ti)
			}
		}
	}
	for _, s := range order {
		if g := groups[s]; len(g) > 1 {
			a.report(LostUpdate, g, "%d committed transactions read %s=%s and all appended to it", len(g), s.key, s.list)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
