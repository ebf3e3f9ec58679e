package gc_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/gc"
	"github.com/mvkv/mvkv/index"
)

// fixedHorizon is a Horizon the test moves by hand.
type fixedHorizon struct{ ts atomic.Uint64 }

func (h *fixedHorizon) Horizon() uint64 { return h.ts.Load() }

func horizonAt(ts uint64) *fixedHorizon {
	h := &fixedHorizon{}
	h.ts.Store(ts)
	return h
}

// probeIndex is the index as the collector sees it, watched: every Prune
// call (a batch) is recorded, overlaps between calls are detected, and
// onPrune runs before the n-th call (from 0).
type probeIndex struct {
	*index.Index
	mu       sync.Mutex
	results  []index.PruneResult
	horizons []uint64
	limits   []int
	inside   atomic.Int32
	overlap  atomic.Bool
	slow     time.Duration // how long each call sleeps after pruning
	onPrune  func(n int)   // before the n-th call
	called   chan struct{} // gets a value after each call, if not full
	released atomic.Int64  // versions released by all calls
	calls    atomic.Int64  // calls finished
}

func newProbe(ix *index.Index) *probeIndex {
	return &probeIndex{Index: ix, called: make(chan struct{}, 1)}
}

func (p *probeIndex) Prune(horizon uint64, limit int) index.PruneResult {
	if p.inside.Add(1) > 1 {
		p.overlap.Store(true)
	}
	defer p.inside.Add(-1)
	p.mu.Lock()
	n := len(p.results)
	p.mu.Unlock()
	if p.onPrune != nil {
		p.onPrune(n)
	}
	r := p.Index.Prune(horizon, limit)
	time.Sleep(p.slow)
	p.mu.Lock()
	p.results = append(p.results, r)
	p.horizons = append(p.horizons, horizon)
	p.limits = append(p.limits, limit)
	p.mu.Unlock()
	p.released.Add(r.Released)
	p.calls.Add(1)
	select {
	case p.called <- struct{}{}:
	default:
	}
	return r
}

func (p *probeIndex) batches() []index.PruneResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]index.PruneResult(nil), p.results...)
}

// overwrite writes keys keys versions times each, in rounds, the last
// write of every third key being a delete, and returns the last ts. Each
// value is "value".
func overwrite(ix *index.Index, keys, versions int) uint64 {
	return overwriteFrom(ix, 0, keys, versions)
}

func overwriteFrom(ix *index.Index, ts uint64, keys, versions int) uint64 {
	for v := range versions {
		for k := range keys {
			ts++
			x := index.Version{TS: ts, Value: []byte("value")}
			if v == versions-1 && k%3 == 0 {
				x = index.Version{TS: ts, Tombstone: true}
			}
			add(ix, fmt.Appendf(nil, "k%05d", k), x)
		}
	}
	return ts
}

