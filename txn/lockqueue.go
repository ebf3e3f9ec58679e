package txn

import "slices"

// The queues of the lock table: granting, queuing, and what each waiter
// waits for. Everything here is called with LockTable.mu held.

// request grants r, queues it, or refuses it when queuing would close a
// cycle of waiters (r's owner is then the victim).
// The request is passed by value and copied to the heap only when it
// queues: most are granted at once.
func (lt *LockTable) request(req request) (*LockWait, error) {
	if lt.covered(&req) {
		return nil, nil
	}
	lt.seq++
	req.seq = lt.seq
	if !req.isRange {
		req.entry = lt.entry(req.key)
		lt.markUpgrade(&req)
	}
	if !lt.blocked(&req) {
		lt.grant(&req)
		if lt.waits[req.owner] != nil {
			lt.breakCycles(lt.ownerQueued(req.owner, nil))
		}
		return nil, nil
	}
	r := new(request)
	*r = req
	lt.enqueue(r)
	// The new edges all leave r's owner or (an upgrade jumping waiters)
	// enter it, so every cycle they close passes through r's owner and a
	// walk from it finds it.
	victim := func(o uint64) *request {
		if o == r.owner {
			return r
		}
		return nil
	}
	if cyc := lt.findCycle([]*request{r}, victim); cyc != nil {
		cyc.victim = nil
		lt.deadlocks.Add(1)
		var a affected
		lt.unqueue(r, &a)
		lt.regrant(&a)
		lt.breakCycles(a.busy)
		lt.tidy(&a)
		return nil, cyc
	}
	return &LockWait{lt: lt, r: r}, nil
}

// covered reports whether what r's owner holds already grants r: the same
// or a stronger lock on the key, a range over the key for a shared
// request, a range holding the requested one.
func (lt *LockTable) covered(r *request) bool {
	if r.isRange {
		for _, rl := range lt.ranges {
			if rl.owner == r.owner && contains(rl, r.start, r.end) {
				return true
			}
		}
		return false
	}
	if e := lt.keys[r.key]; e != nil {
		for _, h := range e.holders {
			if h.owner == r.owner && covers(h.mode, r.mode) {
				return true
			}
		}
	}
	if r.mode == Shared {
		for _, rl := range lt.ranges {
			if rl.owner == r.owner && inRange(r.key, rl.start, rl.end) {
				return true
			}
		}
	}
	return false
}

// markUpgrade makes r an upgrade when its owner holds a weaker lock
// covering its key: a key lock (r then asks for Exclusive, which covers
// both) or a range.
func (lt *LockTable) markUpgrade(r *request) {
	for _, h := range r.entry.holders {
		if h.owner == r.owner {
			r.upgrade, r.mode = true, Exclusive
			return
		}
	}
	for _, rl := range lt.ranges {
		if rl.owner == r.owner && inRange(r.key, rl.start, rl.end) {
			r.upgrade = true
			return
		}
	}
}

func contains(rl rangeLock, start, end []byte) bool {
	startOK := rl.start == nil || (start != nil && string(start) >= string(rl.start))
	endOK := rl.end == nil || (end != nil && string(end) <= string(rl.end))
	return startOK && endOK
}

func inRange(k string, start, end []byte) bool {
	return (start == nil || k >= string(start)) && (end == nil || k < string(end))
}

// entry returns key's entry, made if needed.
func (lt *LockTable) entry(key string) *lockEntry {
	e := lt.keys[key]
	if e == nil {
		if n := len(lt.free); n > 0 {
			e, lt.free = lt.free[n-1], lt.free[:n-1]
		} else {
			e = &lockEntry{}
		}
		e.key = key
		lt.keys[key] = e
	}
	return e
}

// blocked reports whether r must wait: it conflicts with a lock another
// owner holds or with a request queued ahead of it.
func (lt *LockTable) blocked(r *request) bool {
	stop := func(uint64) bool { return true }
	return lt.eachHolder(r, stop) || lt.eachAhead(r, stop)
}

// eachHolder calls fn with the owner of each granted lock of another
// owner that r conflicts with, until fn returns true; it reports whether
// fn did.
func (lt *LockTable) eachHolder(r *request, fn func(owner uint64) bool) bool {
	if r.isRange {
		for k, e := range lt.keys {
			if !inRange(k, r.start, r.end) {
				continue
			}
			for _, h := range e.holders {
				if h.owner != r.owner && h.mode != Shared && fn(h.owner) {
					return true
				}
			}
		}
		return false
	}
	for _, h := range r.entry.holders {
		if h.owner != r.owner && !compatible(h.mode, r.mode) && fn(h.owner) {
			return true
		}
	}
	if r.mode != Shared {
		for _, rl := range lt.ranges {
			if rl.owner != r.owner && inRange(r.key, rl.start, rl.end) && fn(rl.owner) {
				return true
			}
		}
	}
	return false
}

