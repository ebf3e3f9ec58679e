package index

import (
	"bytes"
	"encoding/binary"
	"math"
	"runtime"
	"slices"
	"sync"
)

// Load adds versions in bulk: the rebuild of an index at startup. entries
// may come in any order (recovery reads them in commit order, which is not
// key order). Load sorts them by key and (TS, Seq), groups each key's
// versions into one tree entry (and a chain, for a key with several) and
// inserts the entries in ascending key order:
// every insert then follows the tree's rightmost path, which stays in
// cache, where inserting a million keys in commit order costs a cache miss
// per comparison. The sort runs on several cores, and making the tree
// entries overlaps inserting them. Chains and their version arrays are
// carved from a few large allocations, which spares the allocator and the
// garbage collector many small objects; the price is that such a slab is
// freed only when every chain carved from it is gone.
//
// On an index that already holds keys (or given more than 2^32 entries),
// Load adds the entries one by one, as Apply does. The Index keeps the key
// and value slices.
func (ix *Index) Load(entries []Entry) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.tree.Len() > 0 || len(entries) > math.MaxUint32 {
		for i := range entries {
			ix.addLocked(entries[i].Key, entries[i].Version)
		}
		return
	}
	order := sortEntries(entries)
	// Two stages run side by side: build reads the entries in key order
	// (scattered reads: recovery collected them in commit order) and makes
	// the tree entries and chains; this goroutine inserts them into the
	// tree, which is the larger cost. Batches travel between them, and come
	// back to be reused.
	const batch = 1024
	full := make(chan []entry, 4)
	free := make(chan []entry, 4)
	for range cap(free) {
		free <- make([]entry, 0, batch)
	}
	var b loadBuilder
	go func() {
		defer close(full)
		buf := <-free
		for i := 0; i < len(order); {
			j := i + 1
			for j < len(order) && sameKey(entries, order[i], order[j]) {
				j++
			}
			buf = append(buf, b.entry(entries, order[i:j]))
			if len(buf) == batch {
				full <- buf
				buf = (<-free)[:0]
			}
			i = j
		}
		full <- buf
	}()
	for buf := range full {
		for i := range buf {
			ix.tree.ReplaceOrInsert(buf[i])
		}
		clear(buf)
		free <- buf // never blocks: free has room for every batch there is
	}
	ix.versions += b.versionsLoaded
	// Record the loaded garbage for vacuum, in timestamp order as the
	// reclaim queue expects.
	slices.SortFunc(b.garbage, func(a, b deadChain) int { return cmpU64(a.ts, b.ts) })
	for _, g := range b.garbage {
		ix.noteGarbage(g.c, g.n)
	}
}

// loadBuilder makes Load's tree entries. Keys with more than one version,
// or a tombstone, need a chain; the others (most, after a vacuum) hold
// their version in the tree entry alone. Chains and their versions come
// from blocks that never grow: a chain must not move once the tree points
// to it. A chain's slice is capped at its length so that a later commit's
// append reallocates instead of overwriting the next chain.
type loadBuilder struct {
	chains         []chain
	versions       []Version
	versionsLoaded int64
	garbage        []deadChain
}

// deadChain is a loaded chain holding n garbage versions, removable once
// the horizon reaches ts.
type deadChain struct {
	c  *chain
	ts uint64
	n  int64
}

// entry returns the tree entry of one key, whose versions are group
// (sorted, see sortEntries).
func (b *loadBuilder) entry(entries []Entry, group []sortKey) entry {
	first := &entries[group[0].i]
	e := entry{p0: group[0].p0, p1: group[0].p1, key: first.Key}
	if len(group) == 1 && !first.Version.Tombstone {
		e.top = first.Version
		b.versionsLoaded++
		return e
	}
	if cap(b.versions)-len(b.versions) < len(group) {
		b.versions = make([]Version, 0, max(loadBlock, len(group)))
	}
	base := len(b.versions)
	for _, o := range group {
		v := entries[o.i].Version
		if n := len(b.versions); n > base && b.versions[n-1].TS == v.TS && b.versions[n-1].Seq == v.Seq {
			b.versions[n-1] = v // the same version twice: the later wins, as in Apply
			continue
		}
		b.versions = append(b.versions, v)
	}
	vs := b.versions[base:len(b.versions):len(b.versions)]
	b.versionsLoaded += int64(len(vs))
	e.top = vs[len(vs)-1]
	if len(vs) == 1 && !e.top.Tombstone {
		return e // duplicates of one version
	}
	if len(b.chains) == cap(b.chains) {
		b.chains = make([]chain, 0, loadBlock)
	}
	b.chains = append(b.chains, chain{key: first.Key, versions: vs})
	e.c = &b.chains[len(b.chains)-1]
	if n := e.c.garbage(); n > 0 {
		b.garbage = append(b.garbage, deadChain{e.c, e.top.TS, n})
	}
	return e
}

