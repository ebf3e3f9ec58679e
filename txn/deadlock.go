package txn

import (
	"strconv"
	"strings"
)

// DeadlockError is the error of the victim of a deadlock: the cycle of
// waiters its wait closed, the victim first. It matches ErrDeadlock.
type DeadlockError struct {
	// Cycle lists the waiters of the cycle: each waits for the next,
	// the last for the first, which is the victim.
	Cycle []Waiter

	victim *request
}

// Waiter is one owner of a cycle of waiters and the lock it waits for.
type Waiter struct {
	Owner uint64
	// Mode is the mode asked for (Shared for a range).
	Mode LockMode
	// Key is the key waited for; nil for a range.
	Key []byte
	// Range reports a range lock on [Start, End) (nil: unbounded).
	Range      bool
	Start, End []byte
}

// Error names the cycle: each transaction (lock owner), the lock it waits
// for, and whom it waits for.
func (e *DeadlockError) Error() string {
	var b strings.Builder
	b.WriteString(ErrDeadlock.Error())
	b.WriteString(": ")
	b.WriteString(e.Describe())
	return b.String()
}

// Describe is the cycle in words, without the error's prefix:
// "txn 7 (exclusive lock on key "a") waits for txn 9 (...), which waits
// for txn 7".
func (e *DeadlockError) Describe() string {
	var b strings.Builder
	for i, w := range e.Cycle {
		switch {
		case i == 1:
			b.WriteString(" waits for ")
		case i > 1:
			b.WriteString(", which waits for ")
		}
		b.WriteString("txn ")
		b.WriteString(strconv.FormatUint(w.Owner, 10))
		b.WriteString(" (")
		b.WriteString(w.lock())
		b.WriteString(")")
	}
	switch len(e.Cycle) {
	case 0:
	case 1:
		b.WriteString(" waits for itself")
	default:
		b.WriteString(", which waits for txn ")
		b.WriteString(strconv.FormatUint(e.Cycle[0].Owner, 10))
	}
	return b.String()
}

func (w Waiter) lock() string {
	if w.Range {
		return "range lock on [" + quoteBound(w.Start, "-inf") + ", " + quoteBound(w.End, "+inf") + ")"
	}
	return w.Mode.String() + " lock on key " + quote(w.Key)
}

func quoteBound(k []byte, none string) string {
	if k == nil {
		return none
	}
	return quote(k)
}

func quote(k []byte) string {
	if len(k) > 64 {
		return strconv.Quote(string(k[:64])) + "..."
	}
	return strconv.Quote(string(k))
}

// Is reports whether target is ErrDeadlock.
func (e *DeadlockError) Is(target error) bool { return target == ErrDeadlock }

// findCycle walks the wait-for graph from the owners of srcs (queued
// requests) and returns the first cycle found, rotated so that its first
// waiter is the victim: the request victim returns for the first of the
// cycle's owners it returns one for. Each visited waiter's
// edges are computed from the queues as the walk reaches it (waitsFor);
// owners that wait for nothing end the walk. One colouring serves every
// source, so the walk is linear in what it visits.
func (lt *LockTable) findCycle(srcs []*request, victim func(owner uint64) *request) *DeadlockError {
	type frame struct {
		owner uint64
		edges []uint64
		next  int
	}
	const (
		onPath = 1 // on the walk's current path
		done   = 2 // explored: no cycle through it
	)
	color := make(map[uint64]uint8)
	var path []frame
	for _, s := range srcs {
		if color[s.owner] != 0 || !s.queued {
			continue
		}
		color[s.owner] = onPath
		path = append(path[:0], frame{owner: s.owner, edges: lt.ownerWaitsFor(s.owner)})
		for len(path) > 0 {
			f := &path[len(path)-1]
			if f.next == len(f.edges) {
				color[f.owner] = done
				path = path[:len(path)-1]
				continue
			}
			o := f.edges[f.next]
			f.next++
			switch color[o] {
			case onPath:
				i := len(path) - 1
				for path[i].owner != o {
					i--
				}
				owners := make([]uint64, 0, len(path)-i)
				for _, p := range path[i:] {
					owners = append(owners, p.owner)
				}
				return lt.cycleError(owners, victim)
			case done:
				continue
			}
			if lt.waits[o] == nil {
				color[o] = done
				continue
			}
			color[o] = onPath
			path = append(path, frame{owner: o, edges: lt.ownerWaitsFor(o)})
		}
	}
	return nil
}

// cycleError describes the cycle of owners (each waiting for the next),
// starting from the victim's request, the first the victim function
// returns (nil: the cycle's own order).
func (lt *LockTable) cycleError(owners []uint64, victim func(uint64) *request) *DeadlockError {
	first := 0
	var vr *request
	if victim != nil {
		for i, o := range owners {
			if vr = victim(o); vr != nil {
				first = i
				break
			}
		}
	}
	e := &DeadlockError{Cycle: make([]Waiter, 0, len(owners))}
	for i := range owners {
		o := owners[(first+i)%len(owners)]
		r := lt.waits[o]
		if i == 0 && vr != nil {
			r = vr
		}
		w := Waiter{Owner: o, Mode: r.mode, Range: r.isRange, Start: r.start, End: r.end}
		if !r.isRange {
			w.Key = []byte(r.key)
		}
		e.Cycle = append(e.Cycle, w)
	}
	e.victim = vr
	return e
}

// breakCycles finds the cycles that the waiters cands may close now
// (their edges moved, see switched) and breaks each by failing one of
// them, the victim: the first of cands on the cycle. A victim's queued
// request fails with the *DeadlockError and leaves the queue; what that
// unblocks is granted. Every cycle that can form passes through one of
// cands, since the graph had none before.
func (lt *LockTable) breakCycles(cands []*request) {
	isCand := func(o uint64) *request {
		for _, c := range cands {
			if c.owner == o && c.queued {
				return c
			}
		}
		return nil
	}
	for len(cands) > 0 {
		cyc := lt.findCycle(cands, isCand)
		if cyc == nil {
			return
		}
		lt.deadlocks.Add(1)
		r := cyc.victim
		if r == nil { // never: every new cycle passes through a candidate
			r = lt.waits[cyc.Cycle[0].Owner]
		}
		cyc.victim = nil
		var a affected
		lt.unqueue(r, &a)
		r.err = cyc
		close(r.ready)
		lt.regrant(&a)
		lt.tidy(&a)
		cands = append(cands, a.busy...)
		kept := cands[:0]
		for _, c := range cands {
			if c.queued {
				kept = append(kept, c)
			}
		}
		cands = kept
	}
}
