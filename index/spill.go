package index

import "bytes"

// Spilling: bounding the heap whatever a snapshot's age.
//
// A snapshot held open keeps every version written after it began, and
// without a bound they would all stay in memory. Spill moves them out:
// the older versions of a chain go to a version store on disk (the
// engine's business; the index only hands them over), and a newest
// version the file already holds (TS at or below SetApplied's mark) drops
// its value and becomes InFile. What memory keeps of a spilled key is its
// entry, its versions not spilled, and a mark (Item.Older) that the
// versions before them are on disk.
//
// Spilling takes a prefix of a chain, never a middle: a chain in memory is
// always the newest part of the key's history, so a snapshot that finds a
// version visible in memory has the right one, and one that finds none
// either reads the key as absent or, when the chain is marked, asks the
// disk for the newest version at or below its snapshot.
//
// A key whose chain is down to its newest version, InFile, with the older
// ones on disk, leaves memory altogether (evicted): a reader that does not
// find it reads the file, and when the file's version is newer than its
// snapshot, the disk. A key with one version and no chain has nothing
// older anywhere that a snapshot below that version could see: it was
// created by that version (or every snapshot is at or above it). To let
// such a key go too, the plan writes an absence marker for it, a
// tombstone at TS 0 superseded by its one version (Until), which answers
// "absent" to the snapshots below it and is older than any real record a
// reader as of a past time could need. So memory does not grow with the
// keys inserted since the oldest snapshot either.
//
// The index then no longer holds every key written since the horizon: the
// engine must read a key's newest commit timestamp from the file for the
// keys it does not hold (first committer wins), and a commit that brings
// an evicted key back starts its chain marked.
//
// A spill is done in two steps around the disk write, so that no reader
// ever misses a version: PlanSpill chooses (under the read lock, changing
// nothing), the engine writes the chosen versions where readers look for
// them, then CompleteSpill takes them out of memory (under the write
// lock). A version pruned in between is skipped: it was needed by nobody.

// SpillVersion is one version PlanSpill chose to move to disk: key's
// version, and Until, the commit timestamp of the version that superseded
// it. No snapshot at or after Until reads it: once the vacuum horizon
// reaches Until, the disk may let it go.
type SpillVersion struct {
	Key     []byte
	Version Version
	Until   uint64
}

// SpillPlan is what PlanSpill chose.
type SpillPlan struct {
	// Versions go to disk before CompleteSpill; per key, oldest first.
	Versions []SpillVersion
	// tops are the newest versions whose values the file holds: their
	// values leave memory, nothing is written.
	tops []SpillVersion
	// Bytes estimates the heap CompleteSpill gives back.
	Bytes int64
	// EvictUpTo bounds the keys CompleteSpill lets go whole: only those
	// whose newest version is at or below it (PlanSpill sets no bound).
	// A reader that does not find a key in memory reads the file in a
	// view it may have taken earlier (a scan's chunk): the engine sets
	// the oldest applied mark such a view may hold, so that every view a
	// reader can still use holds the newest version of a key memory let
	// go.
	EvictUpTo uint64
	next      []byte // where the next plan resumes
}

// PlanSpill chooses about target bytes of versions to take out of memory,
// visiting at most maxKeys keys, resuming where the last completed spill
// stopped (round robin over the keys, so every key's history leaves memory
// in turn). It changes nothing.
func (ix *Index) PlanSpill(target int64, maxKeys int) SpillPlan {
	applied := ix.applied.Load()
	p := SpillPlan{EvictUpTo: ^uint64(0)}
	rs := ix.mu.RLock()
	defer ix.mu.RUnlock(rs)
	from := ix.spillAt
	visited := 0
	visit := func(e entry) bool {
		if p.Bytes >= target || visited >= maxKeys {
			p.next = e.key
			return false
		}
		visited++
		t := e.top
		if e.c != nil {
			vs := e.c.versions
			for i, v := range vs[:len(vs)-1] {
				p.Versions = append(p.Versions, SpillVersion{Key: e.key, Version: v, Until: vs[i+1].TS})
				p.Bytes += versionCost(v)
			}
		} else if !t.Tombstone && t.TS <= applied && (t.InFile || len(t.Value) > 0) {
			// A key with one version and nothing before it (see above):
			// an absence marker lets it leave memory whole.
			p.Versions = append(p.Versions, SpillVersion{Key: e.key, Version: Version{Tombstone: true}, Until: t.TS})
			p.Bytes += entryCost(e.key)
		}
		if !t.Tombstone && !t.InFile && t.TS <= applied && len(t.Value) > 0 {
			p.tops = append(p.tops, SpillVersion{Key: e.key, Version: t})
			p.Bytes += int64(len(t.Value))
		}
		return true
	}
	if from == nil {
		ix.tree.Ascend(visit)
		return p
	}
	ix.tree.AscendGreaterOrEqual(probe(from), visit)
	if p.next == nil {
		// Wrap around to the keys before where this plan began.
		ix.tree.AscendLessThan(probe(from), visit)
		if p.next == nil {
			p.next = from
		}
	}
	return p
}

