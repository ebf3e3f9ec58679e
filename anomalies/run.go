package anomalies

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mvkv/mvkv/mvcc"
)

// Options tune Run. The zero value (or nil) is what the tests use.
type Options struct {
	// Grace is how long a step that may wait (Step.MayWait) may take before
	// the timeline shows it as blocked and the script goes on without it.
	// It only has to be longer than such a step takes when it does not
	// wait; where the store's transactions are LockWaiters, the runner
	// asks them past it, and only a step that waits for a lock is shown
	// blocked. It is also how long the runner gives blocked steps to
	// resume when a transaction ends, and an engine to find a deadlock.
	// Default 500ms.
	Grace time.Duration
	// Stuck bounds every other wait of the runner: for a step that cannot
	// wait, for one that a LockWaiter says does not wait, for a blocked
	// step when the script needs its session again, for a cancelled wait
	// at the end. Past it the run fails with ErrStuck.
	// Default 10s.
	Stuck time.Duration
	// Dir is where the temporary database is created. Default os.TempDir().
	Dir string
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Grace <= 0 {
		r.Grace = 500 * time.Millisecond
	}
	if r.Stuck <= 0 {
		r.Stuck = 10 * time.Second
	}
	return r
}

// ErrStuck reports a step that did not finish within Options.Stuck: one
// that cannot wait or does not wait for a lock, or a blocked one that the script needed to go on (or
// whose wait was cancelled at the end). Nothing the script still had to
// run could have released it.
var ErrStuck = errors.New("anomalies: step did not finish")

// Run executes the scenario at level on a fresh temporary mvkv database
// and returns what happened. The error is about the run itself (a bad
// scenario, a database that would not open, a stuck step); what the
// transactions got is in the Outcome.
func Run(sc *Scenario, level mvcc.Level, opts *Options) (*Outcome, error) {
	return RunOn(sc, MVKV(level, opts.withDefaults().Dir), opts)
}

// RunOn is Run on any target: a fresh store of its engine at its level.
func RunOn(sc *Scenario, target Target, opts *Options) (*Outcome, error) {
	if err := sc.validate(); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	store, err := target.Open()
	if err != nil {
		return nil, err
	}
	defer store.Close() //nolint:errcheck // a throwaway database of one run
	if len(sc.Setup) > 0 {
		if err := store.Load(sc.Setup); err != nil {
			return nil, fmt.Errorf("anomalies: setup: %w", err)
		}
	}
	r := &runner{
		store:      store,
		writesWait: target.WritesWait,
		opts:       o,
		sessions:   make(map[string]*sessionRun),
		readOnly:   make(map[string]bool),
		out: &Outcome{
			Level:    target.Like,
			Target:   target.Name(),
			Sessions: sc.sessions(),
			sessions: make(map[string]*Session),
			errs:     make(map[string]error),
			commits:  make(map[string]bool),
			setup:    sc.Setup,
		},
	}
	for _, name := range sc.ReadOnly {
		r.readOnly[name] = true
	}
	runErr := r.run(sc)
	r.stopAll()
	if runErr != nil {
		return nil, runErr
	}
	if r.out.Final, err = store.Dump(); err != nil {
		return nil, err
	}
	r.out.graph = dependencies(r.out)
	return r.out, nil
}

// runner drives one run. Only the driving goroutine uses it.
type runner struct {
	store      Store
	writesWait bool // every step may wait (Target.WritesWait)
	opts       Options
	readOnly   map[string]bool
	sessions   map[string]*sessionRun
	order      []*sessionRun
	out        *Outcome
	wg         sync.WaitGroup
	clock      atomic.Int64 // orders the recorded operations of every session
}

