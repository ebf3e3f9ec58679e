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

// Store is durable storage. Delete removes the given versions in one
// atomic write: after a crash either all of them are gone or none is.
type Store interface {
	Delete(removed []index.Removed) error
}

// Collector runs vacuum passes over one Index and Store. Passes never
// overlap: a second Vacuum waits for the first to finish.
type Collector struct {
	ix  Index
	h   Horizon
	st  Store
	cfg Config

	run chan struct{} // a one-slot semaphore: held while a pass runs

	mu     sync.Mutex // guards totals
	totals Totals
}

// New returns a Collector; zero fields of cfg take their defaults.
func New(ix Index, h Horizon, st Store, cfg Config) *Collector {
	return &Collector{ix: ix, h: h, st: st, cfg: cfg.withDefaults(), run: make(chan struct{}, 1)}
}

// Config returns the configuration in effect, defaults filled in.
func (c *Collector) Config() Config { return c.cfg }

// Vacuum runs one pass now: it removes every version invisible at and
// above the current horizon. It stops between batches when ctx ends and
// then returns what it did so far with ctx's error; a batch is never left
// half done. If Store.Delete fails, the pass stops: the batch is gone from
// the Index but stays in storage, where it is harmless (older versions a
// restart reloads as garbage) until a later pass after a restart.
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
	s.Horizon = c.h.Horizon()
	for {
		if err := ctx.Err(); err != nil {
			return s, err
		}
		t0 := time.Now()
		r := c.ix.Prune(s.Horizon, c.cfg.BatchSize)
		if len(r.Removed) > 0 {
			if err := c.st.Delete(r.Removed); err != nil {
				return s, fmt.Errorf("gc: deleting %d versions: %w", len(r.Removed), err)
			}
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
// decided on: versions a pass could remove now (an estimate, see
// index.Index.Reclaimable) and live versions (held minus garbage).
func (c *Collector) Due() (due bool, reclaimable, live int64) {
	reclaimable = c.ix.Reclaimable(c.h.Horizon())
	live = c.ix.Versions() - c.ix.Garbage()
	return c.cfg.Policy.Due(reclaimable, live), reclaimable, live
}

// Auto is autovacuum: every Config.Interval it checks the policy and runs a
// pass when it is due. It returns when ctx ends, after the pass in
// progress stops at its next batch boundary.
func (c *Collector) Auto(ctx context.Context) {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if due, _, _ := c.Due(); due {
			_, _ = c.vacuum(ctx, true) // the error is kept in Totals
		}
	}
}