func TestVacuumBatches(t *testing.T) {
	ix := index.New()
	last := overwrite(ix, 900, 6) // 5400 versions: 4500 superseded, 300 tombstones
	p := newProbe(ix)
	c := gc.New(p, horizonAt(last), gc.Config{BatchSize: 1000, Pause: -1})

	s, err := c.Vacuum(context.Background())
	require.NoError(t, err)
	assert.Equal(t, last, s.Horizon)
	assert.Equal(t, int64(4800), s.VersionsRemoved)
	assert.Equal(t, int64(5400), s.VersionsReleased, "the live newest versions leave memory too: the file holds them")
	assert.Equal(t, int64(300), s.KeysRemoved)
	assert.Equal(t, int64(900), s.KeysExamined, "every key whole, in one batch")
	assert.Equal(t, int64(5400), s.VersionsExamined)
	assert.Equal(t, int64(5100*len("value")), s.BytesFreed)
	assert.Equal(t, 0, ix.Len())
	assert.Equal(t, int64(0), ix.Versions())
	assert.Equal(t, int64(0), ix.Garbage())

	// Every batch is bounded, all at the pass's horizon and batch size;
	// Batches counts those that released something.
	var sum index.PruneResult
	batches := int64(0)
	for i, r := range p.batches() {
		assert.LessOrEqual(t, r.Released, int64(1000))
		assert.Equal(t, last, p.horizons[i])
		assert.Equal(t, 1000, p.limits[i])
		if r.Released > 0 {
			batches++
		}
		sum.VersionsRemoved += r.VersionsRemoved
		sum.Released += r.Released
	}
	assert.Equal(t, batches, s.Batches)
	assert.GreaterOrEqual(t, s.Batches, int64(6), "5400 versions in batches of at most 1000")
	assert.Equal(t, []int64{s.VersionsRemoved, s.VersionsReleased}, []int64{sum.VersionsRemoved, sum.Released})
	assert.Greater(t, s.LongestBatch, time.Duration(0))
	assert.GreaterOrEqual(t, s.Duration, s.LongestBatch)

	// Nothing left: a second pass examines nothing.
	s, err = c.Vacuum(context.Background())
	require.NoError(t, err)
	assert.Equal(t, gc.Stats{Horizon: last, LongestBatch: s.LongestBatch, Duration: s.Duration}, s)
	tot := c.Totals()
	assert.Equal(t, uint64(2), tot.Passes)
	assert.Equal(t, uint64(0), tot.AutoPasses)
	assert.Equal(t, int64(4800), tot.VersionsRemoved)
	assert.Equal(t, s, tot.Last)
	assert.NoError(t, tot.LastErr)
	require.NoError(t, ix.Check())
}

func TestVacuumRespectsHorizon(t *testing.T) {
	ix := index.New()
	for ts := uint64(1); ts <= 10; ts++ {
		add(ix, []byte("k"), index.Version{TS: ts, Value: []byte{byte(ts)}})
	}
	h := horizonAt(4)
	c := gc.New(ix, h, gc.Config{})
	s, err := c.Vacuum(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(3), s.VersionsRemoved)
	assert.Equal(t, int64(3), s.VersionsReleased)
	assert.Equal(t, int64(1), s.Batches)
	for ts := uint64(4); ts <= 10; ts++ {
		v, visible, held := ix.Find([]byte("k"), ts)
		require.True(t, held && visible)
		assert.Equal(t, ts, v.TS)
	}
	_, visible, _ := ix.Find([]byte("k"), 3)
	assert.False(t, visible, "the snapshot at 3 is below the horizon and no longer served")

	// At the newest version the key leaves memory: the file holds it.
	h.ts.Store(10)
	s, err = c.Vacuum(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(6), s.VersionsRemoved)
	assert.Equal(t, int64(7), s.VersionsReleased)
	assert.Equal(t, int64(0), s.KeysRemoved, "a live key is not removed, only let go")
	_, _, held := ix.Find([]byte("k"), 10)
	assert.False(t, held)
	assert.Equal(t, int64(9), c.Totals().VersionsRemoved)
}