// sessionRun is a session's goroutine and what the driver knows of it.
type sessionRun struct {
	s      *Session
	jobs   chan *job
	cancel context.CancelFunc
	began  bool // the driver has sent it a first step (so its Tx exists or failed)
	// begun is closed by the session's goroutine once Begin returned;
	// waiter is then the store's Tx if it is a LockWaiter, else nil.
	begun  chan struct{}
	waiter LockWaiter

	pending *job     // a step shown blocked that has not finished yet
	queue   []queued // steps the script gave sr while pending was blocked (Target.WritesWait)
	ended   bool     // committed, rolled back or failed: later steps are skipped
}

// queued is a step waiting for its session's blocked step.
type queued struct {
	step int
	st   Step
}

// job is one step handed to a session's goroutine. res and err are
// written by that goroutine before done is closed.
type job struct {
	step int
	// blockedAt is the timeline row (Event.Seq) that showed the step
	// blocked; 0 while it has not been.
	blockedAt int
	st        Step
	op        string
	begin     bool
	done      chan struct{}
	res       string
	err       error
	did       []recordedOp // what the store acknowledged during the step
}

func (r *runner) session(name string) *sessionRun {
	if sr := r.sessions[name]; sr != nil {
		return sr
	}
	ctx, cancel := context.WithCancel(context.Background())
	sr := &sessionRun{s: &Session{Name: name}, jobs: make(chan *job), cancel: cancel, begun: make(chan struct{})}
	r.sessions[name] = sr
	r.order = append(r.order, sr)
	r.out.sessions[name] = sr.s
	r.wg.Add(1)
	go r.loop(ctx, sr)
	return sr
}

// loop is a session's goroutine: it begins the transaction with the first
// step and runs the steps it is given, one at a time.
func (r *runner) loop(ctx context.Context, sr *sessionRun) {
	defer r.wg.Done()
	for j := range sr.jobs {
		if j.begin {
			tx, err := r.store.Begin(ctx, r.readOnly[sr.s.Name])
			if err != nil {
				close(sr.begun)
				j.err = fmt.Errorf("begin: %w", err)
				close(j.done)
				continue
			}
			sr.waiter, _ = tx.(LockWaiter)
			close(sr.begun)
			sr.s.Tx = &recordingTx{Tx: tx, s: sr.s, clock: &r.clock}
		}
		before := len(sr.s.ops)
		j.res, j.err = j.st.Do(sr.s)
		j.did = append([]recordedOp(nil), sr.s.ops[before:]...)
		close(j.done)
	}
}

func (r *runner) run(sc *Scenario) error {
	for i, st := range sc.Steps {
		step := i + 1
		sr := r.session(st.Session)
		if sr.pending != nil && r.writesWait {
			// On an engine whose writes wait for row locks, any step may
			// block, and the application's other sessions go on while
			// this one waits: its later steps queue behind the blocked
			// one and run when it resumes.
			sr.queue = append(sr.queue, queued{step, st})
			continue
		}
		if sr.pending != nil {
			// The script needs this session again while its previous step
			// still waits: the application would be waiting too.
			if !waitDone(sr.pending.done, r.opts.Stuck) {
				return fmt.Errorf("%w: step %d (%s %s) was still waiting when step %d needed %s",
					ErrStuck, sr.pending.step, st.Session, sr.pending.op, step, st.Session)
			}
			r.finish(sr, Resumed)
		}
		if err := r.dispatch(sr, step, st); err != nil {
			return err
		}
	}
	// Queued steps run as the steps they wait behind resume.
	for r.queued() {
		resumed, err := r.resumeWaiters(r.opts.Grace, nil, "")
		if err != nil {
			return err
		}
		if !resumed {
			break
		}
	}
	// After the last step, a step still blocked waits for nothing the
	// script will do: give it the grace period, then cancel its wait.
	if _, err := r.resumeWaiters(r.opts.Grace, nil, ""); err != nil {
		return err
	}
	for _, sr := range r.order {
		if sr.pending == nil {
			continue
		}
		sr.cancel()
		if !waitDone(sr.pending.done, r.opts.Stuck) {
			return fmt.Errorf("%w: step %d (%s %s) ignored the cancellation of its context",
				ErrStuck, sr.pending.step, sr.s.Name, sr.pending.op)
		}
		j := sr.pending
		sr.pending = nil
		sr.ended = true
		r.record(Event{Session: sr.s.Name, Op: "(end of script) cancel the wait of step " + fmt.Sprint(j.blockedAt), Kind: Cleanup, Result: j.res, Err: j.err})
		if j.err != nil && r.out.errs[sr.s.Name] == nil {
			r.out.errs[sr.s.Name] = j.err
		}
		if err := r.drain(sr); err != nil { // skips what was queued behind the cancelled wait
			return err
		}
	}
	for _, sr := range r.order {
		if sr.ended || sr.s.Tx == nil {
			continue
		}
		err := sr.s.Tx.Rollback()
		sr.ended = true
		r.record(Event{Session: sr.s.Name, Op: "(end of script) rollback", Kind: Cleanup, Result: "ok", Err: err})
	}
	return nil
}

