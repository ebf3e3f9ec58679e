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
// Queuing. A request that conflicts with a granted lock of another owner,
// or with an earlier waiting request of another owner that it would
// conflict with, joins one FIFO queue. So a stream of readers cannot starve
// a writer: once the writer waits, later readers of its key queue behind
// it. When locks are released the queue is walked in order and every
// request that has become grantable is granted and woken (no thundering
// herd). An upgrade (an owner that holds the key asks for a stronger mode)
// goes to the head of the queue and waits only for the other holders:
// queuing it behind a request that waits for the upgrader would be a
// certain deadlock.
//
// Deadlocks are found when they form. Before a request parks, the table
// follows the wait-for graph from it: the owners that block it (holders
// and earlier queued requests it conflicts with), the owners that block
// each of those that is itself waiting, and so on. If the walk comes back
// to the requester, parking would close a cycle: the request fails at
// once with ErrDeadlock and nothing of it stays queued (one victim, the
// transaction that closed the cycle). An owner waits for one request at a
// time, and edges appear only when an owner parks (checked then) or when a
// lock is granted to an owner that is not waiting, so every cycle is
// found by the request that closes it.
//
// The fast path. Most commits meet no lock at all, and registering their
// intents would cost every commit two holds of the table's mutex. So while
// no owner holds or waits for a Shared, Exclusive or range lock (strong
// is 0), a plain committer registers nothing: LockIntents takes gate for
// reading and keeps it until its commit is published (EndIntents). The
// first owner to ask for a strong lock raises strong and then drains the
// gate (takes it for writing once), which waits for every such commit in
// flight; commits that begin after that see strong > 0 and register
// their intents in the table as usual. strong falls back to 0 when the
// last strong owner ends.
//
// Waiting never holds the table's mutex: Lock and LockRange only queue
// the request and return a *LockWait, which the caller waits on after
// releasing its own locks, so that a Rollback from another goroutine
// (which ends in ReleaseAll, failing the queued request) is never blocked
// by the wait.
type LockTable struct {
	// gate is held for reading by fast-path commits (see above), for
	// writing only to drain them; never while mu is held.
	gate    sync.RWMutex
	drainMu sync.Mutex   // serializes strong's rises from 0 with their drains
	strong  atomic.Int64 // owners holding or waiting for non-intent locks

	mu     sync.Mutex
	keys   map[string]*keyLock   // granted key locks; guarded by mu
	ranges []rangeLock           // granted range locks; guarded by mu
	queue  []*request            // waiting requests, in grant order; guarded by mu
	waits  map[uint64]*request   // owner -> its queued request; guarded by mu
	owners map[uint64]*heldLocks // owner -> what it holds; guarded by mu
	free   []*keyLock            // recycled keyLocks; guarded by mu
}

type keyLock struct {
	holders []holding
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
	key        string
	isRange    bool
	start, end []byte
	mode       LockMode
	upgrade    bool
	ready      chan struct{} // closed when granted or failed
	err        error         // set before ready closes when the request failed
	granted    bool
}

// ErrDeadlock: waiting for the lock would close a cycle of waiters. It is
// also mvcc.ErrDeadlock (the same value).
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
		keys:   make(map[string]*keyLock),
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
// or a stronger one), ErrDeadlock when waiting would close a cycle, and
// otherwise a queued request to Wait on.
func (lt *LockTable) Lock(owner uint64, key []byte, mode LockMode) (*LockWait, error) {
	if mode != Intent {
		lt.markStrong(owner)
	}
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.request(&request{owner: owner, key: string(key), mode: mode})
}

