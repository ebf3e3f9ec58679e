package txn

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// LockMode is what a lock lets its holder do, and so whom it keeps out.
//
//	          Shared  Intent  Exclusive   (held by another owner)
//	Shared    yes     no      no
//	Intent    no      yes     no
//	Exclusive no      no      no
//
// A range lock is always Shared and conflicts with Intent and Exclusive
// locks on the keys inside it.
type LockMode uint8

const (
	// Shared: a locking transaction read the key (or scanned a range
	// holding it); nobody may write it until the reader ends.
	Shared LockMode = iota + 1
	// Intent: a plain writer is committing the key. Plain writers do not
	// exclude each other (first-committer-wins or last-committer-wins
	// decides between them), but they wait for readers' and lockers' locks
	// and keep new ones out until their commit is published.
	Intent
	// Exclusive: GetForUpdate, or a locking transaction's write.
	Exclusive
)

func (m LockMode) String() string {
	switch m {
	case Shared:
		return "shared"
	case Intent:
		return "intent"
	case Exclusive:
		return "exclusive"
	}
	return "invalid"
}

func compatible(a, b LockMode) bool { return a == b && a != Exclusive }

// covers reports whether holding mode h already grants a request for r.
func covers(h, r LockMode) bool { return h == r || h == Exclusive }

// LockTable holds key locks (Shared, Intent, Exclusive) and shared
// key-range locks until their owner ends and calls ReleaseAll. It is the
// lock manager of two-phase locking and of GetForUpdate, and every writer
// passes through it at commit.
//
// # Queues
//
// Every locked key has its own entry: the owners holding it and a FIFO
// queue of the requests waiting for it. Waiting range requests form one
// more queue. Requests are numbered as they arrive, and a request waits
// for the granted locks of other owners it conflicts with and for the
// earlier waiting requests it conflicts with (on its key, or a range
// request over it), so a stream of readers cannot starve a writer: once
// the writer waits, later readers of its key queue behind it. When locks
// are released only the queues they concern are walked, from their head,
// and every request that has become grantable is granted and woken (no
// thundering herd); a key's walk stops at its first request still
// blocked, since every request behind it is blocked too. So queuing and
// granting cost does not grow with the number of waiters: 4,000 waiters
// on one key are queued and drained in linear time, and a request for
// another key meets none of them. A range request is the exception that
// looks at every locked key (to find those inside it); ranges are taken
// by locking scans only.
//
// An upgrade (an owner that holds a weaker lock covering the key, a key
// lock or a range, asks for more) goes to the head of the key's queue and
// waits only for the other holders: queuing it behind a request that
// waits for the upgrader would be a certain deadlock. A request that what
// its owner holds already grants (the same or a stronger key lock, a
// shared read inside a held range, a range inside a held range) is
// granted at once, whatever waits: it changes nothing.
//
// # Deadlocks
//
// The wait-for graph has an edge from each waiting owner to the owners
// it waits for: the holders of conflicting locks when there are any,
// otherwise the owners of the conflicting requests queued ahead of it.
// (A waiter blocked by a holder waits for that holder's end whatever
// else is queued; only once the holders are gone does the queue order
// become what it waits for. This is the graph in which a cycle is a
// certain deadlock.) The table keeps that graph acyclic: it looks for a
// cycle each time edges appear, which is when
//
//   - a request parks: its own edges, and, for an upgrade jumping the
//     queue, the edges of the waiters it jumps;
//   - locks are released (a transaction ends) and a waiter loses its
//     last conflicting holder, so that its edges move onto the requests
//     queued ahead of it, a lock handed on to a waiter that then waits
//     for another included.
//
// Nothing else adds edges: a lock granted to an owner that is not waiting
// cannot close a cycle, and a waiter granted its request stops waiting.
// (An owner may wait in several goroutines at once; a lock granted to it
// while another of its requests waits adds edges into a waiting owner,
// and is checked from that request, the victim if the grant closed a
// cycle.)
// Detection runs at once on those edges (not in a periodic background
// detector): a walk from the owners whose edges changed, computing each
// visited waiter's edges from the queues, and only waiters can be walked
// through, so on a hot key a new waiter's walk ends at the holder it
// waits for. The cost is paid by the waits that add edges; a deadlock is
// reported when it forms, never after a timeout, and a model test can
// check the table after every step.
//
// The victim is the owner whose wait closed the cycle: the requester,
// whose Lock fails at once with ErrDeadlock and leaves nothing queued, or,
// when a release closes it, the waiter whose edges moved, whose Wait
// fails with ErrDeadlock. Either way the victim is the one that found
// the cycle and holds it open by waiting now; its locks stay held until
// its owner ends and calls ReleaseAll, which lets the rest of the cycle
// go on. The error is a *DeadlockError naming the cycle.
//
// # The fast path
//
// Most commits meet no lock at all, and registering their intents would
// cost every commit two holds of the table's mutex. So while no owner
// holds or waits for a Shared, Exclusive or range lock (strong is 0), a
// plain committer registers nothing: LockIntents takes gate for reading
// and keeps it until its commit is published (EndIntents). The first
// owner to ask for a strong lock raises strong and then drains the gate
// (takes it for writing once), which waits for every such commit in
// flight; commits that begin after that see strong > 0 and register
// their intents in the table as usual. strong falls back to 0 when the
// last strong owner ends.
//
// # One mutex
//
// The queues share one mutex, so that a deadlock walk sees every edge at
// once: a table partitioned by key hash would have to lock partitions in
// turn during a walk, or leave detection to a background pass. Every
// operation under the mutex costs what its own key (or range) needs, not
// what other keys' queues hold, so an unrelated key waits at most for
// one short critical section. Waiting never holds the mutex: Lock and
// LockRange only queue the request and return a *LockWait, which the
// caller waits on after releasing its own locks, so that a Rollback from
// another goroutine (which ends in ReleaseAll, failing the queued
// request) is never blocked by the wait.
type LockTable struct {
	// gate is held for reading by fast-path commits (see above), for
	// writing only to drain them; never while mu is held.
	gate    sync.RWMutex
	drainMu sync.Mutex   // serializes strong's rises from 0 with their drains
	strong  atomic.Int64 // owners holding or waiting for non-intent locks

	deadlocks atomic.Uint64 // cycles broken since NewLockTable
	waiting   atomic.Int64  // queued requests

	mu         sync.Mutex
	keys       map[string]*lockEntry // locked or waited-for keys; guarded by mu
	ranges     []rangeLock           // granted range locks; guarded by mu
	rangeQueue []*request            // waiting range requests, oldest first; guarded by mu
	waits      map[uint64]*request   // owner -> its queued requests (linked by sib); guarded by mu
	owners     map[uint64]*heldLocks // owner -> what it holds; guarded by mu
	free       []*lockEntry          // recycled entries; guarded by mu
	scratch    []*lockEntry          // ReleaseAll's affected entries, reused; guarded by mu
	seq        uint64                // numbers requests in arrival order; guarded by mu
}

