package index

// Pruning: giving memory back without walking the whole index.
//
// Every version the index holds leaves memory at the latest when the
// horizon reaches the newest version of its key: from then on every
// snapshot sees that newest version, which the file holds (or, for a
// tombstone, the absence the file shows). Before that, the versions older
// than the one visible at the horizon go. So every commit records (key, ts)
// in the reclaim queue, ts being its version's timestamp, the moment its
// key may leave memory. Commits arrive in timestamp order, so the queue is
// sorted by ts and the work due is exactly its prefix with ts <= horizon.
// Vacuum consumes that prefix: its cost grows with what it removes, not
// with the size of the index or of the data.
//
// Example, key k, the file holding k=old@1:
//
//	commit put k=a  at ts 3   chain [old@1 a@3]          queue [(k,3)]
//	commit put k=b  at ts 5   chain [old@1 a@3 b@5]      queue [(k,3) (k,5)]
//	commit del k    at ts 8   chain [old@1 a@3 b@5 T@8]  queue [(k,3) (k,5) (k,8)]
//	Prune(horizon 6)          chain [b@5 T@8]            removes old@1, a@3
//	Prune(horizon 8)          k leaves the index         removes b@5, T@8
//
// An entry costs 40 bytes while it waits. An entry whose key was already
// pruned as far as its ts allows is stale: a lookup shows nothing to
// remove and it is skipped, so a hot key overwritten a million times is
// pruned once per pass, plus a lookup per stale entry. While a snapshot
// holds the horizon back the queue would grow with every commit; the
// entries of versions spilled to disk are stale too, and compaction
// (reclaim.go) drops them, so the queue stays proportional to the
// versions memory holds.
//
// The queue is sorted as long as timestamps only grow, and they do: the
// commit pipeline never reuses the timestamps of a group that failed.

// PruneResult is what one Prune call did.
type PruneResult struct {
	// VersionsRemoved counts the dead versions removed: superseded ones
	// and tombstones, gone for good (see Garbage).
	VersionsRemoved int64
	// Released counts every version taken out of memory: the dead ones
	// and the live newest versions the file holds.
	Released int64
	// BytesFreed is the size of the values taken out of memory.
	BytesFreed int64
	// KeysExamined counts the keys pruned; VersionsExamined the versions
	// they held before pruning.
	KeysExamined, VersionsExamined int64
	// KeysRemoved counts the deleted keys whose tombstone went: the keys
	// that are gone for good.
	KeysRemoved int64
	// More reports that removable work at or below the horizon remains.
	More bool
}

// Prune removes from memory the versions no snapshot at or above horizon
// needs from it (see chain.removable; the horizon is capped at what the
// file holds, see SetApplied), at most about limit of them,
// consuming the reclaim queue in timestamp order. The caller must
// guarantee that no open transaction reads below horizon and that every
// commit at or below horizon is in the file.
//
// The versions of one key are never split across calls unless that key
// alone has more than limit removable versions; then its oldest go first
// and the newest goes last, so every intermediate state still reads right.
//
// Prune holds the write lock for the whole call, so limit bounds how long
// commits and readers wait: the lock is held for at most limit removals
// and 4*limit queue entries.
func (ix *Index) Prune(horizon uint64, limit int) PruneResult {
	horizon = min(horizon, ix.applied.Load())
	limit = max(limit, 1)
	var r PruneResult
	ix.mu.Lock()
	defer ix.mu.Unlock()
	defer ix.compactReclaim(0)
	q := &ix.reclaim
	steps := 0
	for q.head < len(q.entries) {
		qe := q.entries[q.head] // live: see reclaimQueue's invariant
		if qe.ts > horizon {
			break
		}
		if r.Released >= int64(limit) || steps >= 4*limit {
			r.More = true
			break
		}
		steps++
		e, found := ix.lookup(qe.key)
		if !found {
			q.pop()
			continue
		}
		c := e.chain()
		n := c.removable(horizon)
		if n == 0 {
			q.pop()
			continue
		}
		room := limit - int(r.Released)
		if r.Released > 0 && n > room {
			r.More = true // the next call takes this key whole
			break
		}
		before, g := len(c.versions), c.garbage()
		deleted := c.versions[before-1].Tombstone
		var cost int64
		for _, v := range c.versions[:min(n, room)] {
			r.BytesFreed += int64(len(v.Value))
			cost += versionCost(v)
		}
		removed, complete := c.prune(horizon, room)
		ix.bytes.Add(-cost)
		if removed > 0 {
			// Whatever went to disk is older than what a snapshot at or
			// above the horizon sees now (see chain.spilled).
			c.spilled = false
		}
		r.KeysExamined++
		r.VersionsExamined += int64(before)
		r.Released += int64(removed)
		r.VersionsRemoved += g - c.garbage()
		ix.versions.Add(-int64(removed))
		ix.garbage += c.garbage() - g
		ix.refresh(c)
		if len(c.versions) == 0 && deleted {
			r.KeysRemoved++
		}
		if !complete {
			r.More = true
			break
		}
		q.pop()
	}
	return r
}

// Garbage returns the number of versions held that are superseded or
// deleted. It is exact, maintained as commits add and Prune removes.
func (ix *Index) Garbage() int64 {
	rs := ix.mu.RLock()
	defer ix.mu.RUnlock(rs)
	return ix.garbage
}

// Reclaimable estimates how many versions Prune(horizon) would release
// now, in O(log n): the versions recorded in the reclaim queue at or below
// horizon. It overestimates by those a newer commit of the same key keeps
// (the version visible at the horizon) and by stale entries, and
// underestimates by one version per key that an earlier prune left with
// its visible version kept (that version's entry was consumed then). It
// decides when autovacuum runs, nothing else.
func (ix *Index) Reclaimable(horizon uint64) int64 {
	rs := ix.mu.RLock()
	defer ix.mu.RUnlock(rs)
	return ix.reclaim.cumAt(horizon) - ix.reclaim.done
}