// sortKey orders entries: the key's first 16 bytes inline (most
// comparisons end there, without touching the key's memory), then the
// whole key, then (TS, Seq), then the position in entries, so that of two
// identical versions the later one in entries ends up last.
type sortKey struct {
	p0, p1 uint64
	n, i   uint32 // the key's length (capped), its entry's position
}

// loadBlock is how many chains, or versions, Load allocates at once.
const loadBlock = 4096

// sameKey reports whether a and b stand for entries with equal keys,
// mostly from the inline prefix and length alone.
func sameKey(entries []Entry, a, b sortKey) bool {
	if a.p0 != b.p0 || a.p1 != b.p1 || a.n != b.n {
		return false
	}
	return a.n <= 16 || bytes.Equal(entries[a.i].Key, entries[b.i].Key)
}

// prefix returns key's first 16 bytes as two big-endian words, padded
// with zero bytes.
func prefix(key []byte) (p0, p1 uint64) {
	if len(key) >= 16 {
		return binary.BigEndian.Uint64(key), binary.BigEndian.Uint64(key[8:])
	}
	var b [16]byte
	copy(b[:], key)
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

func sortEntries(entries []Entry) []sortKey {
	order := make([]sortKey, len(entries))
	for i := range entries {
		p0, p1 := prefix(entries[i].Key)
		order[i] = sortKey{p0, p1, uint32(min(len(entries[i].Key), math.MaxUint32)), uint32(i)}
	}
	cmp := func(a, b sortKey) int {
		switch {
		case a.p0 != b.p0:
			return cmpU64(a.p0, b.p0)
		case a.p1 != b.p1:
			return cmpU64(a.p1, b.p1)
		}
		ea, eb := &entries[a.i], &entries[b.i]
		if a.n > 16 || b.n > 16 {
			if c := bytes.Compare(ea.Key, eb.Key); c != 0 {
				return c
			}
		} else if a.n != b.n {
			// Equal 16-byte prefixes with zero padding: the shorter
			// key is a prefix of the longer, so it sorts first.
			return cmpU64(uint64(a.n), uint64(b.n))
		}
		if ea.Version.TS != eb.Version.TS {
			return cmpU64(ea.Version.TS, eb.Version.TS)
		}
		if ea.Version.Seq != eb.Version.Seq {
			return cmpU64(uint64(ea.Version.Seq), uint64(eb.Version.Seq))
		}
		return cmpU64(uint64(a.i), uint64(b.i))
	}
	return parallelSort(order, cmp, min(runtime.GOMAXPROCS(0), 8, len(order)/(1<<15)))
}

// parallelSort sorts s by cmp on up to parts cores: runs sorted side by
// side, then merged pairwise, each round's merges side by side too. It
// returns the sorted slice, s or a buffer of its size.
func parallelSort(s []sortKey, cmp func(a, b sortKey) int, parts int) []sortKey {
	if parts < 2 || len(s) < parts {
		slices.SortFunc(s, cmp)
		return s
	}
	bounds := make([]int, parts+1)
	for p := range bounds {
		bounds[p] = p * len(s) / parts
	}
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() { slices.SortFunc(s[bounds[p]:bounds[p+1]], cmp) })
	}
	wg.Wait()
	src, dst := s, make([]sortKey, len(s))
	for len(bounds) > 2 {
		var next []int
		for p := 0; p+1 < len(bounds); p += 2 {
			lo := bounds[p]
			next = append(next, lo)
			if p+2 >= len(bounds) { // an odd run out: carried over
				copy(dst[lo:bounds[p+1]], src[lo:bounds[p+1]])
				continue
			}
			mid, hi := bounds[p+1], bounds[p+2]
			wg.Go(func() { mergeRuns(dst[lo:hi], src[lo:mid], src[mid:hi], cmp) })
		}
		next = append(next, len(s))
		wg.Wait()
		bounds = next
		src, dst = dst, src
	}
	return src
}

// mergeRuns merges the sorted runs a and b into dst (len(a)+len(b) long),
// a's elements first among equals.
func mergeRuns(dst, a, b []sortKey, cmp func(a, b sortKey) int) {
	i, j, k := 0, 0, 0
	for i < len(a) && j < len(b) {
		if cmp(b[j], a[i]) < 0 {
			dst[k] = b[j]
			j++
		} else {
			dst[k] = a[i]
			i++
		}
		k++
	}
	k += copy(dst[k:], a[i:])
	copy(dst[k:], b[j:])
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
