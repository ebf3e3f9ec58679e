package index

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// A reader-writer lock whose readers share no cache line.
//
// Every point read and every scan chunk takes the index's read lock, and
// commits, prunes and spills its write lock. A sync.RWMutex counts its
// readers in one word: on many cores every read then writes that word's
// cache line, which bounces between the cores and caps the reads of the
// whole process, however few writers there are. Here each reader counts
// itself in one of lockSlots counters, each on a cache line of its own,
// chosen by its goroutine's stack address, so readers on different cores
// touch different lines; a writer announces itself in a counter and waits
// for every counter to drain (the "big reader" lock of the Linux kernel,
// and BRAVO's reader-biased locking, Dice and Kogan, 2019). Writes are
// one per commit group, prune step or spill: their cost, a pass over the
// slots, is paid where the lock is rare.
//
// A reader increments its slot and then reads the writer count; a writer
// increments that and then reads the slots. Go's atomics are sequentially
// consistent, so either the reader sees the writer (it backs off and
// takes mu for reading instead, which the writer holds or will), or the
// writer sees the reader's count (it waits for it to leave): never both
// inside. Writers serialize on mu, and readers that met a writer queue on
// it too, so neither side starves and no reader spins.
type rwLock struct {
	writers atomic.Int32 // writers holding or waiting for the lock
	_       [cacheLine - 4]byte
	slots   [lockSlots]lockSlot
	mu      sync.RWMutex
}

const (
	lockSlots = 64
	// cacheLine is two 64-byte lines: adjacent-line prefetchers pair
	// them.
	cacheLine = 128
)

// lockSlot is one reader counter, alone on its cache line.
type lockSlot struct {
	n atomic.Int32
	_ [cacheLine - 4]byte
}

// readSlot picks the calling goroutine's slot from its stack address:
// goroutines' stacks lie apart, so concurrent readers mostly land on
// different slots, and the choice costs no shared access. (A stack can
// move; the slot is returned to the reader for RUnlock, so that is harmless.)
func (l *rwLock) readSlot() *lockSlot {
	var here byte
	h := uint64(uintptr(unsafe.Pointer(&here))>>10) * 0x9e3779b97f4a7c15
	return &l.slots[h>>(64-6)]
}

// RLock locks l for reading and returns the token to give RUnlock: the
// reader's slot, or nil when it met a writer and holds mu for reading
// instead (then it queues behind that writer and ahead of the next one,
// as a sync.RWMutex reader does, so readers are not starved by a stream
// of writers).
func (l *rwLock) RLock() *lockSlot {
	s := l.readSlot()
	s.n.Add(1)
	if l.writers.Load() == 0 {
		return s
	}
	s.n.Add(-1)
	l.mu.RLock()
	return nil
}

// RUnlock undoes the RLock that returned s.
func (l *rwLock) RUnlock(s *lockSlot) {
	if s == nil {
		l.mu.RUnlock()
		return
	}
	s.n.Add(-1)
}

// Lock locks l for writing: it waits for the readers inside to leave.
// It announces itself before it waits for mu, so that readers arriving
// meanwhile wait on mu instead of running on: a reader that mu let go
// must be scheduled to let go of mu in turn, and readers that keep a
// core busy would delay that by whole time slices.
func (l *rwLock) Lock() {
	l.writers.Add(1)
	l.mu.Lock()
	for i := range l.slots {
		for spins := 0; l.slots[i].n.Load() != 0; spins++ {
			switch {
			case spins < 64: // a reader's critical section is short
			case spins < 1024:
				runtime.Gosched()
			default: // a long one (a spill's plan): stop burning a core
				time.Sleep(20 * time.Microsecond)
			}
		}
	}
}

// Unlock undoes Lock.
func (l *rwLock) Unlock() {
	l.writers.Add(-1)
	l.mu.Unlock()
}
