package gc

import (
	"context"
	"time"
)

// Policy decides when autovacuum starts a pass: when the versions it could
// remove from memory now reach Threshold + ScaleFactor * the versions it
// would keep there (PostgreSQL's autovacuum_vacuum_threshold and
// autovacuum_vacuum_scale_factor, applied to memory, not to the data: the
// file holds the data, and a pass never touches it). The threshold keeps
// passes from running for every few versions; the scale factor makes a
// pass's work proportional to what it gives back when a long snapshot
// keeps many versions in memory.
type Policy struct {
	// Threshold is the fixed part, in versions. Default (zero) 1000;
	// negative means 0.
	Threshold int64
	// ScaleFactor is the part proportional to the versions kept. Default
	// (zero) 0.2; negative means 0.
	ScaleFactor float64
}

// Default policy and pacing.
const (
	DefaultThreshold   = 1000
	DefaultScaleFactor = 0.2
	DefaultBatchSize   = 1000
	DefaultInterval    = time.Second
	// DefaultMaxPause caps the adaptive pause between batches.
	DefaultMaxPause = 10 * time.Millisecond
)

// Due reports whether reclaimable versions justify a pass when kept
// versions stay.
func (p Policy) Due(reclaimable, live int64) bool {
	if reclaimable <= 0 {
		return false
	}
	return float64(reclaimable) >= float64(p.Threshold)+p.ScaleFactor*float64(max(live, 0))
}

// Config tunes a Collector. The zero value is usable: every zero field
// takes its default.
type Config struct {
	// BatchSize is how many versions one batch removes: one index lock
	// hold. Default 1000 (etcd's compaction batch). Larger batches finish a pass sooner but make
	// commits that arrive during a batch wait longer.
	BatchSize int
	// Pause is how long a pass sleeps after each batch. Zero means
	// adaptive: as long as the batch took, capped at DefaultMaxPause, so a
	// pass takes at most about half of the writer's time. Negative means
	// no pause (only a yield).
	Pause time.Duration
	// Policy decides when Auto starts a pass. Zero fields take defaults.
	Policy Policy
	// Prepare, if set, runs at the start of every pass, before the
	// horizon is taken; its error fails the pass. The engine uses it to
	// have the file catch up with memory, so that the pass may let go of
	// what it holds.
	Prepare func(context.Context) error
	// DueHorizon, if set, is the horizon Due estimates the work at,
	// instead of the Horizon a pass uses: for an engine whose Prepare
	// moves the pass's horizon forward.
	DueHorizon func() uint64
	// Interval is how often Auto checks the policy when nothing kicks it.
	// Default 1s. A check costs O(log versions) and one horizon
	// computation.
	Interval time.Duration
}

func (c Config) withDefaults() Config {
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	switch {
	case c.Policy.Threshold == 0:
		c.Policy.Threshold = DefaultThreshold
	case c.Policy.Threshold < 0:
		c.Policy.Threshold = 0
	}
	switch {
	case c.Policy.ScaleFactor == 0:
		c.Policy.ScaleFactor = DefaultScaleFactor
	case c.Policy.ScaleFactor < 0:
		c.Policy.ScaleFactor = 0
	}
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	return c
}