// dispatch hands step st to sr's goroutine and waits for it: up to the
// grace period for a step that may wait (then, if it waits for a lock or
// its transaction cannot tell, it is shown blocked and the script goes
// on), up to Options.Stuck for any other.
func (r *runner) dispatch(sr *sessionRun, step int, st Step) error {
	if sr.ended {
		r.record(Event{Step: step, Session: st.Session, Op: st.Op, Kind: Skipped})
		return nil
	}
	j := &job{step: step, st: st, op: st.Op, done: make(chan struct{})}
	if !sr.began {
		sr.began = true
		j.begin = true
		j.op = "begin; " + st.Op
	}
	sr.jobs <- j
	sr.pending = j
	mayWait := st.MayWait || r.writesWait
	limit := r.opts.Stuck
	if mayWait {
		limit = r.opts.Grace
	}
	done := waitDone(j.done, limit)
	if !done && mayWait {
		waits, err := r.waits(sr)
		if err != nil {
			return err
		}
		done = !waits
	}
	switch {
	case done:
		r.finish(sr, Done)
		if sr.ended {
			// A transaction that ended released its locks.
			_, err := r.resumeWaiters(r.opts.Grace, nil, st.Session)
			return err
		}
	case !mayWait:
		return fmt.Errorf("%w: step %d (%s %s) did not finish in %v", ErrStuck, step, st.Session, j.op, limit)
	default:
		r.record(Event{Step: step, Session: st.Session, Op: j.op, Kind: Blocked})
		j.blockedAt = len(r.out.Events)
		// A new wait may close a cycle, and the engine may pick an
		// earlier waiter as the deadlock victim.
		_, err := r.resumeWaiters(r.opts.Grace, sr, "")
		return err
	}
	return nil
}

// reask is how long the runner waits for a step that its LockWaiter says
// does not wait before it asks again.
const reask = 5 * time.Millisecond