func TestVacuumCancelBetweenBatches(t *testing.T) {
	ix := index.New()
	last := overwrite(ix, 1000, 4) // 4000 versions: 3000 superseded + 334 tombstones
	ctx, cancel := context.WithCancel(context.Background())
	p := newProbe(ix)
	p.onPrune = func(n int) {
		if n == 0 {
			cancel()
		}
	}
	c := gc.New(p, horizonAt(last), gc.Config{BatchSize: 500})
	s, err := c.Vacuum(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, p.batches(), 1, "the batch in progress finishes, no other starts")
	assert.Equal(t, int64(1), s.Batches)
	assert.Equal(t, p.batches()[0].VersionsRemoved, s.VersionsRemoved)
	assert.Equal(t, int64(500), s.VersionsReleased)
	tot := c.Totals()
	assert.NoError(t, tot.LastErr, "cancellation is not a failure")
	assert.Equal(t, uint64(0), tot.Passes, "nor a finished pass")
	assert.Equal(t, s.VersionsRemoved, tot.VersionsRemoved, "what it did counts")

	s2, err := c.Vacuum(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(3334), s.VersionsRemoved+s2.VersionsRemoved)
	assert.Equal(t, int64(4000), s.VersionsReleased+s2.VersionsReleased)
	assert.Equal(t, int64(0), ix.Versions())
	assert.Equal(t, int64(3334), c.Totals().VersionsRemoved)

	// A context already done does not start a pass.
	calls := len(p.batches())
	_, err = c.Vacuum(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Len(t, p.batches(), calls)
	assert.Equal(t, uint64(1), c.Totals().Passes)
}

func TestVacuumPauses(t *testing.T) {
	ix := index.New()
	last := overwrite(ix, 100, 2) // 200 versions, released 20 a batch
	p := newProbe(ix)
	const pause = 5 * time.Millisecond
	c := gc.New(p, horizonAt(last), gc.Config{BatchSize: 20, Pause: pause})
	s, err := c.Vacuum(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(200), s.VersionsReleased)
	calls := len(p.batches())
	require.GreaterOrEqual(t, calls, 10)
	assert.GreaterOrEqual(t, s.Duration, time.Duration(calls-1)*pause, "a pause after every batch but the last")

	// A pause is where a cancellation lands: the context's end during a
	// long pause ends the pass at once, and it is no failure either. It
	// ends once the first batch is done (the probe says so), however
	// slowly the pass got there.
	ix2 := index.New()
	last = overwrite(ix2, 100, 2)
	p2 := newProbe(ix2)
	c = gc.New(p2, horizonAt(last), gc.Config{BatchSize: 20, Pause: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		s   gc.Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := c.Vacuum(ctx)
		done <- result{s, err}
	}()
	<-p2.called // the first batch is done: the pass pauses for an hour
	cancel()
	r := <-done
	require.ErrorIs(t, r.err, context.Canceled)
	assert.Equal(t, int64(1), r.s.Batches)
	assert.NoError(t, c.Totals().LastErr)
}

func TestConcurrentVacuumsDoNotOverlap(t *testing.T) {
	ix := index.New()
	last := overwrite(ix, 2000, 3) // 6000 versions: 4000 superseded + 667 tombstones
	p := newProbe(ix)
	p.slow = 50 * time.Microsecond // widen the window for overlaps
	c := gc.New(p, horizonAt(last), gc.Config{BatchSize: 300, Pause: -1})
	var wg sync.WaitGroup
	var removed, released atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := c.Vacuum(context.Background())
			assert.NoError(t, err)
			removed.Add(s.VersionsRemoved)
			released.Add(s.VersionsReleased)
		}()
	}
	wg.Wait()
	assert.False(t, p.overlap.Load(), "two passes pruned at the same time")
	assert.Equal(t, int64(4000+667), removed.Load())
	assert.Equal(t, int64(6000), released.Load())
	assert.Equal(t, uint64(4), c.Totals().Passes)
	assert.Equal(t, int64(4667), c.Totals().VersionsRemoved)
}

