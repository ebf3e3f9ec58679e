package gc_test

import (
	"context"
	"errors"
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

// memStore records what the collector deletes, batch by batch.
type memStore struct {
	mu      sync.Mutex
	batches [][]index.Removed
	inside  atomic.Int32 // Delete calls in progress
	overlap atomic.Bool  // two Delete calls ever overlapped
	fail    error        // returned by the next Delete, then cleared
	onCall  func(n int)  // called with the batch number, before deleting
}

func (s *memStore) Delete(rm []index.Removed) error {
	if s.inside.Add(1) > 1 {
		s.overlap.Store(true)
	}
	defer s.inside.Add(-1)
	s.mu.Lock()
	n := len(s.batches)
	err := s.fail
	s.fail = nil
	s.mu.Unlock()
	if s.onCall != nil {
		s.onCall(n)
	}
	if err != nil {
		return err
	}
	time.Sleep(50 * time.Microsecond) // widen the window for overlaps
	s.mu.Lock()
	s.batches = append(s.batches, append([]index.Removed(nil), rm...))
	s.mu.Unlock()
	return nil
}

func (s *memStore) removed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, b := range s.batches {
		n += len(b)
	}
	return n
}

// overwrite builds an index of keys keys each written versions times, the
// last write of every third key being a delete. It returns the last ts.
func overwrite(ix *index.Index, keys, versions int) uint64 {
	ts := uint64(0)
	for v := range versions {
		for k := range keys {
			ts++
			tomb := v == versions-1 && k%3 == 0
			ix.Add([]byte(fmt.Sprintf("k%05d", k)), index.Version{TS: ts, Tombstone: tomb, Value: []byte("value")})
		}
	}
	return ts
}

func TestVacuumBatches(t *testing.T) {
	ix := index.New()
	last := overwrite(ix, 900, 6) // 4500 superseded + 300 tombstones
	h := &fixedHorizon{}
	h.ts.Store(last)
	st := &memStore{}
	c := gc.New(ix, h, st, gc.Config{BatchSize: 1000, Pause: -1})

	s, err := c.Vacuum(context.Background())
	require.NoError(t, err)
	assert.Equal(t, last, s.Horizon)
	assert.Equal(t, int64(4800), s.VersionsRemoved)
	assert.Equal(t, int64(300), s.KeysRemoved)
	assert.Equal(t, int64(900), s.KeysExamined)
	assert.Equal(t, int64(5400), s.VersionsExamined)
	assert.Equal(t, int64(4800*(6+5)), s.BytesFreed) // "k00000" + "value"
	assert.Equal(t, s.Batches, int64(len(st.batches)))
	assert.Equal(t, 4800, st.removed())
	assert.Equal(t, int64(600), ix.Versions())
	assert.Equal(t, int64(0), ix.Garbage())

	// Every batch is bounded, and every key's versions are in one batch.
	batchOf := map[string]int{}
	for i, b := range st.batches {
		assert.LessOrEqual(t, len(b), 1000)
		for _, rm := range b {
			if j, ok := batchOf[string(rm.Key)]; ok {
				assert.Equal(t, j, i, "key %s split across batches", rm.Key)
			}
			batchOf[string(rm.Key)] = i
		}
	}

	// Nothing left: a second pass examines nothing.
	s, err = c.Vacuum(context.Background())
	require.NoError(t, err)
	assert.Equal(t, gc.Stats{Horizon: last, LongestBatch: s.LongestBatch, Duration: s.Duration}, s)
	assert.Equal(t, uint64(2), c.Totals().Passes)
	assert.Equal(t, int64(4800), c.Totals().VersionsRemoved)
}

func TestVacuumRespectsHorizon(t *testing.T) {
	ix := index.New()
	for ts := uint64(1); ts <= 10; ts++ {
		ix.Add([]byte("k"), index.Version{TS: ts, Value: []byte{byte(ts)}})
	}
	h := &fixedHorizon{}
	h.ts.Store(4)
	c := gc.New(ix, h, &memStore{}, gc.Config{})
	s, err := c.Vacuum(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(3), s.VersionsRemoved)
	for ts := uint64(4); ts <= 10; ts++ {
		v, ok := ix.Get([]byte("k"), ts)
		require.True(t, ok)
		assert.Equal(t, ts, v.TS)
	}
	_, ok := ix.Get([]byte("k"), 3)
	assert.False(t, ok, "the snapshot at 3 is below the horizon and no longer served")
}