// eachAhead calls fn with the owner of each queued request ahead of r
// that r conflicts with (none for an upgrade), like eachHolder. Ahead:
// an upgrade, or a request that came first. A request not yet queued has
// every queued request of its key ahead of it.
func (lt *LockTable) eachAhead(r *request, fn func(owner uint64) bool) bool {
	if r.isRange {
		for k, e := range lt.keys {
			if e.head == nil || !inRange(k, r.start, r.end) {
				continue
			}
			for q := e.head; q != nil; q = q.next {
				if !q.upgrade && q.seq > r.seq {
					break // the rest came later
				}
				if q.owner != r.owner && q.mode != Shared && fn(q.owner) {
					return true
				}
			}
		}
		return false
	}
	if r.upgrade {
		return false
	}
	for q := r.entry.head; q != nil && q != r; q = q.next {
		if q.owner != r.owner && !compatible(q.mode, r.mode) && fn(q.owner) {
			return true
		}
	}
	if r.mode != Shared {
		for _, q := range lt.rangeQueue {
			if q.seq < r.seq && q.owner != r.owner && inRange(r.key, q.start, q.end) && fn(q.owner) {
				return true
			}
		}
	}
	return false
}

// waitsFor returns the owners r waits for, its edges in the wait-for
// graph: the holders it conflicts with, or when there are none the
// owners of the conflicting requests ahead of it.
func (lt *LockTable) waitsFor(r *request) []uint64 {
	var out []uint64
	add := func(o uint64) bool {
		for _, x := range out {
			if x == o {
				return false
			}
		}
		out = append(out, o)
		return false
	}
	lt.eachHolder(r, add)
	if len(out) == 0 {
		lt.eachAhead(r, add)
	}
	return out
}

