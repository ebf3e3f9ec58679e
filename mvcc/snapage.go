package mvcc

import (
	"fmt"
	"sync"
	"time"
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
type snapAges struct {
	mu   sync.Mutex
	txns map[*Txn]struct{} // guarded by mu
	stop chan struct{}
	done chan struct{}
}

func (db *DB) startSnapAges() {
	d := db.opts.MaxSnapshotAge
	if d <= 0 {
		return
	}
	a := &db.ages
	a.txns = make(map[*Txn]struct{})
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
	if a.txns == nil {
		return
	}
	a.mu.Lock()
	a.txns[tx] = struct{}{}
	a.mu.Unlock()
}

func (a *snapAges) remove(tx *Txn) {
	if a.txns == nil {
		return
	}
	a.mu.Lock()
	delete(a.txns, tx)
	a.mu.Unlock()
}

// reapOldSnapshots ends the idle transactions past the limit.
func (db *DB) reapOldSnapshots() {
	now := time.Now()
	var old []*Txn
	db.ages.mu.Lock()
	for tx := range db.ages.txns {
		if tx.snapshotAge(now) > db.opts.MaxSnapshotAge {
			old = append(old, tx)
		}
	}
	db.ages.mu.Unlock()
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
