package mvcc

import (
	"fmt"
	"sync"
	"time"
	"unsafe"
)

// Options.MaxSnapshotAge: ending forgotten transactions.
//
// A transaction's snapshot age is the time since it took its snapshot
// (Begin; for read committed, its last statement). When the option is set,
// every transaction is registered here, and a reaper checks them every
// quarter of the limit (at most every second): a transaction past the
// limit that is not inside a call or a Scan loop is ended, with
// ErrSnapshotTooOld kept for its next call, and stops holding the vacuum
// horizon. A call made past the limit ends it too, before it reads
// anything. A transaction busy in a call is left alone: ending its
// snapshot under it would let vacuum take what it is reading; it is ended
// at its next call.
//
// The registry is sharded by the transaction's address, each shard with
// its own mutex and cache line, so beginning and ending transactions on
// many cores takes no process-wide lock even with the option set.
type snapAges struct {
	shards []ageShard // nil: the option is off
	stop   chan struct{}
	done   chan struct{}
}

const ageShards = 64

type ageShard struct {
	mu   sync.Mutex
	txns map[*Txn]struct{} // guarded by mu
	_    [48]byte          // a cache line of its own
}

// shard returns tx's shard: its address, hashed (Fibonacci hashing).
func (a *snapAges) shard(tx *Txn) *ageShard {
	h := uint64(uintptr(unsafe.Pointer(tx))) * 0x9e3779b97f4a7c15
	return &a.shards[h>>(64-6)]
}

func (db *DB) startSnapAges() {
	d := db.opts.MaxSnapshotAge
	if d <= 0 {
		return
	}
	a := &db.ages
	a.shards = make([]ageShard, ageShards)
	for i := range a.shards {
		a.shards[i].txns = make(map[*Txn]struct{})
	}
	a.stop, a.done = make(chan struct{}), make(chan struct{})
	every := min(max(d/4, time.Millisecond), time.Second)
	go func() {
		defer close(a.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-a.stop:
				return
			case <-t.C:
				db.reapOldSnapshots()
			}
		}
	}()
}

func (db *DB) stopSnapAges() {
	if db.ages.stop != nil {
		close(db.ages.stop)
		<-db.ages.done
	}
}

func (a *snapAges) add(tx *Txn) {
	if a.shards == nil {
		return
	}
	sh := a.shard(tx)
	sh.mu.Lock()
	sh.txns[tx] = struct{}{}
	sh.mu.Unlock()
}

func (a *snapAges) remove(tx *Txn) {
	if a.shards == nil {
		return
	}
	sh := a.shard(tx)
	sh.mu.Lock()
	delete(sh.txns, tx)
	sh.mu.Unlock()
}

// reapOldSnapshots ends the idle transactions past the limit.
func (db *DB) reapOldSnapshots() {
	now := time.Now()
	var old []*Txn
	for i := range db.ages.shards {
		sh := &db.ages.shards[i]
		sh.mu.Lock()
		for tx := range sh.txns {
			if tx.snapshotAge(now) > db.opts.MaxSnapshotAge {
				old = append(old, tx)
			}
		}
		sh.mu.Unlock()
	}
	for _, tx := range old {
		if !tx.mu.TryLock() {
			continue // inside a call: its next call ends it
		}
		if tx.scans.Load() == 0 {
			_ = tx.checkAge(now)
		}
		tx.mu.Unlock()
	}
}

// snapshotAge returns how old the transaction's snapshot is at now.
func (tx *Txn) snapshotAge(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, tx.snapAt.Load()))
}

// checkAge ends the transaction with ErrSnapshotTooOld when its snapshot
// is past the limit, and returns that error. Called with tx.mu held.
func (tx *Txn) checkAge(now time.Time) error {
	if tx.done.Load() {
		return nil
	}
	max := tx.db.opts.MaxSnapshotAge
	age := tx.snapshotAge(now)
	if age <= max {
		return nil
	}
	tx.failed = fmt.Errorf("%w: the transaction's snapshot is %v old, the limit (Options.MaxSnapshotAge) is %v", ErrSnapshotTooOld, age.Round(time.Millisecond), max)
	tx.finish()
	return &endedError{cause: tx.failed}
}

// noteSnapshot records that the transaction took a snapshot now.
func (tx *Txn) noteSnapshot() {
	if tx.db.opts.MaxSnapshotAge > 0 {
		tx.snapAt.Store(time.Now().UnixNano())
	}
}