// CompleteSpill takes p's versions out of memory, once the engine has put
// them where readers look for them, and returns the bytes it gave back.
func (ix *Index) CompleteSpill(p SpillPlan) (freed int64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	defer ix.compactReclaim(compactPerSpill)
	ix.spillAt = p.next
	vs := p.Versions
	for len(vs) > 0 {
		key := vs[0].Key
		n := 1
		for n < len(vs) && bytes.Equal(vs[n].Key, key) {
			n++
		}
		freed += ix.dropSpilled(key, vs[:n])
		vs = vs[n:]
	}
	for _, t := range p.tops {
		e, found := ix.lookup(t.Key)
		if !found {
			continue
		}
		top := e.top
		if top.TS != t.Version.TS || top.Seq != t.Version.Seq || top.InFile || top.Tombstone {
			continue // superseded meanwhile: it took its value back
		}
		c := e.chain()
		nv := &c.versions[len(c.versions)-1]
		freed += int64(len(nv.Value))
		ix.bytes.Add(-int64(len(nv.Value)))
		nv.Value, nv.InFile = nil, true
		ix.refresh(c)
	}
	// A key left with its newest version alone, InFile, and its older
	// versions on disk leaves memory whole: the file holds the newest, the
	// disk the rest. So memory does not grow with the keys written since
	// the oldest snapshot either.
	// The candidates: every key the plan spilled from or took a value
	// of (a key whose newest version was InFile already is in the first
	// group only).
	for _, group := range [2][]SpillVersion{p.Versions, p.tops} {
		for i, t := range group {
			if i > 0 && bytes.Equal(group[i-1].Key, t.Key) {
				continue // the same key as the last
			}
			freed += ix.evict(t.Key, p.EvictUpTo)
		}
	}
	return freed
}

// evict takes key out of memory when memory holds nothing of it but its
// newest version, InFile and at or below upTo, with everything older on
// disk, and returns the bytes given back. Called with ix.mu held for writing.
func (ix *Index) evict(key []byte, upTo uint64) int64 {
	e, found := ix.lookup(key)
	if !found || e.c == nil || !e.c.spilled || len(e.c.versions) != 1 || !e.top.InFile || e.top.TS > upTo {
		return 0
	}
	ix.tree.Delete(probe(e.key))
	cost := entryCost(e.key) + versionCost(e.top)
	ix.bytes.Add(-cost)
	ix.versions.Add(-1)
	return cost
}

// dropSpilled takes key's spilled versions (oldest first) out of its chain
// where they are still its oldest; the chain's newest version always
// stays. An absence marker (TS 0) marks the key spilled, if its one
// version is still the one the marker ends at. Called with ix.mu held for
// writing.
func (ix *Index) dropSpilled(key []byte, spilled []SpillVersion) (freed int64) {
	e, found := ix.lookup(key)
	if !found {
		return 0
	}
	if m := spilled[0]; m.Version.TS == 0 {
		if e.c == nil && e.top.TS == m.Until {
			c := e.chain()
			c.spilled = true
			ix.refresh(c)
		}
		return 0
	}
	if e.c == nil {
		return 0
	}
	c := e.c
	g := c.garbage()
	dropped := 0
	for _, sv := range spilled {
		if len(c.versions)-dropped <= 1 {
			break
		}
		front := c.versions[dropped]
		switch {
		case front.TS == sv.Version.TS && front.Seq == sv.Version.Seq:
			freed += versionCost(front)
			dropped++
		case front.TS < sv.Version.TS || front.TS == sv.Version.TS && front.Seq < sv.Version.Seq:
			// Older than the plan's: the chain changed under it in a way
			// spilling never does. Keep everything from here.
			return ix.finishDrop(c, dropped, g, freed)
		}
		// Otherwise sv was pruned meanwhile: nobody needed it.
	}
	return ix.finishDrop(c, dropped, g, freed)
}

func (ix *Index) finishDrop(c *chain, dropped int, g, freed int64) int64 {
	if dropped == 0 {
		return 0
	}
	clear(c.versions[:dropped])
	c.versions = append([]Version(nil), c.versions[dropped:]...)
	c.spilled = true
	ix.versions.Add(-int64(dropped))
	ix.bytes.Add(-freed)
	ix.garbage += c.garbage() - g
	ix.refresh(c)
	return freed
}