// LockRange asks for a shared lock on [start, end) (nil: unbounded) for
// owner, with Lock's results: writers of keys inside it wait until owner
// ends, and owner waits for those already writing there.
func (lt *LockTable) LockRange(owner uint64, start, end []byte) (*LockWait, error) {
	lt.markStrong(owner)
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.request(&request{owner: owner, isRange: true, start: bytes.Clone(start), end: bytes.Clone(end), mode: Shared})
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
			w, err = lt.request(&request{owner: owner, key: string(keys[0]), mode: mode})
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

// request grants r or queues it. Called with mu held.
func (lt *LockTable) request(r *request) (*LockWait, error) {
	if !r.isRange {
		if kl := lt.keys[r.key]; kl != nil {
			for _, h := range kl.holders {
				if h.owner == r.owner {
					if covers(h.mode, r.mode) {
						return nil, nil
					}
					r.upgrade, r.mode = true, Exclusive
				}
			}
		}
	}
	if !lt.blocked(r, len(lt.queue)) {
		lt.grant(r)
		return nil, nil
	}
	if lt.cycle(r) {
		return nil, ErrDeadlock
	}
	r.ready = make(chan struct{})
	if r.upgrade {
		lt.queue = append([]*request{r}, lt.queue...)
	} else {
		lt.queue = append(lt.queue, r)
	}
	lt.waits[r.owner] = r
	return &LockWait{lt: lt, r: r}, nil
}

// Wait blocks until the request is granted (nil), the owner's locks are
// released (ErrLockReleased), ctx ends (its error) or closing is closed
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
	lt.dequeue(r)
	lt.grantWaiting()
	return err
}

// dequeue takes r out of the queue. Called with mu held.
func (lt *LockTable) dequeue(r *request) {
	for i, q := range lt.queue {
		if q == r {
			lt.queue = append(lt.queue[:i], lt.queue[i+1:]...)
			break
		}
	}
	if lt.waits[r.owner] == r {
		delete(lt.waits, r.owner)
	}
}

// blocked reports whether r conflicts with a granted lock of another
// owner or with one of the first n queued requests (those ahead of it).
func (lt *LockTable) blocked(r *request, n int) bool {
	return !lt.blockers(r, n, func(uint64) bool { return true })
}

// blockers calls fn with each owner that r waits for: other owners'
// granted locks it conflicts with, and the first n queued requests it
// conflicts with (none for an upgrade). It stops when fn returns true and
// then reports false. Called with mu held.
func (lt *LockTable) blockers(r *request, n int, fn func(owner uint64) bool) bool {
	if r.isRange {
		for k, kl := range lt.keys {
			if !inRange(k, r.start, r.end) {
				continue
			}
			for _, h := range kl.holders {
				if h.owner != r.owner && h.mode != Shared && fn(h.owner) {
					return false
				}
			}
		}
	} else {
		if kl := lt.keys[r.key]; kl != nil {
			for _, h := range kl.holders {
				if h.owner != r.owner && !compatible(h.mode, r.mode) && fn(h.owner) {
					return false
				}
			}
		}
		if r.mode != Shared {
			for _, rl := range lt.ranges {
				if rl.owner != r.owner && inRange(r.key, rl.start, rl.end) && fn(rl.owner) {
					return false
				}
			}
		}
	}
	if r.upgrade {
		return true
	}
	for _, q := range lt.queue[:n] {
		if q.owner != r.owner && conflicts(q, r) && fn(q.owner) {
			return false
		}
	}
	return true
}

// conflicts reports whether two requests of different owners exclude each
// other.
func conflicts(a, b *request) bool {
	switch {
	case a.isRange && b.isRange:
		return false // shared ranges
	case a.isRange:
		return b.mode != Shared && inRange(b.key, a.start, a.end)
	case b.isRange:
		return a.mode != Shared && inRange(a.key, b.start, b.end)
	}
	return a.key == b.key && !compatible(a.mode, b.mode)
}

func inRange(k string, start, end []byte) bool {
	return (start == nil || k >= string(start)) && (end == nil || k < string(end))
}

// cycle reports whether r, parking, would close a cycle of waiters: a
// walk of the wait-for graph from r's blockers reaches r's owner. Called
// with mu held.
func (lt *LockTable) cycle(r *request) bool {
	seen := map[uint64]bool{}
	stack := []uint64{}
	push := func(o uint64) bool {
		if !seen[o] {
			seen[o] = true
			stack = append(stack, o)
		}
		return false
	}
	lt.blockers(r, len(lt.queue), push)
	for len(stack) > 0 {
		o := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if o == r.owner {
			return true
		}
		q := lt.waits[o]
		if q == nil {
			continue
		}
		lt.blockers(q, lt.position(q), push)
	}
	return false
}