// lockEntry is one key's locks: who holds it and who waits for it.
type lockEntry struct {
	key     string
	holders []holding
	// head and tail delimit the queue of waiting requests (linked through
	// request.prev/next): an upgrade first, then the others in arrival
	// order.
	head, tail *request
	// modes counts the queued requests that are not upgrades, by mode.
	modes [Exclusive + 1]int
}

type holding struct {
	owner uint64
	mode  LockMode
}

type rangeLock struct {
	owner      uint64
	start, end []byte // [start, end); nil: unbounded
}

type heldLocks struct {
	keys   []string
	ranges int
	strong bool // counted in LockTable.strong
}

type request struct {
	owner      uint64
	seq        uint64 // arrival order
	key        string
	entry      *lockEntry // the key's entry (key requests)
	isRange    bool
	start, end []byte
	mode       LockMode
	upgrade    bool
	prev, next *request // the key's queue
	sib        *request // the owner's next queued request
	queued     bool
	ready      chan struct{} // closed when granted or failed
	err        error         // set before ready closes when the request failed
	granted    bool
}

// ErrDeadlock: waiting for the lock would close a cycle of waiters. It is
// also mvcc.ErrDeadlock (the same value). The table's errors for it are
// *DeadlockError, which matches it.
var ErrDeadlock = errors.New("mvkv: deadlock")

// ErrLockReleased: the owner's locks were released (its transaction
// ended, e.g. by a Rollback from another goroutine) while it waited.
var ErrLockReleased = errors.New("lock wait ended: the transaction ended")

var errClosedWait = errors.New("lock wait ended by close")

// IsClosedWait reports whether err is a wait's error for a closed done
// channel.
func IsClosedWait(err error) bool { return err == errClosedWait }

// NewLockTable returns an empty lock table.
func NewLockTable() *LockTable {
	return &LockTable{
		keys:   make(map[string]*lockEntry),
		waits:  make(map[uint64]*request),
		owners: make(map[uint64]*heldLocks),
	}
}

// LockWait is a queued request; Wait blocks until it is granted or fails.
type LockWait struct {
	lt *LockTable
	r  *request
}

// Lock asks for key in mode for owner (never 0). It returns (nil, nil)
// when the lock is granted at once (or owner already holds it in that mode
// or a stronger one, or holds a range over it and asks to read), a
// *DeadlockError (matching ErrDeadlock) when waiting would close a cycle,
// and otherwise a queued request to Wait on.
func (lt *LockTable) Lock(owner uint64, key []byte, mode LockMode) (*LockWait, error) {
	if mode != Intent {
		lt.markStrong(owner)
	}
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.request(request{owner: owner, key: string(key), mode: mode})
}

// LockRange asks for a shared lock on [start, end) (nil: unbounded) for
// owner, with Lock's results: writers of keys inside it wait until owner
// ends, and owner waits for those already writing there.
func (lt *LockTable) LockRange(owner uint64, start, end []byte) (*LockWait, error) {
	lt.markStrong(owner)
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.request(request{owner: owner, isRange: true, start: bytes.Clone(start), end: bytes.Clone(end), mode: Shared})
}

