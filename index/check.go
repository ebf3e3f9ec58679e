package index

import (
	"bytes"
	"fmt"
)

// Check verifies the index's invariants and returns the first violation:
// keys in order, every chain sorted by (TS, Seq) and non-empty, the
// entry's copy equal to its chain's newest version, InFile only on a
// newest version that is not a tombstone, no chainless tombstone, and the
// version, garbage and byte counters exact, the reclaim queue in order. It walks everything under the read
// lock: for tests and debugging, not for production paths.
func (ix *Index) Check() error {
	rs := ix.mu.RLock()
	defer ix.mu.RUnlock(rs)
	var (
		err                    error
		prev                   []byte
		versions, gcount, heap int64
	)
	ix.tree.Ascend(func(e entry) bool {
		fail := func(format string, args ...any) bool {
			err = fmt.Errorf("index: key %q: "+format, append([]any{e.key}, args...)...)
			return false
		}
		if prev != nil && bytes.Compare(prev, e.key) >= 0 {
			return fail("out of order after %q", prev)
		}
		prev = e.key
		if p0, p1 := prefix(e.key); p0 != e.p0 || p1 != e.p1 {
			return fail("inline prefix does not match the key")
		}
		vs := []Version{e.top}
		if e.c != nil {
			vs = e.c.versions
			if !bytes.Equal(e.c.key, e.key) {
				return fail("chain of key %q", e.c.key)
			}
		} else if e.top.Tombstone {
			return fail("a tombstone without a chain")
		}
		if len(vs) == 0 {
			return fail("empty chain")
		}
		for i, v := range vs {
			if i > 0 && (vs[i-1].TS > v.TS || vs[i-1].TS == v.TS && vs[i-1].Seq >= v.Seq) {
				return fail("versions out of order at %d.%d", v.TS, v.Seq)
			}
			if v.InFile && (i != len(vs)-1 || v.Tombstone) {
				return fail("version %d.%d is InFile but not the newest live one", v.TS, v.Seq)
			}
		}
		if top := vs[len(vs)-1]; top.TS != e.top.TS || top.Seq != e.top.Seq || top.InFile != e.top.InFile ||
			top.Tombstone != e.top.Tombstone || !bytes.Equal(top.Value, e.top.Value) {
			return fail("entry copy %d.%d differs from the chain's newest %d.%d", e.top.TS, e.top.Seq, top.TS, top.Seq)
		}
		c := chain{versions: vs}
		heap += entryCost(e.key)
		for _, v := range vs {
			heap += versionCost(v)
		}
		versions += int64(len(vs))
		gcount += c.garbage()
		return true
	})
	if err != nil {
		return err
	}
	if n := ix.versions.Load(); n != versions {
		return fmt.Errorf("index: version counter %d, %d held", n, versions)
	}
	if n := ix.bytes.Load(); n != heap {
		return fmt.Errorf("index: byte counter %d, %d held", n, heap)
	}
	if ix.garbage != gcount {
		return fmt.Errorf("index: garbage counter %d, %d superseded or deleted held", ix.garbage, gcount)
	}
	return ix.reclaim.check()
}

// check verifies the reclaim queue's cursors (reclaim.go) and that its
// live entries keep their order (cum; ts too when the installs came in
// timestamp order, as the engine's do, which this cannot know).
func (q *reclaimQueue) check() error {
	if q.head > q.w || q.w > q.r || q.r > len(q.entries) || q.head == q.w && q.w != q.r || !q.compacting && q.w != q.r {
		return fmt.Errorf("index: reclaim queue cursors head %d, w %d, r %d, len %d, compacting %v", q.head, q.w, q.r, len(q.entries), q.compacting)
	}
	var prev *reclaimEntry
	for _, seg := range [2][]reclaimEntry{q.entries[q.head:q.w], q.entries[q.r:]} {
		for i := range seg {
			e := &seg[i]
			if prev != nil && e.cum <= prev.cum {
				return fmt.Errorf("index: reclaim queue out of order: cum %d after %d", e.cum, prev.cum)
			}
			prev = e
		}
	}
	return nil
}
