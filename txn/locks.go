package txn

import (
	"context"
	"errors"
	"sync"
)

// LockTable holds the exclusive per-key locks of GetForUpdate.
//
// A lock belongs to one transaction (its owner ID) until the transaction
// ends and calls ReleaseAll. A second transaction asking for a held lock
// waits: it parks on the lock's wake channel, which the holder closes on
// release; all waiters then wake and race for the lock again (a handful of
// waiters per key is the expected case, so a queue would buy nothing).
//
// Deadlocks are found when they form, not by timeout. Each waiting
// transaction waits for exactly one lock, so the wait-for graph is a set of
// chains: waiter -> holder of the key it waits for -> the key that holder
// waits for -> ... Before parking, a transaction follows the chain from
// the holder; if it leads back to itself, waiting would close a cycle and
// Acquire fails at once with ErrDeadlock instead. The cycle check runs
// under the table's mutex, so two transactions cannot both decide to park
// in the same cycle: the second one to check sees the first one's edge.
type LockTable struct {
	mu      sync.Mutex
	locks   map[string]*keyLock // guarded by mu
	waiting map[uint64]string   // owner -> key it waits for; guarded by mu
}

type keyLock struct {
	holder uint64
	wake   chan struct{} // closed when the holder releases; nil when none waits
}

// ErrDeadlock: waiting for the lock would close a cycle of waiters. It is
// also mvcc.ErrDeadlock (the same value).
var ErrDeadlock = errors.New("mvkv: deadlock")

// NewLockTable returns an empty lock table.
func NewLockTable() *LockTable {
	return &LockTable{locks: make(map[string]*keyLock), waiting: make(map[uint64]string)}
}

// Acquire takes the lock on key for owner (an owner ID is never 0),
// waiting while another owner holds it. It returns true when the lock was
// newly taken (false: owner already held it). It fails with ErrDeadlock
// when waiting would close a cycle, with ctx's error when ctx ends first,
// and with ErrClosed-like errors from done when done is closed (the
// database shut down).
func (lt *LockTable) Acquire(ctx context.Context, done <-chan struct{}, owner uint64, key []byte) (bool, error) {
	k := string(key)
	for {
		lt.mu.Lock()
		l, held := lt.locks[k]
		if !held {
			lt.locks[k] = &keyLock{holder: owner}
			lt.mu.Unlock()
			return true, nil
		}
		if l.holder == owner {
			lt.mu.Unlock()
			return false, nil
		}
		if lt.cycle(owner, l.holder) {
			lt.mu.Unlock()
			return false, ErrDeadlock
		}
		if l.wake == nil {
			l.wake = make(chan struct{})
		}
		wake := l.wake
		lt.waiting[owner] = k
		lt.mu.Unlock()

		var err error
		select {
		case <-wake:
		case <-ctx.Done():
			err = ctx.Err()
		case <-done:
			err = errClosedWait
		}
		lt.mu.Lock()
		delete(lt.waiting, owner)
		lt.mu.Unlock()
		if err != nil {
			return false, err
		}
	}
}

var errClosedWait = errors.New("lock wait ended by close")

// IsClosedWait reports whether err is Acquire's error for a closed done
// channel.
func IsClosedWait(err error) bool { return err == errClosedWait }

// cycle reports whether the wait-for chain starting at holder reaches
// owner. Called with mu held.
func (lt *LockTable) cycle(owner, holder uint64) bool {
	for steps := 0; steps <= len(lt.waiting); steps++ {
		if holder == owner {
			return true
		}
		k, waits := lt.waiting[holder]
		if !waits {
			return false
		}
		l, ok := lt.locks[k]
		if !ok {
			return false // the lock is free; that waiter is about to take it
		}
		holder = l.holder
	}
	return false
}

// ReleaseAll releases owner's locks on keys and wakes their waiters.
func (lt *LockTable) ReleaseAll(owner uint64, keys [][]byte) {
	if len(keys) == 0 {
		return
	}
	lt.mu.Lock()
	for _, key := range keys {
		l, ok := lt.locks[string(key)]
		if !ok || l.holder != owner {
			continue
		}
		delete(lt.locks, string(key))
		if l.wake != nil {
			close(l.wake)
		}
	}
	lt.mu.Unlock()
}

// Held returns the number of locks held (for stats and tests).
func (lt *LockTable) Held() int {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return len(lt.locks)
}