func TestVacuumCancelBetweenBatches(t *testing.T) {
	ix := index.New()
	last := overwrite(ix, 1000, 4) // 3000 superseded + 334 tombstones
	h := &fixedHorizon{}
	h.ts.Store(last)
	ctx, cancel := context.WithCancel(context.Background())
	st := &memStore{onCall: func(n int) {
		if n == 0 {
			cancel()
		}
	}}
	c := gc.New(ix, h, st, gc.Config{BatchSize: 500})
	s, err := c.Vacuum(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, int64(1), s.Batches, "the batch in progress finishes, no other starts")
	assert.Equal(t, s.VersionsRemoved, int64(st.removed()))
	assert.Nil(t, c.Totals().LastErr, "cancellation is not a failure")

	s2, err := c.Vacuum(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(3334), s.VersionsRemoved+s2.VersionsRemoved)
	assert.Equal(t, int64(0), ix.Garbage())

	// A context already done does not start a pass.
	_, err = c.Vacuum(ctx)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestVacuumStoreError(t *testing.T) {
	ix := index.New()
	last := overwrite(ix, 10, 3)
	h := &fixedHorizon{}
	h.ts.Store(last)
	boom := errors.New("disk on fire")
	st := &memStore{fail: boom}
	c := gc.New(ix, h, st, gc.Config{})
	_, err := c.Vacuum(context.Background())
	require.ErrorIs(t, err, boom)
	assert.ErrorIs(t, c.Totals().LastErr, boom)
	assert.Equal(t, uint64(0), c.Totals().Passes)
}

func TestConcurrentVacuumsDoNotOverlap(t *testing.T) {
	ix := index.New()
	last := overwrite(ix, 2000, 3)
	h := &fixedHorizon{}
	h.ts.Store(last)
	st := &memStore{}
	c := gc.New(ix, h, st, gc.Config{BatchSize: 300, Pause: -1})
	var wg sync.WaitGroup
	var total atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := c.Vacuum(context.Background())
			assert.NoError(t, err)
			total.Add(s.VersionsRemoved)
		}()
	}
	wg.Wait()
	assert.False(t, st.overlap.Load(), "two passes deleted at the same time")
	assert.Equal(t, int64(4000+667), total.Load())
	assert.Equal(t, 4667, st.removed())
	assert.Equal(t, uint64(4), c.Totals().Passes)
}

func TestPolicy(t *testing.T) {
	tests := []struct {
		name              string
		p                 gc.Policy
		reclaimable, live int64
		want              bool
	}{
		{"nothing to remove", gc.Policy{Threshold: 0, ScaleFactor: 0}, 0, 0, false},
		{"below threshold", gc.Policy{Threshold: 1000, ScaleFactor: 0.2}, 999, 0, false},
		{"at threshold", gc.Policy{Threshold: 1000, ScaleFactor: 0.2}, 1000, 0, true},
		{"scale factor of live versions", gc.Policy{Threshold: 1000, ScaleFactor: 0.2}, 200_999, 1_000_000, false},
		{"scale factor reached", gc.Policy{Threshold: 1000, ScaleFactor: 0.2}, 201_000, 1_000_000, true},
		{"threshold only", gc.Policy{Threshold: 10}, 10, 1_000_000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.p.Due(tt.reclaimable, tt.live))
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := gc.New(index.New(), &fixedHorizon{}, &memStore{}, gc.Config{Policy: gc.Policy{ScaleFactor: -1}})
	cfg := c.Config()
	assert.Equal(t, gc.DefaultBatchSize, cfg.BatchSize)
	assert.Equal(t, gc.DefaultInterval, cfg.Interval)
	assert.Equal(t, int64(gc.DefaultThreshold), cfg.Policy.Threshold)
	assert.Equal(t, 0.0, cfg.Policy.ScaleFactor, "negative means zero")
}

func TestAuto(t *testing.T) {
	ix := index.New()
	h := &fixedHorizon{}
	st := &memStore{}
	c := gc.New(ix, h, st, gc.Config{Interval: time.Millisecond, Policy: gc.Policy{Threshold: 100, ScaleFactor: 0.9}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Auto(ctx); close(done) }()

	// 100 keys written twice, 34 deleted: 134 dead, 66 live; due at
	// 100 + 0.9*66 = 159.4.
	last := overwrite(ix, 100, 2)
	h.ts.Store(last)
	due, reclaimable, live := c.Due()
	assert.False(t, due)
	assert.Equal(t, int64(134), reclaimable) // 100 superseded + 34 tombstones
	assert.Equal(t, int64(66), live)
	// Not due: a few intervals pass without a pass.
	time.Sleep(20 * time.Millisecond)
	assert.Equal(t, uint64(0), c.Totals().AutoPasses)

	// Hold the horizon back and add garbage: it is not reclaimable yet.
	ts := last
	for k := range 100 {
		ts++
		ix.Add([]byte(fmt.Sprintf("k%05d", k)), index.Version{TS: ts, Value: []byte("v3")})
	}
	due, reclaimable, _ = c.Due()
	assert.False(t, due)
	assert.Equal(t, int64(134), reclaimable)

	// Release it: 200 reclaimable, 100 live, due at 190; autovacuum
	// removes everything.
	h.ts.Store(ts)
	require.Eventually(t, func() bool { return c.Totals().AutoPasses >= 1 }, 10*time.Second, time.Millisecond)
	assert.Equal(t, int64(0), ix.Garbage())
	assert.Equal(t, int64(100), ix.Versions())

	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Auto did not stop when its context ended")
	}
}