// ownerWaitsFor returns owner's edges: those of each of its queued
// requests (one, unless goroutines of its transaction wait side by side).
func (lt *LockTable) ownerWaitsFor(owner uint64) []uint64 {
	r := lt.waits[owner]
	if r == nil {
		return nil
	}
	out := lt.waitsFor(r)
	for q := r.sib; q != nil; q = q.sib {
		for _, o := range lt.waitsFor(q) {
			if !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
	}
	return out
}

// holderFree reports whether no granted lock keeps a request for e's key
// in mode m waiting, for a requester that holds nothing over the key (as
// every waiter but an upgrade).
func (lt *LockTable) holderFree(e *lockEntry, m LockMode) bool {
	for _, h := range e.holders {
		if !compatible(h.mode, m) {
			return false
		}
	}
	if m != Shared {
		for _, rl := range lt.ranges {
			if inRange(e.key, rl.start, rl.end) {
				return false
			}
		}
	}
	return true
}

// grant records r as held.
func (lt *LockTable) grant(r *request) {
	r.granted = true
	hl := lt.held(r.owner)
	if r.isRange {
		lt.ranges = append(lt.ranges, rangeLock{owner: r.owner, start: r.start, end: r.end})
		hl.ranges++
		return
	}
	e := r.entry
	for i, h := range e.holders {
		if h.owner == r.owner {
			e.holders[i].mode = r.mode // an upgrade
			return
		}
	}
	e.holders = append(e.holders, holding{owner: r.owner, mode: r.mode})
	hl.keys = append(hl.keys, r.key)
}

// held returns owner's record, made if needed.
func (lt *LockTable) held(owner uint64) *heldLocks {
	hl := lt.owners[owner]
	if hl == nil {
		hl = &heldLocks{}
		lt.owners[owner] = hl
	}
	return hl
}

// enqueue parks r: an upgrade at the head of its key's queue, any other
// key request at the tail, a range request in the range queue.
func (lt *LockTable) enqueue(r *request) {
	r.ready = make(chan struct{})
	if r.isRange {
		lt.rangeQueue = append(lt.rangeQueue, r)
	} else {
		e := r.entry
		if r.upgrade {
			r.next = e.head
			if e.head != nil {
				e.head.prev = r
			} else {
				e.tail = r
			}
			e.head = r
		} else {
			r.prev = e.tail
			if e.tail != nil {
				e.tail.next = r
			} else {
				e.head = r
			}
			e.tail = r
			e.modes[r.mode]++
		}
	}
	r.sib = lt.waits[r.owner]
	lt.waits[r.owner] = r
	r.queued = true
	lt.waiting.Add(1)
}

// dequeue takes r out of its queue.
func (lt *LockTable) dequeue(r *request) {
	if r.isRange {
		for i, q := range lt.rangeQueue {
			if q == r {
				lt.rangeQueue = slices.Delete(lt.rangeQueue, i, i+1)
				break
			}
		}
	} else {
		e := r.entry
		if r.prev != nil {
			r.prev.next = r.next
		} else {
			e.head = r.next
		}
		if r.next != nil {
			r.next.prev = r.prev
		} else {
			e.tail = r.prev
		}
		r.prev, r.next = nil, nil
		if !r.upgrade {
			e.modes[r.mode]--
		}
	}
	// An owner waits for one request at a time, unless several goroutines
	// of its transaction wait at once: its list is short.
	if head := lt.waits[r.owner]; head == r {
		if r.sib != nil {
			lt.waits[r.owner] = r.sib
		} else {
			delete(lt.waits, r.owner)
		}
	} else {
		for q := head; q != nil; q = q.sib {
			if q.sib == r {
				q.sib = r.sib
				break
			}
		}
	}
	r.sib, r.queued = nil, false
	lt.waiting.Add(-1)
}

// affected collects what a release or a removed request may have
// unblocked: key entries, and spans whose keys' entries are.
type affected struct {
	entries []*lockEntry
	spans   []rangeLock
	// busy lists the queued requests of owners that regrant granted a
	// lock while they wait for another (goroutines of one transaction
	// waiting side by side): the grant added edges into a waiting owner.
	busy []*request
}

// ownerQueued appends owner's queued requests to out.
func (lt *LockTable) ownerQueued(owner uint64, out []*request) []*request {
	for q := lt.waits[owner]; q != nil; q = q.sib {
		out = append(out, q)
	}
	return out
}

// unqueue takes a request that did not get its lock out of its queue and
// notes what its leaving may unblock.
func (lt *LockTable) unqueue(r *request, a *affected) {
	lt.dequeue(r)
	if r.isRange {
		a.spans = append(a.spans, rangeLock{start: r.start, end: r.end})
	} else {
		a.entries = append(a.entries, r.entry)
	}
}

// removeRanges drops owner's granted ranges, noting them in a.
func (lt *LockTable) removeRanges(owner uint64, a *affected) []rangeLock {
	out := lt.ranges[:0]
	for _, rl := range lt.ranges {
		if rl.owner != owner {
			out = append(out, rl)
		} else {
			a.spans = append(a.spans, rl)
		}
	}
	clear(lt.ranges[len(out):])
	return out
}

// regrant grants, in queue order, every request that the changes noted in
// a have unblocked. Granting never unblocks anything, so one walk of the
// affected queues suffices; a key's walk stops at the first request still
// blocked that is not an upgrade (every later request of the key either
// conflicts with a blocked one ahead of it or asks the same mode and so is
// blocked by the same locks; upgrades, at the head, are blocked only by
// holders, differently for each). The
// range queue is short and walked whole. a's spans become entries.
func (lt *LockTable) regrant(a *affected) {
	for _, s := range a.spans {
		for k, e := range lt.keys {
			if e.head != nil && inRange(k, s.start, s.end) {
				a.entries = append(a.entries, e)
			}
		}
	}
	a.spans = a.spans[:0]
	for _, e := range a.entries {
		for q := e.head; q != nil; {
			next := q.next
			if lt.blocked(q) {
				if q.upgrade {
					// Upgrades of different owners at the head block
					// each other only through what they hold: look on.
					q = next
					continue
				}
				break
			}
			lt.dequeue(q)
			lt.grant(q)
			close(q.ready)
			a.busy = lt.ownerQueued(q.owner, a.busy)
			q = next
		}
	}
	for i := 0; i < len(lt.rangeQueue); {
		q := lt.rangeQueue[i]
		if lt.blocked(q) {
			i++
			continue
		}
		lt.dequeue(q)
		lt.grant(q)
		close(q.ready)
		a.busy = lt.ownerQueued(q.owner, a.busy)
	}
}

// switched returns the waiters of a's entries and of the range queue
// that no granted lock blocks: after a release, those may have moved
// their edges from the holders they waited for onto the requests ahead
// of them, which may close a cycle. On a key, waiters that are not
// upgrades are blocked by holders according to their mode alone, so the
// queue is walked only for a mode that no holder blocks.
func (lt *LockTable) switched(a *affected) []*request {
	var out []*request
	var seen map[*lockEntry]bool // for many queues; a few are compared
	queued := 0
	for _, e := range a.entries {
		if e.head != nil {
			queued++
		}
	}
	if queued > 8 {
		seen = make(map[*lockEntry]bool, queued)
	}
	for i, e := range a.entries {
		if e.head == nil {
			continue
		}
		if seen != nil {
			if seen[e] {
				continue
			}
			seen[e] = true
		} else if queued > 1 && slices.Contains(a.entries[:i], e) {
			continue
		}
		var want [Exclusive + 1]bool
		walk := false
		for m := Shared; m <= Exclusive; m++ {
			if e.modes[m] > 0 && lt.holderFree(e, m) {
				want[m], walk = true, true
			}
		}
		for q := e.head; q != nil; q = q.next {
			if q.upgrade {
				if !lt.eachHolder(q, func(uint64) bool { return true }) {
					out = append(out, q)
				}
				continue
			}
			if !walk {
				break
			}
			if want[q.mode] {
				out = append(out, q)
			}
		}
	}
	for _, q := range lt.rangeQueue {
		if !lt.eachHolder(q, func(uint64) bool { return true }) {
			out = append(out, q)
		}
	}
	return out
}

// tidy drops the entries of a that hold and queue nothing.
func (lt *LockTable) tidy(a *affected) {
	for _, e := range a.entries {
		if len(e.holders) > 0 || e.head != nil || lt.keys[e.key] != e {
			continue
		}
		delete(lt.keys, e.key)
		if len(lt.free) < 1024 {
			e.key = ""
			e.holders = e.holders[:0]
			lt.free = append(lt.free, e)
		}
	}
}
