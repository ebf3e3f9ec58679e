package workload

import "sync"

// VersionsObserver is implemented by workloads that read the versions an
// engine holds (engine.Versioner) at a moment of their choosing: the long
// reader, while its snapshot holds versions a write replaced. The runner
// takes the peak of its own samples, every 10ms, and of theirs, so that a
// peak the workload makes certain is never missed between two samples.
type VersionsObserver interface {
	VersionsPeak() int64
}

// Stopper is implemented by workers that must know when their goroutine
// stops issuing operations: the runner calls Stop once, after the last.
type Stopper interface {
	Stop()
}

// lockstep is the barrier of Config.Lockstep: the transactions of every
// goroutine of a run wait at it, after their reads and before their
// writes, until all the goroutines still running are there; then all go
// on. So every transaction's reads precede every other's writes, and
// concurrent transactions overlap for certain, whatever the machine's
// load. A goroutine that stops leaves it (Stopper), so that the others do
// not wait for it.
type lockstep struct {
	mu      sync.Mutex
	parties int           // goroutines still running
	arrived int           // of the current round
	release chan struct{} // closed when the current round is complete
}

func newLockstep() *lockstep { return &lockstep{release: make(chan struct{})} }

// join adds a goroutine.
func (b *lockstep) join() {
	b.mu.Lock()
	b.parties++
	b.mu.Unlock()
}

// wait blocks until every goroutine still running has arrived.
func (b *lockstep) wait() {
	b.mu.Lock()
	b.arrived++
	if b.arrived >= b.parties {
		b.next()
		b.mu.Unlock()
		return
	}
	ch := b.release
	b.mu.Unlock()
	<-ch
}

// leave removes a goroutine, completing the round if it was the last one
// awaited.
func (b *lockstep) leave() {
	b.mu.Lock()
	b.parties--
	if b.arrived > 0 && b.arrived >= b.parties {
		b.next()
	}
	b.mu.Unlock()
}

// next releases the current round and opens the next. Called with mu held.
func (b *lockstep) next() {
	close(b.release)
	b.release = make(chan struct{})
	b.arrived = 0
}

// pause is what a transaction of the contention workloads does between
// its reads and its writes: the lockstep barrier, or Config.Think.
type pause struct {
	cfg  Config
	step *lockstep // nil without Config.Lockstep
}

func newPause(cfg Config) pause {
	p := pause{cfg: cfg}
	if cfg.Lockstep {
		p.step = newLockstep()
	}
	return p
}

// join is called by NewWorker; the worker's Stop calls leave.
func (p pause) join() {
	if p.step != nil {
		p.step.join()
	}
}

func (p pause) leave() {
	if p.step != nil {
		p.step.leave()
	}
}

func (p pause) between() {
	if p.step != nil {
		p.step.wait()
	}
	think(p.cfg.Think)
}