// waits decides about sr's pending step, which has run past the grace
// period: true when it waits for a lock, false once it has finished. A
// step whose transaction is no LockWaiter waits, as the grace period
// says. Any other is waited for while its transaction says it does not
// wait, up to Options.Stuck; so is Begin, which waits for no one.
func (r *runner) waits(sr *sessionRun) (bool, error) {
	j := sr.pending
	deadline := time.Now().Add(r.opts.Stuck)
	if !waitDone(sr.begun, r.opts.Stuck) {
		return false, fmt.Errorf("%w: step %d (%s %s) did not begin its transaction in %v",
			ErrStuck, j.step, sr.s.Name, j.op, r.opts.Stuck)
	}
	for {
		if waitDone(j.done, 0) {
			return false, nil
		}
		if sr.waiter == nil {
			return true, nil
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		waits, err := sr.waiter.WaitsForLock(ctx)
		cancel()
		if err != nil {
			return false, fmt.Errorf("anomalies: step %d (%s %s): asking whether it waits for a lock: %w",
				j.step, sr.s.Name, j.op, err)
		}
		if waits {
			return true, nil
		}
		if waitDone(j.done, min(reask, time.Until(deadline))) {
			return false, nil
		}
		if !time.Now().Before(deadline) {
			return false, fmt.Errorf("%w: step %d (%s %s) waited for no lock and did not finish in %v",
				ErrStuck, j.step, sr.s.Name, j.op, r.opts.Stuck)
		}
	}
}

// drain runs the steps queued behind sr's step that has just finished,
// until one blocks.
func (r *runner) drain(sr *sessionRun) error {
	for len(sr.queue) > 0 && sr.pending == nil {
		q := sr.queue[0]
		sr.queue = sr.queue[1:]
		if err := r.dispatch(sr, q.step, q.st); err != nil {
			return err
		}
	}
	return nil
}

// queued reports whether some session has steps queued.
func (r *runner) queued() bool {
	for _, sr := range r.order {
		if len(sr.queue) > 0 {
			return true
		}
	}
	return false
}

// resumeWaiters gives every blocked step (but except's) up to d to finish
// and records, in session order, those that did.
//
// A step waits for a lock, and only the end of the holder's transaction
// or a deadlock (a new wait closing a cycle) ends a wait, so the runner
// looks for resumed steps only after a step that ended its transaction
// (committed, rolled back, failed) or started waiting itself.
//
// A step still running after d has resumed all the same if its
// transaction, a LockWaiter, says it no longer waits: the lock was
// granted, and the step is waited for.
//
// by names the session whose transaction just ended, if one did: the
// steps that resume then were waiting for its locks, and the timeline
// says so. It reports whether some step resumed.
func (r *runner) resumeWaiters(d time.Duration, except *sessionRun, by string) (bool, error) {
	deadline := time.Now().Add(d)
	resumed := false
	for _, sr := range r.order {
		if sr.pending == nil || sr == except {
			continue
		}
		if !waitDone(sr.pending.done, time.Until(deadline)) {
			waits, err := r.waits(sr)
			if err != nil {
				return resumed, err
			}
			if waits {
				continue
			}
		}
		r.finish(sr, Resumed)
		r.out.Events[len(r.out.Events)-1].By = by
		resumed = true
		if err := r.drain(sr); err != nil {
			return resumed, err
		}
	}
	return resumed, nil
}

// record appends e to the timeline, numbering it in execution order.
func (r *runner) record(e Event) {
	e.Seq = len(r.out.Events) + 1
	r.out.Events = append(r.out.Events, e)
}

// finish records the result of sr's pending step, which has completed.
func (r *runner) finish(sr *sessionRun, kind EventKind) {
	j := sr.pending
	sr.pending = nil
	e := Event{Step: j.step, Session: sr.s.Name, Op: j.op, Kind: kind, Result: j.res, Err: j.err, did: j.did}
	if kind == Resumed {
		e.BlockedAt = j.blockedAt
	}
	r.record(e)
	if j.err != nil {
		sr.ended = true
		if r.out.errs[sr.s.Name] == nil {
			r.out.errs[sr.s.Name] = j.err
		}
		return
	}
	if j.st.Ends {
		sr.ended = true
		if j.st.Commits {
			r.out.commits[sr.s.Name] = true
		}
	}
}

// stopAll ends the session goroutines and waits for them.
func (r *runner) stopAll() {
	for _, sr := range r.order {
		if sr.pending != nil {
			sr.cancel()
		}
		close(sr.jobs)
	}
	waited := make(chan struct{})
	go func() { r.wg.Wait(); close(waited) }()
	// A step that ignores the cancellation is abandoned; its session
	// then fails with ErrClosed when the database closes under it.
	if !waitDone(waited, r.opts.Stuck) {
		return
	}
	for _, sr := range r.order {
		sr.cancel()
		if sr.s.Tx != nil {
			_ = sr.s.Tx.Rollback() // no-op (ErrTxnDone) for ended ones
		}
	}
}

// waitDone waits up to d for ch to be closed.
func waitDone(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	default:
	}
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}
