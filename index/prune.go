package index

import "sort"

// Pruning: finding dead versions without walking the whole index.
//
// A version becomes garbage the moment a newer version of its key is
// committed (or, for a tombstone, the moment it is committed): from then
// on only snapshots older than the newer version can see it, and once the
// horizon reaches the newer version nobody can. So every commit that
// creates garbage records (chain, ts) in the reclaim queue, ts being the
// timestamp at which that garbage becomes removable. Commits arrive in
// timestamp order, so the queue is sorted by ts and the removable work is
// exactly its prefix with ts <= horizon. Vacuum consumes that prefix: its
// cost grows with the garbage removed, not with the size of the index.
//
// Example, key k, no transaction open:
//
//	commit put k=a  at ts 3   chain [a@3]               queue []
//	commit put k=b  at ts 5   chain [a@3 b@5]           queue [(k,5)]
//	commit del k    at ts 8   chain [a@3 b@5 del@8]     queue [(k,5) (k,8)]
//	Prune(horizon 6)          chain [b@5 del@8]         removes a@3
//	Prune(horizon 8)          chain gone                removes b@5, del@8
//
// An entry costs 24 bytes while it waits, on top of the dead version it
// stands for. An entry whose chain was already pruned at or above its ts (chain.pruned)
// is stale and skipped: a hot key overwritten a million times is pruned
// once per pass, not a million times.
//
// The queue is sorted as long as timestamps only grow. A commit group
// that fails to persist is removed again and its timestamps are reused;
// its entries stay behind, out of order by a little. That delays the
// entries behind them until the horizon passes them, and Reclaimable
// counts their garbage until they are consumed: nothing worse.

// Removed is a version taken out of the index by Prune, with its key, so
// that the caller can delete it from durable storage.
type Removed struct {
	Key []byte
	Version
}

// PruneResult is what one Prune call did.
type PruneResult struct {
	// Removed lists the removed versions. The versions of one key appear
	// oldest first and contiguously.
	Removed []Removed
	// KeysExamined counts the chains pruned; VersionsExamined the versions
	// they held before pruning.
	KeysExamined, VersionsExamined int64
	// KeysRemoved counts the keys left with no version, taken out of the
	// index.
	KeysRemoved int64
	// More reports that removable work at or below the horizon remains.
	More bool
}

// reclaimEntry says: chain c holds garbage that becomes removable once
// the horizon reaches ts. cum is the running total of garbage versions
// recorded in the queue up to and including this entry.
type reclaimEntry struct {
	c   *chain
	ts  uint64
	cum int64
}

// reclaimQueue is a FIFO of reclaimEntry sorted by ts (see above).
// Guarded by Index.mu.
type reclaimQueue struct {
	entries []reclaimEntry
	head    int   // entries[:head] are consumed
	total   int64 // garbage versions ever recorded
	done    int64 // cum of the last consumed entry
}

func (q *reclaimQueue) push(c *chain, ts uint64, n int64) {
	q.total += n
	q.entries = append(q.entries, reclaimEntry{c: c, ts: ts, cum: q.total})
}

func (q *reclaimQueue) pop() {
	q.done = q.entries[q.head].cum
	q.entries[q.head] = reclaimEntry{}
	q.head++
	// Reuse the array once most of it is consumed; the copy is paid for
	// by the pops that preceded it.
	if q.head >= 1024 && q.head*2 >= len(q.entries) {
		n := copy(q.entries, q.entries[q.head:])
		clear(q.entries[n:])
		q.entries = q.entries[:n]
		q.head = 0
	}
}

// noteGarbage records the garbage a change to c created (delta, from
// chain.garbage before and after). Called with ix.mu held.
func (ix *Index) noteGarbage(c *chain, delta int64) {
	ix.garbage += delta
	if delta > 0 {
		// The newest version is what the new garbage waits for. For an
		// in-order append it is the version just added.
		ix.reclaim.push(c, c.versions[len(c.versions)-1].TS, delta)
	}
}

// Prune removes versions no snapshot at or above horizon can see, at most
// about limit of them, consuming the reclaim queue in timestamp order. The
// caller must guarantee that no open transaction reads below horizon and
// that every version with TS <= horizon is in the index.
//
// The versions of one key are never split across calls unless that key
// alone has more than limit removable versions; then its oldest go first
// and the newest (a tombstone, possibly) goes last, so every intermediate
// state still reads right. Keys left empty are taken out of the index.
//
// Prune holds the write lock for the whole call, so limit bounds how long
// commits and readers wait: the lock is held for at most limit removals
// and 4*limit queue entries.
func (ix *Index) Prune(horizon uint64, limit int) PruneResult {
	limit = max(limit, 1)
	r := PruneResult{Removed: make([]Removed, 0, min(limit, 4096))}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	q := &ix.reclaim
	steps := 0
	for q.head < len(q.entries) {
		e := q.entries[q.head]
		if e.ts > horizon {
			break
		}
		if len(r.Removed) >= limit || steps >= 4*limit {
			r.More = true
			break
		}
		steps++
		c := e.c
		if c.pruned >= e.ts || len(c.versions) == 0 {
			q.pop()
			continue
		}
		room := limit - len(r.Removed)
		if len(r.Removed) > 0 && c.removable(horizon) > room {
			r.More = true // the next call takes this key whole
			break
		}
		before, g := len(c.versions), c.garbage()
		removed, complete := c.prune(horizon, room)
		r.KeysExamined++
		r.VersionsExamined += int64(before)
		for _, v := range removed {
			r.Removed = append(r.Removed, Removed{Key: c.key, Version: v})
		}
		ix.versions -= int64(len(removed))
		ix.garbage += c.garbage() - g
		if !complete {
			r.More = true
			break
		}
		c.pruned = horizon
		q.pop()
		switch n := len(c.versions); {
		case n == 0:
			ix.refresh(c) // takes the entry out
			r.KeysRemoved++
		case n == 1 && !c.versions[0].Tombstone:
			// The entry's copy is the key's only version now: the chain
			// goes hollow and its array is freed. Dropping the chain from
			// the entry would cost a tree update per key.
			c.versions = nil
		}
	}
	return r
}

// Garbage returns the number of versions held that are superseded or
// deleted: vacuum removes them once no open transaction can see them. It
// is exact, maintained as commits append and Prune removes.
func (ix *Index) Garbage() int64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.garbage
}

// Reclaimable estimates how many versions Prune(horizon) would remove now,
// in O(log n): the garbage recorded in the reclaim queue at or below
// horizon. It overestimates by the garbage that stale entries stand for
// (already removed by a prune that did not consume them yet), which is
// rare: a pass consumes every entry up to its horizon.
func (ix *Index) Reclaimable(horizon uint64) int64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	q := &ix.reclaim
	live := q.entries[q.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].ts > horizon })
	if i == 0 {
		return 0
	}
	return live[i-1].cum - q.done
}
