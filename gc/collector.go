package gc

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/mvkv/mvkv/index"
)

// Index is the in-memory version store; *index.Index implements it.
type Index interface {
	// Prune removes up to about limit versions invisible at and above
	// horizon (see index.Index.Prune).
	Prune(horizon uint64, limit int) index.PruneResult
	// Reclaimable estimates what Prune(horizon) would remove, cheaply.
	Reclaimable(horizon uint64) int64
	// Garbage counts the superseded and deleted versions held.
	Garbage() int64
	// Versions counts all versions held.
	Versions() int64
}

// Horizon gives the oldest snapshot an open transaction (or a commit in
// flight) may still read at; *txn.Oracle implements it. It must never
// return more than the newest snapshot whose versions are all in the Index.
type Horizon interface {
	Horizon() uint64
}

// Collector runs vacuum passes over one Index. Passes never
// overlap: a second Vacuum waits for the first to finish.
type Collector struct {
	ix  Index
	h   Horizon
	cfg Config

	run  chan struct{} // a one-slot semaphore: held while a pass runs
	kick chan struct{} // one slot: wakes Auto before its next tick

	mu     sync.Mutex // guards totals
	totals Totals
}

// New returns a Collector; zero fields of cfg take their defaults.
func New(ix Index, h Horizon, cfg Config) *Collector {
	return &Collector{ix: ix, h: h, cfg: cfg.withDefaults(), run: make(chan struct{}, 1), kick: make(chan struct{}, 1)}
}

// Kick asks Auto to check the policy now instead of at its next tick. It
// never blocks: the engine calls it after commits that grew memory.
func (c *Collector) Kick() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Config returns the configuration in effect, defaults filled in.
func (c *Collector) Config() Config { return c.cfg }

// Vacuum runs one pass now: it removes every version invisible at and
// above the current horizon. It stops between batches when ctx ends and
// then returns what it did so far with ctx's error; a batch is never left
// half done. A pass touches memory only: the file holds each key's newest
// version, which no prune removes from it, so there is no storage write
// to fail and nothing a crash mid-pass could leave half done.
func (c *Collector) Vacuum(ctx context.Context) (Stats, error) {
	return c.vacuum(ctx, false)
}

func (c *Collector) vacuum(ctx context.Context, auto bool) (s Stats, err error) {
	select {
	case c.run <- struct{}{}:
	case <-ctx.Done():
		return s, ctx.Err()
	}
	defer func() { <-c.run }()
	start := time.Now()
	defer func() {
		s.Duration = time.Since(start)
		c.record(s, err, auto)
	}()
	if c.cfg.Prepare != nil {
		if err := c.cfg.Prepare(ctx); err != nil {
			return s, fmt.Errorf("gc: preparing the pass: %w", err)
		}
	}
	s.Horizon = c.h.Horizon()
	for {
		if err := ctx.Err(); err != nil {
			return s, err
		}
		t0 := time.Now()
		r := c.ix.Prune(s.Horizon, c.cfg.BatchSize)
		if r.Released > 0 {
			s.Batches++
		}
		s.add(r)
		took := time.Since(t0)
		s.LongestBatch = max(s.LongestBatch, took)
		if !r.More {
			return s, nil
		}
		if err := c.pause(ctx, took); err != nil {
			return s, err
		}
	}
}

// pause lets commits in between two batches.
func (c *Collector) pause(ctx context.Context, batch time.Duration) error {
	d := c.cfg.Pause
	if d == 0 {
		d = min(batch, DefaultMaxPause)
	}
	if d <= 0 {
		runtime.Gosched()
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Collector) record(s Stats, err error, auto bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.totals.VersionsRemoved += s.VersionsRemoved
	if err != nil {
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			c.totals.LastErr = err
		}
		return
	}
	c.totals.Passes++
	if auto {
		c.totals.AutoPasses++
	}
	c.totals.Last = s
}

// Totals returns the cumulative figures.
func (c *Collector) Totals() Totals {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.totals
}

// Due reports whether the policy calls for a pass now, with the figures it
// decided on: versions a pass could remove from memory now (an estimate,
// see index.Index.Reclaimable) and the versions it would keep there.
func (c *Collector) Due() (due bool, reclaimable, kept int64) {
	h := c.h.Horizon
	if c.cfg.DueHorizon != nil {
		h = c.cfg.DueHorizon
	}
	reclaimable = c.ix.Reclaimable(h())
	kept = max(c.ix.Versions()-reclaimable, 0)
	return c.cfg.Policy.Due(reclaimable, kept), reclaimable, kept
}

// Auto is autovacuum: every Config.Interval, and whenever Kick asks, it
// checks the policy and runs a pass when it is due. It returns when ctx ends, after the pass in
// progress stops at its next batch boundary.
func (c *Collector) Auto(ctx context.Context) {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
		}
		if due, _, _ := c.Due(); due {
			_, _ = c.vacuum(ctx, true) // the error is kept in Totals
		}
	}
}
