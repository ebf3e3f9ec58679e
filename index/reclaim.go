package index

import "sort"

// The reclaim queue and its compaction.
//
// Every commit appends (key, ts) to the queue (see prune.go), and Prune
// consumes its prefix at or below the horizon. A snapshot held open holds
// the horizon back, so the queue grows with every commit for as long as
// it stays open; the versions themselves go to disk (spill.go), but their
// queue entries would stay, 40 bytes each: 80 MB after 2M updates. Yet an
// entry is useful only while its key's chain in memory holds a version
// with the entry's ts: a version spilled or pruned leaves nothing for its
// entry to do (the disk's versions have their own queue, by the ts that
// superseded them), and a key that left memory whole leaves only stale
// entries. Dropping such an entry only spares Prune a lookup: the entry of
// a chain's newest version always stays, and it alone takes every version
// of the chain out of memory once the horizon passes it.
//
// Compaction runs in small steps, each under the write lock the caller
// already holds (a commit's install, a spill), so no step stalls readers
// for long: it starts when the live queue is more than twice the versions
// memory holds (plus compactSlack), and then every push examines
// compactPerPush entries and every completed spill compactPerSpill. The
// queue thus stays within a small multiple of the versions in memory,
// which Options.VersionMemoryLimit bounds, and its cost is counted in
// Bytes.
//
// During a compaction the array holds, in order: consumed entries
// [0,head), live entries already examined and kept [head,w), holes
// [w,r) (examined and dropped, or moved down), and live entries not yet
// examined [r,len). Outside a compaction w == r. The invariant
// head < w, or head == w == r, keeps entries[head] the queue's front.
// Kept entries keep their place in the order and their cum, so the live
// entries stay sorted by ts and Reclaimable's search still works;
// Reclaimable then also counts the dropped entries' versions, which
// memory no longer holds: it is an estimate for autovacuum's trigger.

const (
	// reclaimEntryCost is a queue entry's heap: the struct in the array.
	reclaimEntryCost = 40
	compactSlack     = 4096
	compactPerPush   = 4
	compactPerSpill  = 4096
)

// reclaimEntry says: key may have versions to remove once the horizon
// reaches ts. cum is the running total of versions recorded in the queue
// up to and including this entry.
type reclaimEntry struct {
	key []byte
	ts  uint64
	cum int64
}

// reclaimQueue is a FIFO of reclaimEntry sorted by ts (see prune.go),
// compacted in steps (above). Guarded by Index.mu.
type reclaimQueue struct {
	entries    []reclaimEntry
	head       int   // entries[:head] are consumed
	w, r       int   // the compaction's cursors, see above
	compacting bool  // a compaction is under way
	total      int64 // versions ever recorded
	done       int64 // cum of the last consumed entry
}

// live returns the number of entries not consumed.
func (q *reclaimQueue) live() int { return q.w - q.head + len(q.entries) - q.r }

func (q *reclaimQueue) push(key []byte, ts uint64, n int64) {
	q.total += n
	q.entries = append(q.entries, reclaimEntry{key: key, ts: ts, cum: q.total})
}

// pop consumes the front entry, entries[head].
func (q *reclaimQueue) pop() {
	q.done = q.entries[q.head].cum
	q.entries[q.head] = reclaimEntry{}
	q.head++
	if q.head >= q.w {
		// The kept entries are consumed: skip the holes.
		if q.w < q.r {
			clear(q.entries[q.w:q.r])
			q.head = q.r
		}
		q.w, q.r = q.head, q.head
	}
	// Reuse the array once most of it is consumed; the copy is paid for
	// by the pops that preceded it.
	if q.head >= 1024 && q.head*2 >= len(q.entries) {
		n := copy(q.entries, q.entries[q.head:])
		clear(q.entries[n:])
		q.entries = q.entries[:n]
		q.w -= q.head
		q.r -= q.head
		q.head = 0
	}
}

// cumAt returns the cum of the last live entry at or below ts (done if
// none). The live entries are entries[head:w] then entries[r:], each
// sorted, the first all at or below the second.
func (q *reclaimQueue) cumAt(ts uint64) int64 {
	for _, seg := range [2][]reclaimEntry{q.entries[q.r:], q.entries[q.head:q.w]} {
		if i := sort.Search(len(seg), func(i int) bool { return seg[i].ts > ts }); i > 0 {
			return seg[i-1].cum
		}
	}
	return q.done
}

// compactReclaim starts a compaction when the queue has outgrown what
// memory holds, and examines up to n entries of one under way, keeping
// those whose version memory still holds. It updates the queue's share
// of Bytes. Called with ix.mu held for writing, after every push (n =
// compactPerPush), spill and prune.
func (ix *Index) compactReclaim(n int) {
	q := &ix.reclaim
	if !q.compacting && int64(q.live()) > 2*ix.versions.Load()+compactSlack {
		q.compacting = true
		q.w, q.r = q.head, q.head
	}
	if !q.compacting {
		ix.queueBytes.Store(int64(q.live()) * reclaimEntryCost)
		return
	}
	for ; n > 0 && q.r < len(q.entries); n-- {
		e := q.entries[q.r]
		q.r++
		if ix.holds(e.key, e.ts) {
			q.entries[q.w] = e
			q.w++
		}
	}
	if q.r < len(q.entries) {
		ix.queueBytes.Store(int64(q.live()) * reclaimEntryCost)
		return
	}
	// Done: the holes are the array's tail. Give the array back when it
	// is mostly empty, so the heap shrinks with the queue.
	q.compacting = false
	clear(q.entries[q.w:])
	q.entries = q.entries[:q.w]
	if live := q.entries[q.head:]; cap(q.entries) > 4*len(live)+compactSlack {
		q.entries = append(make([]reclaimEntry, 0, 2*len(live)), live...)
		q.head = 0
	}
	q.w, q.r = len(q.entries), len(q.entries)
	ix.queueBytes.Store(int64(q.live()) * reclaimEntryCost)
}

// holds reports whether the index holds a version of key at ts. Called
// with ix.mu held.
func (ix *Index) holds(key []byte, ts uint64) bool {
	e, found := ix.lookup(key)
	if !found {
		return false
	}
	if e.c == nil {
		return e.top.TS == ts
	}
	vs := e.c.versions
	i := sort.Search(len(vs), func(i int) bool { return vs[i].TS >= ts })
	return i < len(vs) && vs[i].TS == ts
}