func (lt *LockTable) position(r *request) int {
	for i, q := range lt.queue {
		if q == r {
			return i
		}
	}
	return len(lt.queue)
}

// grant records r as held. Called with mu held.
func (lt *LockTable) grant(r *request) {
	r.granted = true
	hl := lt.held(r.owner)
	if r.isRange {
		lt.ranges = append(lt.ranges, rangeLock{owner: r.owner, start: r.start, end: r.end})
		hl.ranges++
		return
	}
	kl := lt.keys[r.key]
	if kl == nil {
		if n := len(lt.free); n > 0 {
			kl, lt.free = lt.free[n-1], lt.free[:n-1]
		} else {
			kl = &keyLock{}
		}
		lt.keys[r.key] = kl
	}
	for i, h := range kl.holders {
		if h.owner == r.owner {
			kl.holders[i].mode = r.mode // an upgrade
			return
		}
	}
	kl.holders = append(kl.holders, holding{owner: r.owner, mode: r.mode})
	hl.keys = append(hl.keys, r.key)
}

// held returns owner's record, created if needed. Called with mu held.
func (lt *LockTable) held(owner uint64) *heldLocks {
	hl := lt.owners[owner]
	if hl == nil {
		hl = &heldLocks{}
		lt.owners[owner] = hl
	}
	return hl
}

// grantWaiting walks the queue in order and grants (and wakes) every
// request that nothing blocks any more. Called with mu held.
func (lt *LockTable) grantWaiting() {
	for i := 0; i < len(lt.queue); {
		r := lt.queue[i]
		if lt.blocked(r, i) {
			i++
			continue
		}
		lt.queue = append(lt.queue[:i], lt.queue[i+1:]...)
		delete(lt.waits, r.owner)
		lt.grant(r)
		close(r.ready)
	}
}

// ReleaseAll releases every lock owner holds, fails its queued request if
// it has one (its waiter gets ErrLockReleased), and grants what that
// unblocks.
func (lt *LockTable) ReleaseAll(owner uint64) {
	if owner == 0 {
		return
	}
	lt.mu.Lock()
	defer lt.mu.Unlock()
	changed := false
	if r := lt.waits[owner]; r != nil {
		lt.dequeue(r)
		r.err = ErrLockReleased
		close(r.ready)
		changed = true
	}
	hl := lt.owners[owner]
	if hl == nil {
		if changed {
			lt.grantWaiting()
		}
		return
	}
	delete(lt.owners, owner)
	if hl.strong {
		lt.strong.Add(-1)
	}
	for _, k := range hl.keys {
		kl := lt.keys[k]
		if kl == nil {
			continue
		}
		for i, h := range kl.holders {
			if h.owner == owner {
				kl.holders = append(kl.holders[:i], kl.holders[i+1:]...)
				break
			}
		}
		if len(kl.holders) == 0 {
			delete(lt.keys, k)
			if len(lt.free) < 1024 {
				lt.free = append(lt.free, kl)
			}
		}
	}
	if hl.ranges > 0 {
		lt.ranges = removeOwner(lt.ranges, owner)
	}
	if len(lt.queue) > 0 {
		lt.grantWaiting()
	}
}

func removeOwner(ranges []rangeLock, owner uint64) []rangeLock {
	out := ranges[:0]
	for _, rl := range ranges {
		if rl.owner != owner {
			out = append(out, rl)
		}
	}
	clear(ranges[len(out):])
	return out
}

// Held returns the number of locks held, key and range locks together,
// counting each holder (for stats and tests).
func (lt *LockTable) Held() int {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	n := len(lt.ranges)
	for _, kl := range lt.keys {
		n += len(kl.holders)
	}
	return n
}

// Waiting returns the number of queued requests (for stats and tests).
func (lt *LockTable) Waiting() int {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return len(lt.queue)
}