func TestPolicy(t *testing.T) {
	tests := []struct {
		name              string
		p                 gc.Policy
		reclaimable, kept int64
		want              bool
	}{
		{"nothing to remove", gc.Policy{Threshold: 0, ScaleFactor: 0}, 0, 0, false},
		{"anything, with no threshold", gc.Policy{}, 1, 1_000_000, true},
		{"below threshold", gc.Policy{Threshold: 1000, ScaleFactor: 0.2}, 999, 0, false},
		{"at threshold", gc.Policy{Threshold: 1000, ScaleFactor: 0.2}, 1000, 0, true},
		{"scale factor of kept versions", gc.Policy{Threshold: 1000, ScaleFactor: 0.2}, 200_999, 1_000_000, false},
		{"scale factor reached", gc.Policy{Threshold: 1000, ScaleFactor: 0.2}, 201_000, 1_000_000, true},
		{"threshold only", gc.Policy{Threshold: 10}, 10, 1_000_000, true},
		{"negative kept counts as none", gc.Policy{Threshold: 10, ScaleFactor: 1}, 10, -50, true},
		{"negative reclaimable", gc.Policy{}, -1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.p.Due(tt.reclaimable, tt.kept))
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := gc.New(index.New(), &fixedHorizon{}, gc.Config{Policy: gc.Policy{ScaleFactor: -1}})
	cfg := c.Config()
	assert.Equal(t, gc.DefaultBatchSize, cfg.BatchSize)
	assert.Equal(t, gc.DefaultInterval, cfg.Interval)
	assert.Equal(t, time.Duration(0), cfg.Pause, "zero pause is adaptive, kept as zero")
	assert.Equal(t, int64(gc.DefaultThreshold), cfg.Policy.Threshold)
	assert.Equal(t, 0.0, cfg.Policy.ScaleFactor, "negative means zero")

	cfg = gc.New(index.New(), &fixedHorizon{}, gc.Config{Policy: gc.Policy{Threshold: -1}}).Config()
	assert.Equal(t, int64(0), cfg.Policy.Threshold, "negative means zero")
	assert.Equal(t, gc.DefaultScaleFactor, cfg.Policy.ScaleFactor)
}

func TestDue(t *testing.T) {
	ix := index.New()
	h := &fixedHorizon{}
	c := gc.New(ix, h, gc.Config{Policy: gc.Policy{Threshold: 100, ScaleFactor: 0.9}})
	due, reclaimable, kept := c.Due()
	assert.Equal(t, []any{false, int64(0), int64(0)}, []any{due, reclaimable, kept})

	last := overwrite(ix, 100, 2) // 200 versions at ts 1..200
	// Horizon 100: the first round could go (the estimate counts the
	// versions recorded up to the horizon), the second stays.
	h.ts.Store(100)
	due, reclaimable, kept = c.Due()
	assert.Equal(t, []any{false, int64(100), int64(100)}, []any{due, reclaimable, kept}, "100 < 100 + 0.9*100")
	// Horizon at the end: everything could leave memory.
	h.ts.Store(last)
	due, reclaimable, kept = c.Due()
	assert.Equal(t, []any{true, int64(200), int64(0)}, []any{due, reclaimable, kept})

	_, err := c.Vacuum(context.Background())
	require.NoError(t, err)
	due, reclaimable, kept = c.Due()
	assert.Equal(t, []any{false, int64(0), int64(0)}, []any{due, reclaimable, kept})
}

// runAuto starts c.Auto and returns a function that stops it and fails
// the test if it does not return.
func runAuto(t *testing.T, c *gc.Collector) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Auto(ctx); close(done) }()
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Auto did not stop when its context ended")
		}
	}
}

func TestAuto(t *testing.T) {
	ix := index.New()
	h := &fixedHorizon{}
	c := gc.New(ix, h, gc.Config{Interval: time.Millisecond, Policy: gc.Policy{Threshold: 100, ScaleFactor: 0.9}})
	stop := runAuto(t, c)
	defer stop()

	// Not due (see TestDue): a few intervals pass without a pass.
	last := overwrite(ix, 100, 2)
	h.ts.Store(100)
	time.Sleep(20 * time.Millisecond)
	assert.Equal(t, uint64(0), c.Totals().AutoPasses)
	assert.Equal(t, int64(200), ix.Versions())

	// Release the horizon: due, and autovacuum empties memory.
	h.ts.Store(last)
	require.Eventually(t, func() bool { return c.Totals().AutoPasses >= 1 }, 10*time.Second, time.Millisecond)
	assert.Equal(t, int64(0), ix.Versions())
	assert.Equal(t, int64(0), ix.Garbage())
	assert.Equal(t, c.Totals().Passes, c.Totals().AutoPasses)
	assert.Equal(t, last, c.Totals().Last.Horizon)
}