// markStrong counts owner among the strong owners, once, and drains the
// fast-path commits in flight if it is the first. Calls for one owner
// must not race with its ReleaseAll (the transaction's mutex orders them).
func (lt *LockTable) markStrong(owner uint64) {
	lt.mu.Lock()
	hl := lt.held(owner)
	if hl.strong {
		lt.mu.Unlock()
		return
	}
	hl.strong = true
	lt.mu.Unlock()
	lt.drainMu.Lock()
	if lt.strong.Add(1) == 1 {
		lt.gate.Lock()
		lt.gate.Unlock() //nolint:staticcheck // an empty critical section: the drain
	}
	lt.drainMu.Unlock()
}

// LockIntents is a plain committer's LockAll(keys, Intent). While no
// strong lock exists it registers nothing and returns fast = true: the
// caller must then call EndIntents once its commit is published (and
// before anything else of the lock table). Otherwise it is LockAll.
func (lt *LockTable) LockIntents(ctx context.Context, closing <-chan struct{}, owner uint64, keys [][]byte) (fast bool, err error) {
	lt.gate.RLock()
	if lt.strong.Load() == 0 {
		return true, nil
	}
	lt.gate.RUnlock()
	return false, lt.LockAll(ctx, closing, owner, keys, Intent)
}

// EndIntents ends a fast LockIntents.
func (lt *LockTable) EndIntents() { lt.gate.RUnlock() }

// LockAll takes key locks in mode on keys, in the given order, waiting
// for each as needed with Wait's rules. The keys that were free are taken
// under one hold of the table's mutex.
func (lt *LockTable) LockAll(ctx context.Context, closing <-chan struct{}, owner uint64, keys [][]byte, mode LockMode) error {
	for len(keys) > 0 {
		lt.mu.Lock()
		var w *LockWait
		var err error
		for len(keys) > 0 && w == nil && err == nil {
			w, err = lt.request(request{owner: owner, key: string(keys[0]), mode: mode})
			keys = keys[1:]
		}
		lt.mu.Unlock()
		if err == nil && w != nil {
			err = w.Wait(ctx, closing)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Wait blocks until the request is granted (nil), the owner's locks are
// released (ErrLockReleased), the request is chosen as a deadlock's
// victim (a *DeadlockError), ctx ends (its error) or closing is closed
// (IsClosedWait). A request that fails leaves the queue; one granted at
// the same moment stays held until ReleaseAll.
func (w *LockWait) Wait(ctx context.Context, closing <-chan struct{}) error {
	r := w.r
	var err error
	select {
	case <-r.ready:
		return r.err
	case <-ctx.Done():
		err = ctx.Err()
	case <-closing:
		err = errClosedWait
	}
	lt := w.lt
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if r.granted || r.err != nil {
		return r.err
	}
	var a affected
	lt.unqueue(r, &a)
	lt.regrant(&a)
	lt.breakCycles(a.busy)
	lt.tidy(&a)
	return err
}

// ReleaseAll releases every lock owner holds, fails its queued request if
// it has one (its waiter gets ErrLockReleased), grants what that
// unblocks, and breaks any cycle the release lets form (see LockTable).
func (lt *LockTable) ReleaseAll(owner uint64) {
	if owner == 0 {
		return
	}
	lt.mu.Lock()
	defer lt.mu.Unlock()
	a := affected{entries: lt.scratch[:0]}
	defer func() { clear(a.entries); lt.scratch = a.entries[:0] }()
	for r := lt.waits[owner]; r != nil; r = lt.waits[owner] {
		lt.unqueue(r, &a)
		r.err = ErrLockReleased
		close(r.ready)
	}
	hl := lt.owners[owner]
	if hl != nil {
		delete(lt.owners, owner)
		if hl.strong {
			lt.strong.Add(-1)
		}
		for _, k := range hl.keys {
			e := lt.keys[k]
			if e == nil {
				continue
			}
			for i, h := range e.holders {
				if h.owner == owner {
					e.holders = append(e.holders[:i], e.holders[i+1:]...)
					break
				}
			}
			a.entries = append(a.entries, e)
		}
		if hl.ranges > 0 {
			lt.ranges = lt.removeRanges(owner, &a)
		}
	}
	lt.regrant(&a)
	lt.breakCycles(append(lt.switched(&a), a.busy...))
	lt.tidy(&a)
}

// Held returns the number of locks held, key and range locks together,
// counting each holder of a key (for stats and tests): GetForUpdate
// locks, a locking transaction's read, write and range locks, and the
// intents of plain commits registered while strong locks exist.
func (lt *LockTable) Held() int {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	n := len(lt.ranges)
	for _, e := range lt.keys {
		n += len(e.holders)
	}
	return n
}

// Waiting returns the number of queued requests: owners waiting for a
// lock now (for stats and tests).
func (lt *LockTable) Waiting() int { return int(lt.waiting.Load()) }

// Deadlocks returns the number of deadlocks found (and broken, each by
// one victim) since the table was made.
func (lt *LockTable) Deadlocks() uint64 { return lt.deadlocks.Load() }
