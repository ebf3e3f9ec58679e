package index

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// Load adds versions in bulk: the rebuild of an index at startup. entries
// may come in any order (recovery reads them in commit order, which is not
// key order). Load sorts them by key and (TS, Seq), groups each key's
// versions into one chain and inserts the chains in ascending key order:
// every insert then follows the tree's rightmost path, which stays in
// cache, where inserting a million keys in commit order costs a cache miss
// per comparison. Chains and their version arrays are carved from a few
// large allocations, which spares the allocator and the garbage collector
// a million small objects; the price is that such a slab is freed only
// when every chain carved from it is gone.
//
// On an index that already holds keys, Load adds the entries one by one,
// as Apply does. The Index keeps the key and value slices.
func (ix *Index) Load(entries []Entry) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.tree.Len() > 0 {
		for i := range entries {
			ix.addLocked(entries[i].Key, entries[i].Version)
		}
		return
	}
	order := sortEntries(entries)
	// Keys with more than one version, or a tombstone, need a chain; the
	// others (most, after a vacuum) hold their version in the tree entry
	// alone. Count them first, so that the slabs never grow: a chain must
	// not move once the tree points to it.
	chainKeys, chainVersions := 0, 1
	for i := 0; i < len(order); {
		j := i + 1
		for j < len(order) && bytes.Equal(entries[order[j].i].Key, entries[order[i].i].Key) {
			j++
		}
		if j-i > 1 || entries[order[j-1].i].Version.Tombstone {
			chainKeys++
			chainVersions += j - i
		}
		i = j
	}
	chains := make([]chain, 0, chainKeys)
	versions := make([]Version, 0, chainVersions)
	// A key's versions are versions[base:] while it is being read; a
	// chain's slice is capped at its length so that a later commit's
	// append reallocates instead of overwriting the next chain.
	var key []byte
	base := 0
	closeKey := func() {
		if key == nil {
			return
		}
		vs := versions[base:len(versions):len(versions)]
		ix.versions += int64(len(vs))
		e := probe(key)
		e.top = vs[len(vs)-1]
		if len(vs) > 1 || e.top.Tombstone {
			chains = append(chains, chain{key: key, versions: vs})
			e.c = &chains[len(chains)-1]
			base = len(versions)
		} else {
			versions = versions[:base] // the next key reuses the slot
		}
		ix.tree.ReplaceOrInsert(e)
	}
	for _, o := range order {
		e := &entries[o.i]
		if key == nil || !bytes.Equal(e.Key, key) {
			closeKey()
			key = e.Key
		} else if last := &versions[len(versions)-1]; last.TS == e.Version.TS && last.Seq == e.Version.Seq {
			*last = e.Version // the same version twice: the later wins, as in Apply
			continue
		}
		versions = append(versions, e.Version)
	}
	closeKey()
	// Record the loaded garbage for vacuum, in timestamp order as the
	// reclaim queue expects.
	type dead struct {
		c  *chain
		ts uint64
		n  int64
	}
	var garbage []dead
	for i := range chains {
		c := &chains[i]
		if n := c.garbage(); n > 0 {
			garbage = append(garbage, dead{c, c.versions[len(c.versions)-1].TS, n})
		}
	}
	slices.SortFunc(garbage, func(a, b dead) int { return cmpU64(a.ts, b.ts) })
	for _, g := range garbage {
		ix.noteGarbage(g.c, g.n)
	}
}

// sortKey orders entries: the key's first 16 bytes inline (most
// comparisons end there, without touching the key's memory), then the
// whole key, then (TS, Seq), then the position in entries, so that of two
// identical versions the later one in entries ends up last.
type sortKey struct {
	p0, p1 uint64
	i      int
}

func prefix(key []byte) (p0, p1 uint64) {
	var b [16]byte
	copy(b[:], key)
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

func sortEntries(entries []Entry) []sortKey {
	order := make([]sortKey, len(entries))
	for i := range entries {
		p0, p1 := prefix(entries[i].Key)
		order[i] = sortKey{p0, p1, i}
	}
	slices.SortFunc(order, func(a, b sortKey) int {
		switch {
		case a.p0 != b.p0:
			return cmpU64(a.p0, b.p0)
		case a.p1 != b.p1:
			return cmpU64(a.p1, b.p1)
		}
		ea, eb := &entries[a.i], &entries[b.i]
		if len(ea.Key) > 16 || len(eb.Key) > 16 {
			if c := bytes.Compare(ea.Key, eb.Key); c != 0 {
				return c
			}
		} else if len(ea.Key) != len(eb.Key) {
			// Equal 16-byte prefixes with zero padding: the shorter
			// key is a prefix of the longer, so it sorts first.
			return cmpU64(uint64(len(ea.Key)), uint64(len(eb.Key)))
		}
		if ea.Version.TS != eb.Version.TS {
			return cmpU64(ea.Version.TS, eb.Version.TS)
		}
		if ea.Version.Seq != eb.Version.Seq {
			return cmpU64(uint64(ea.Version.Seq), uint64(eb.Version.Seq))
		}
		return a.i - b.i
	})
	return order
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