func TestAutoKick(t *testing.T) {
	ix := index.New()
	p := newProbe(ix)
	h := &fixedHorizon{}
	c := gc.New(p, h, gc.Config{Interval: time.Hour, Policy: gc.Policy{Threshold: 10, ScaleFactor: -1}})
	// Kick never blocks, with nobody listening.
	for range 100 {
		c.Kick()
	}
	stop := runAuto(t, c)
	defer stop()

	// The pending kick: nothing due, no pass.
	time.Sleep(10 * time.Millisecond)
	assert.Equal(t, int64(0), p.calls.Load())

	// Due now, but no tick for an hour: only a kick starts the pass.
	last := overwrite(ix, 50, 1)
	h.ts.Store(last)
	time.Sleep(10 * time.Millisecond)
	assert.Equal(t, uint64(0), c.Totals().AutoPasses)
	c.Kick()
	require.Eventually(t, func() bool { return c.Totals().AutoPasses == 1 }, 10*time.Second, time.Millisecond)
	assert.Equal(t, int64(50), p.released.Load())

	// Below the threshold a kick does nothing.
	h.ts.Store(overwriteFrom(ix, last, 5, 1))
	c.Kick()
	time.Sleep(10 * time.Millisecond)
	assert.Equal(t, uint64(1), c.Totals().AutoPasses)
	assert.Equal(t, int64(5), ix.Versions())
}

func TestAutoStopsBetweenBatches(t *testing.T) {
	ix := index.New()
	p := newProbe(ix)
	last := overwrite(ix, 100, 2)
	c := gc.New(p, horizonAt(last), gc.Config{Interval: time.Millisecond, BatchSize: 10, Pause: time.Hour,
		Policy: gc.Policy{Threshold: 1}})
	stop := runAuto(t, c)
	<-p.called // the first batch is done; the pass now pauses for an hour
	stop()     // returns at once: the pause ends with the context
	assert.Equal(t, int64(1), p.calls.Load())
	tot := c.Totals()
	assert.Equal(t, uint64(0), tot.AutoPasses, "an interrupted pass is not a finished one")
	assert.NoError(t, tot.LastErr)
	assert.Equal(t, int64(10), p.released.Load())
}

// A pass that fails (here: the index panics, a broken invariant) is an
// error, not a crash, also on autovacuum's goroutine; the last failure and
// its time stay in Totals, and Config.OnError hears of each. A pass stopped
// by its context has not failed.
func TestFailedPassIsReported(t *testing.T) {
	ix := index.New()
	p := newProbe(ix)
	p.onPrune = func(int) { panic("broken invariant") }
	h := &fixedHorizon{}
	type failure struct {
		err  error
		auto bool
	}
	failures := make(chan failure, 10)
	c := gc.New(p, h, gc.Config{Interval: time.Millisecond, Policy: gc.Policy{Threshold: 1, ScaleFactor: -1},
		OnError: func(err error, auto bool) {
			select {
			case failures <- failure{err, auto}:
			default:
			}
		}})
	h.ts.Store(overwrite(ix, 10, 2))

	before := time.Now()
	_, err := c.Vacuum(context.Background())
	require.ErrorContains(t, err, "broken invariant")
	f := <-failures
	assert.Equal(t, err, f.err)
	assert.False(t, f.auto)
	tot := c.Totals()
	assert.Equal(t, err, tot.LastErr)
	assert.False(t, tot.LastErrTime.Before(before))
	assert.Zero(t, tot.Passes)

	stop := runAuto(t, c)
	f = <-failures
	stop()
	assert.True(t, f.auto)
	assert.ErrorContains(t, f.err, "broken invariant")

	// Stopped by its context: no failure.
	p.onPrune = nil
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	last := c.Totals().LastErrTime
	_, err = c.Vacuum(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, last, c.Totals().LastErrTime)
}

// add installs v as a new version of key (with no before-image: the
// versions of these tests live in memory only).
func add(ix *index.Index, key []byte, v index.Version) {
	ix.Write(func(w index.Writer) { _ = w.Install(key, nil, v) })
}
